"""Time: now in UTC, and the local time of forms (the site's zone) to and from stored UTC."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import current_app


def city_zone() -> ZoneInfo:
    """Return the site's time zone (BABEL_DEFAULT_TIMEZONE): local days and form times."""
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def utcnow() -> dt.datetime:
    """Return the current time in UTC, timezone-aware; the one clock of the application."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """Return a time as aware UTC; a naive value is taken to be UTC already."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def local_to_utc(moment: dt.datetime) -> dt.datetime:
    """Return a naive local time from a datetime-local input as UTC."""
    return moment.replace(tzinfo=city_zone()).astimezone(dt.UTC)


def local_input_value(moment: dt.datetime) -> dt.datetime:
    """Return a stored UTC time as naive local time for a datetime-local input."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(city_zone()).replace(tzinfo=None)
