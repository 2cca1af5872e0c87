"""Staff changes to events: create, change, publish, cancel, the summary afterwards."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from kldialog.auth.models import User
from kldialog.events.mailing import load_recipients, mail_registration, send_event_mail
from kldialog.events.models import (
    Event,
    EventRegistration,
    EventState,
    RegistrationStatus,
)
from kldialog.events.registrations import fill_free_places, lock_event
from kldialog.events.rules import MAX_CAPACITY, MAX_ID, TEXT_LIMITS
from kldialog.kernel.audit import audit
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation, at_most_characters
from kldialog.kernel.time import as_utc, utcnow
from kldialog.projects.models import Project


@dataclass
class EventFields:
    """What staff enter for an event; times in UTC."""

    title: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    description: str = ""
    language: str = "de"
    place: str = ""
    step_free: bool = False
    hearing_loop: bool = False
    sign_language: bool = False
    accessibility_note: str = ""
    online_url: str = ""
    capacity: int | None = None
    project_ids: list[int] = field(default_factory=list)


def _limited(name: str, value: str) -> str:
    if len(value) > TEXT_LIMITS[name]:
        raise RuleViolation(at_most_characters(TEXT_LIMITS[name]), field=name)
    return value


def clean_online_url(text: str) -> str:
    """Return the trimmed link, or refuse anything but a plain https:// web address."""
    url = (text or "").strip()
    if not url:
        return ""
    _limited("online_url", url)
    parts = urlsplit(url)
    if (
        parts.scheme != "https"
        or not parts.hostname
        or any(char.isspace() or ord(char) < 32 for char in url)
        or parts.username is not None
    ):
        raise RuleViolation(
            _l("Please enter a web address that starts with https://."), field="online_url"
        )
    return url


def _checked(fields: EventFields, event: Event | None) -> EventFields:
    """Validate and normalise the fields; RuleViolation names the field at fault."""
    title = " ".join((fields.title or "").split())
    if not title:
        raise RuleViolation(_l("Please give the event a title."), field="title")
    starts_at, ends_at = as_utc(fields.starts_at), as_utc(fields.ends_at)
    if ends_at <= starts_at:
        raise RuleViolation(_l("The event must end after it starts."), field="ends_at")
    moved = event is None or event.starts_at != starts_at
    if moved and starts_at <= utcnow():
        raise RuleViolation(_l("The start must be in the future."), field="starts_at")
    if fields.language not in current_app.config["LANGUAGES"]:
        raise RuleViolation(_l("Please choose the language of the event."), field="language")
    place = _limited("place", " ".join((fields.place or "").split()))
    online_url = clean_online_url(fields.online_url)
    if not place and not online_url:
        raise RuleViolation(_l("Please give a place, an online link, or both."), field="place")
    capacity = fields.capacity
    if capacity is not None and not 1 <= capacity <= MAX_CAPACITY:
        raise RuleViolation(
            _l("Please enter a number of places from 1 to 100,000."), field="capacity"
        )
    return EventFields(
        title=_limited("title", title),
        starts_at=starts_at,
        ends_at=ends_at,
        description=_limited("description", (fields.description or "").strip()),
        language=fields.language,
        place=place,
        step_free=bool(fields.step_free),
        hearing_loop=bool(fields.hearing_loop),
        sign_language=bool(fields.sign_language),
        accessibility_note=_limited(
            "accessibility_note", (fields.accessibility_note or "").strip()
        ),
        online_url=online_url,
        capacity=capacity,
        project_ids=sorted(set(fields.project_ids or [])),
    )


def _projects(ids: list[int]) -> list[Project]:
    ids = [pid for pid in ids if 0 < pid <= MAX_ID]
    if not ids:
        return []
    return list(db.session.scalars(sa.select(Project).where(Project.id.in_(ids))))


CONTENT_FIELDS = (
    "title",
    "description",
    "starts_at",
    "ends_at",
    "language",
    "place",
    "step_free",
    "hearing_loop",
    "sign_language",
    "accessibility_note",
    "online_url",
    "capacity",
)


def create_event(actor: User, fields: EventFields) -> Event:
    """Create a draft event."""
    values = _checked(fields, None)
    event = Event(**{name: getattr(values, name) for name in CONTENT_FIELDS})
    event.projects = _projects(values.project_ids)
    db.session.add(event)
    db.session.flush()
    audit(actor, "event.create", "event", event.id, title=event.title)
    db.session.commit()
    return event


def update_event(actor: User, event: Event, fields: EventFields) -> list[str]:
    """Change an event; return the names of the changed fields (empty: nothing to save).

    A larger capacity moves waiting people up (they get a mail); a capacity below the places
    already taken is refused. Calendars see the change through a higher SEQUENCE.
    """
    if event.state == EventState.cancelled:
        raise RuleViolation(_l("A cancelled event cannot be changed."))
    values = _checked(fields, event)
    lock_event(event.id)
    db.session.refresh(event)  # the counts as they are now, under the lock
    if values.capacity is not None and values.capacity < event.registered_count:
        count = event.registered_count
        db.session.rollback()
        raise RuleViolation(
            _l(
                "%(num)d people already have a place, so there cannot be fewer places.",
                num=count,
            ),
            field="capacity",
        )
    changed = [
        name
        for name in CONTENT_FIELDS
        if _comparable(getattr(event, name)) != _comparable(getattr(values, name))
    ]
    old_projects = sorted(project.id for project in event.projects)
    projects = _projects(values.project_ids)
    if sorted(project.id for project in projects) != old_projects:
        changed.append("projects")
    if not changed:
        db.session.rollback()
        return []
    for name in CONTENT_FIELDS:
        setattr(event, name, getattr(values, name))
    event.projects = projects
    event.sequence += 1
    event.updated_at = utcnow()
    promoted = fill_free_places(event) if event.takes_registrations() else []
    audit(actor, "event.update", "event", event.id, changed=changed, moved_up=len(promoted))
    db.session.commit()
    for registration_id in promoted:
        mail_registration(registration_id, "event_moved_up")
    return changed


def _comparable(value: Any) -> Any:
    return as_utc(value) if isinstance(value, dt.datetime) else value


def publish_event(actor: User, event: Event) -> None:
    """Publish a draft: it appears in the list, the feed and on its projects' pages."""
    if event.state != EventState.draft:
        raise RuleViolation(_l("This event is already published."))
    if event.has_started():
        raise RuleViolation(_l("An event that has already begun cannot be published."))
    now = utcnow()
    event.state = EventState.published
    event.published_at = now
    event.updated_at = now
    audit(actor, "event.publish", "event", event.id)
    db.session.commit()


def cancel_event(actor: User, event: Event, reason: str) -> int:
    """Cancel a published event, mail everyone registered or waiting; return how many were told.

    The registrations are deleted at once: the mail is the last thing they are needed for.
    """
    reason = _limited("reason", (reason or "").strip())
    if event.state != EventState.published:
        raise RuleViolation(_l("Only a published event can be cancelled."))
    if event.has_ended():
        raise RuleViolation(_l("This event is over and cannot be cancelled any more."))
    lock_event(event.id)
    recipients = load_recipients(
        EventRegistration.event_id == event.id,
        EventRegistration.status != RegistrationStatus.pending,
    )
    now = utcnow()
    event.state = EventState.cancelled
    event.cancelled_at = now
    event.cancel_reason = reason
    event.sequence += 1
    event.updated_at = now
    event.registered_count = 0
    event.waiting_count = 0
    db.session.execute(sa.delete(EventRegistration).where(EventRegistration.event_id == event.id))
    audit(actor, "event.cancel", "event", event.id, reason, told=len(recipients))
    db.session.commit()
    told = 0
    for recipient in recipients:
        told += send_event_mail(
            recipient,
            _l("Cancelled: %(title)s", title=event.title),
            "event_cancelled",
            event,
            reason=reason,
        )
    return told


def publish_summary(actor: User, event: Event, summary: str) -> None:
    """Publish (or correct) the short summary after the event; it joins the projects' updates."""
    summary = _limited("summary", (summary or "").strip())
    if not summary:
        raise RuleViolation(_l("Please write the summary."), field="summary")
    if event.state != EventState.published:
        raise RuleViolation(_l("Only a published event that took place can get a summary."))
    if not event.has_ended():
        raise RuleViolation(_l("The summary can be published once the event is over."))
    first = event.summary_published_at is None
    event.summary = summary
    if first:
        event.summary_published_at = utcnow()
    audit(actor, "event.summary", "event", event.id, first=first, length=len(summary))
    db.session.commit()
