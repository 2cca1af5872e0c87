"""iCalendar (RFC 5545) files of events, with a VTIMEZONE for the city's zone."""

from __future__ import annotations

import datetime as dt

import icalendar
from flask import current_app, url_for
from flask_babel import lazy_gettext as _l

from kldialog.events.models import (
    Event,
    EventState,
)
from kldialog.kernel.time import as_utc, city_zone


def _ical_description(event: Event) -> str:
    """Return the event's text for calendars: description, access, online link, page."""
    lines = [event.description] if event.description else []
    access = [
        str(label)
        for flag, label in (
            (event.step_free, _l("Step-free access")),
            (event.hearing_loop, _l("Hearing loop")),
            (event.sign_language, _l("Sign language interpreting on request")),
        )
        if flag
    ]
    if event.accessibility_note:
        access.append(event.accessibility_note)
    if access:
        lines.append(str(_l("Accessibility: %(notes)s", notes="; ".join(access))))
    if event.online_url:
        lines.append(str(_l("Online: %(url)s", url=event.online_url)))
    if event.state == EventState.cancelled:
        lines.insert(0, str(_l("This event has been cancelled.")))
    lines.append(url_for("events.show", event_id=event.id, _external=True))
    return "\n\n".join(lines)


def calendar_ics(events: list[Event], *, name: str) -> bytes:
    """Return an iCalendar file of these events, with a VTIMEZONE for the city's zone.

    Times are written in the city's zone (TZID) so calendars show them right across daylight
    saving; the VTIMEZONE covers the events' years only. DTSTAMP and LAST-MODIFIED are the last
    content change, SEQUENCE counts the changes, so calendars replace what they imported.
    """
    zone = city_zone()
    cal = icalendar.Calendar()
    cal.add("prodid", f"-//{current_app.config['SITE_NAME']}//Events//DE")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    cal.add("name", name)
    cal.add("x-wr-timezone", zone.key)
    for event in events:
        item = icalendar.Event()
        item.add("uid", str(event.uid))
        item.add("dtstamp", as_utc(event.updated_at))
        item.add("created", as_utc(event.created_at))
        item.add("last-modified", as_utc(event.updated_at))
        item.add("sequence", event.sequence)
        item.add("summary", event.title)
        item.add("dtstart", event.starts_at.astimezone(zone))
        item.add("dtend", as_utc(event.ends_at).astimezone(zone))
        item.add("status", "CANCELLED" if event.state == EventState.cancelled else "CONFIRMED")
        item.add("location", event.place or event.online_url)
        item.add("url", url_for("events.show", event_id=event.id, _external=True))
        item.add("description", _ical_description(event))
        cal.add_component(item)
    if events:
        first = min(event.starts_at for event in events).date()
        last = max(as_utc(event.ends_at) for event in events).date()
        cal.add_missing_timezones(
            first_date=first - dt.timedelta(days=366), last_date=last + dt.timedelta(days=366)
        )
    data: bytes = cal.to_ical()
    return data
