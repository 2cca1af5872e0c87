"""Times entered in forms are local (the site's time zone); the database stores UTC."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import current_app


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def as_utc(value: dt.datetime) -> dt.datetime:
    """Return a stored time as aware UTC (SQLite hands back naive values, which are UTC)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def local_to_utc(moment: dt.datetime) -> dt.datetime:
    """Return a naive local time from a datetime-local input as UTC."""
    return moment.replace(tzinfo=_zone()).astimezone(dt.UTC)


def local_input_value(moment: dt.datetime) -> dt.datetime:
    """Return a stored UTC time as naive local time for a datetime-local input."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(_zone()).replace(tzinfo=None)
