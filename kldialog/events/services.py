"""Event use cases: staff editing, registration with a waiting list, mail, iCalendar, retention.

Every change to an event's registrations first takes the event's row lock (`_lock_event`), then
reads the counts fresh, so parallel registrations queue instead of overbooking; a CHECK on the
event row (`capacity_holds`) refuses more places than the capacity even if a bug slipped by.
Registrations carry an account id, or for visitors only an e-mail address and a language, and
are deleted the day after the event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
import sqlalchemy as sa
from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from itsdangerous import BadData, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError

from kldialog.auth.models import User
from kldialog.auth.services import is_valid_email, normalise_email
from kldialog.events.models import (
    Event,
    EventRegistration,
    EventState,
    RegistrationStatus,
    event_project,
)
from kldialog.kernel.audit import audit
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation, at_most_characters
from kldialog.kernel.mail import send_mail
from kldialog.kernel.pagination import Page, paginate
from kldialog.kernel.time import as_utc, utcnow
from kldialog.projects.models import Project

log = logging.getLogger(__name__)

MAX_ID = 2**31 - 1  # larger ids do not exist (and overflow SQLite's integer)
TEXT_LIMITS = {
    "title": 200,
    "description": 5000,
    "place": 300,
    "accessibility_note": 500,
    "online_url": 500,
    "reason": 1000,
    "summary": 3000,
}
MAX_CAPACITY = 100_000
NOT_TAKING = _l("This event does not take registrations.")
STARTED = _l("Registration has closed: the event has already begun.")
ALREADY = _l("You are already registered for this event.")
LINK_INVALID = _l("This link is not valid. Please check that it is complete.")


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def _now() -> dt.datetime:
    return utcnow()


# --- reading --------------------------------------------------------------------------------------


def get_event(event_id: int) -> Event | None:
    """Return the event with this id (None for ids that cannot exist)."""
    if not 0 < event_id <= MAX_ID:
        return None
    return db.session.get(Event, event_id)


def get_event_with_projects(event_id: int) -> Event | None:
    """Return the event with its related projects loaded (two queries)."""
    if not 0 < event_id <= MAX_ID:
        return None
    return db.session.scalar(
        sa.select(Event).where(Event.id == event_id).options(sa.orm.selectinload(Event.projects))
    )


_PUBLIC = (EventState.published, EventState.cancelled)


def find_events(*, past: bool, page: int, per_page: int) -> Page[Event]:
    """Return a page of public events: upcoming (and running) soonest first, or past ones."""
    now = _now()
    conditions = [Event.state.in_(_PUBLIC), Event.ends_at <= now if past else Event.ends_at > now]
    order = (Event.starts_at.desc(), Event.id.desc()) if past else (Event.starts_at, Event.id)
    return _event_page(conditions, order, page, per_page)


def staff_events(page: int, per_page: int = 50) -> Page[Event]:
    """Return one page of every event for staff, latest start first."""
    return _event_page([], (Event.starts_at.desc(), Event.id.desc()), page, per_page)


def _event_page(
    conditions: list[Any], order: tuple[Any, ...], page: int, per_page: int
) -> Page[Event]:
    """Count and load one page of events; clamp the page to the last one (two queries)."""
    return paginate(
        sa.select(Event).where(*conditions).order_by(*order),
        count=sa.select(sa.func.count(Event.id)).where(*conditions),
        page=page,
        per_page=per_page,
    )


def public_events_for_feed() -> list[Event]:
    """Return every published or cancelled event for the iCalendar feed (one query)."""
    return list(
        db.session.scalars(
            sa.select(Event).where(Event.state.in_(_PUBLIC)).order_by(Event.starts_at, Event.id)
        )
    )


def registration_of(user: Any, event: Event) -> EventRegistration | None:
    """Return the logged-in person's registration for an event, if any."""
    if not getattr(user, "is_authenticated", False):
        return None
    return db.session.scalar(
        sa.select(EventRegistration).where(
            EventRegistration.event_id == event.id, EventRegistration.user_id == user.id
        )
    )


def my_registration_states(user: Any, event_ids: list[int]) -> dict[int, RegistrationStatus]:
    """Return {event id: status} of the person's registrations among these events (one query)."""
    if not getattr(user, "is_authenticated", False) or not event_ids:
        return {}
    rows = db.session.execute(
        sa.select(EventRegistration.event_id, EventRegistration.status).where(
            EventRegistration.user_id == user.id, EventRegistration.event_id.in_(event_ids)
        )
    ).all()
    return dict(rows)


def waiting_position(registration: EventRegistration) -> int:
    """Return the place of a waiting registration in the queue, counting from 1."""
    mine = EventRegistration.joined_at
    ahead = db.session.scalar(
        sa.select(sa.func.count(EventRegistration.id)).where(
            EventRegistration.event_id == registration.event_id,
            EventRegistration.status == RegistrationStatus.waiting,
            sa.or_(
                mine < registration.joined_at,
                sa.and_(mine == registration.joined_at, EventRegistration.id < registration.id),
            ),
        )
    )
    return int(ahead or 0) + 1


@dataclass(frozen=True)
class EventSummary:
    """An event's summary as an entry among a project's updates."""

    published_on: dt.date  # the day of the event: what happened when
    title: str
    body: str
    event_id: int
    author: str = ""


def project_event_context(project: Any) -> dict[str, Any]:
    """Return what a project page shows of events: coming ones and summaries (one query)."""
    now = _now()
    events = db.session.scalars(
        sa.select(Event)
        .join(event_project, event_project.c.event_id == Event.id)
        .where(
            event_project.c.project_id == project.id,
            Event.state.in_(_PUBLIC),
            sa.or_(Event.ends_at > now, Event.summary_published_at.is_not(None)),
        )
        .order_by(Event.starts_at, Event.id)
        .limit(50)
    ).all()
    zone = _zone()
    return {
        "project_events": [event for event in events if not event.has_ended(now)],
        "event_summaries": [
            EventSummary(
                published_on=event.starts_at.astimezone(zone).date(),
                title=event.title,
                body=event.summary,
                event_id=event.id,
            )
            for event in reversed(events)
            if event.summary_published_at is not None and event.state == EventState.published
        ],
    }


def project_choices() -> list[tuple[int, str]]:
    """Return (id, title) of every project, for the related-projects checkboxes."""
    return [
        (row.id, row.title)
        for row in db.session.execute(sa.select(Project.id, Project.title).order_by(Project.title))
    ]


# --- staff: create, change, publish, cancel, summary ----------------------------------------------


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
    if moved and starts_at <= _now():
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
    _lock_event(event.id)
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
    event.updated_at = _now()
    promoted = _fill_free_places(event) if event.takes_registrations() else []
    audit(actor, "event.update", "event", event.id, changed=changed, moved_up=len(promoted))
    db.session.commit()
    for registration_id in promoted:
        _mail_registration(registration_id, "event_moved_up")
    return changed


def _comparable(value: Any) -> Any:
    return as_utc(value) if isinstance(value, dt.datetime) else value


def publish_event(actor: User, event: Event) -> None:
    """Publish a draft: it appears in the list, the feed and on its projects' pages."""
    if event.state != EventState.draft:
        raise RuleViolation(_l("This event is already published."))
    if event.has_started():
        raise RuleViolation(_l("An event that has already begun cannot be published."))
    now = _now()
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
    _lock_event(event.id)
    recipients = _recipients(
        EventRegistration.event_id == event.id,
        EventRegistration.status != RegistrationStatus.pending,
    )
    now = _now()
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
        told += _send(
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
        event.summary_published_at = _now()
    audit(actor, "event.summary", "event", event.id, first=first, length=len(summary))
    db.session.commit()


# --- registration ---------------------------------------------------------------------------------


def _lock_event(event_id: int) -> None:
    """Serialise every change to one event's registrations until the commit.

    A no-op UPDATE of the event row: on PostgreSQL it takes the row lock (like SELECT ... FOR
    UPDATE); on SQLite, whose driver begins a transaction only at the first write, it takes the
    database write lock at once, so the reads that follow cannot go stale either.
    """
    db.session.execute(
        sa.update(Event)
        .where(Event.id == event_id)
        .values(registered_count=Event.registered_count)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class _Counts:
    state: EventState
    starts_at: dt.datetime
    capacity: int | None
    registered: int


def _counts(event_id: int) -> _Counts:
    """Read the event's state and counts from the database (call under the lock)."""
    row = db.session.execute(
        sa.select(Event.state, Event.starts_at, Event.capacity, Event.registered_count).where(
            Event.id == event_id
        )
    ).one()
    return _Counts(row.state, as_utc(row.starts_at), row.capacity, row.registered_count)


def _refuse(message: Any, field: str | None = None) -> RuleViolation:
    """Roll back (releasing the lock) and return the refusal to raise."""
    db.session.rollback()
    return RuleViolation(message, field=field)


def _take_place(event_id: int, counts: _Counts) -> RegistrationStatus:
    """Count one more person in (a place, or the waiting list when full); call under the lock."""
    if counts.capacity is None or counts.registered < counts.capacity:
        column, status = Event.registered_count, RegistrationStatus.registered
    else:
        column, status = Event.waiting_count, RegistrationStatus.waiting
    db.session.execute(
        sa.update(Event)
        .where(Event.id == event_id)
        .values({column: column + 1})
        .execution_options(synchronize_session=False)
    )
    return status


def _check_open(counts: _Counts) -> None:
    if counts.state != EventState.published:
        raise _refuse(NOT_TAKING)
    if counts.starts_at <= _now():
        raise _refuse(STARTED)


def register_resident(user: User, event: Event) -> EventRegistration:
    """Register a logged-in resident with one click: a place, or the waiting list when full."""
    event_id = event.id
    _lock_event(event_id)
    counts = _counts(event_id)
    _check_open(counts)
    if db.session.scalar(
        sa.select(EventRegistration.id).where(
            EventRegistration.event_id == event_id, EventRegistration.user_id == user.id
        )
    ):
        raise _refuse(ALREADY)
    status = _take_place(event_id, counts)
    registration = EventRegistration(
        event_id=event_id,
        user_id=user.id,
        language=user.language,
        status=status,
        joined_at=_now(),
    )
    db.session.add(registration)
    try:
        db.session.commit()
    except IntegrityError as error:  # a second click that raced the first
        db.session.rollback()
        raise RuleViolation(ALREADY) from error
    _mail_registration(registration.id, "event_registered")
    return registration


def request_email_registration(event: Event, email: str, language: str) -> None:
    """Mail a confirmation link to a visitor's address; the page says the same in every case.

    Nothing counts until the link is used (a mistyped or someone else's address gets a mail and
    nothing more). An address that is already registered gets its cancellation link instead.
    """
    address = normalise_email(email or "")
    if not is_valid_email(address):
        raise RuleViolation(
            _l("Please enter an e-mail address like name@example.org."), field="email"
        )
    if not event.takes_registrations():
        raise RuleViolation(STARTED if event.has_started() else NOT_TAKING)
    registration = _by_email(event.id, address)
    if registration is None:
        registration = EventRegistration(
            event_id=event.id,
            email=address,
            language=language,
            status=RegistrationStatus.pending,
        )
        db.session.add(registration)
        try:
            db.session.commit()
        except IntegrityError:  # the same address sent twice at once: use the first
            db.session.rollback()
            registration = _by_email(event.id, address)
            if registration is None:
                raise
    if registration.status == RegistrationStatus.pending:
        _mail_confirmation(registration)
    else:
        _mail_registration(registration.id, "event_already_registered")


def _by_email(event_id: int, address: str) -> EventRegistration | None:
    return db.session.scalar(
        sa.select(EventRegistration).where(
            EventRegistration.event_id == event_id, EventRegistration.email == address
        )
    )


def confirm_email_registration(token: str) -> tuple[EventRegistration, bool]:
    """Confirm a visitor's registration from the mailed link; return it and whether it is new."""
    registration = _registration_for(
        "confirm", token, current_app.config["EVENT_CONFIRM_HOURS"] * 3600
    )
    if registration.status != RegistrationStatus.pending:
        return registration, False  # the button was pressed before: nothing more to do
    event_id, registration_id = registration.event_id, registration.id
    _lock_event(event_id)
    counts = _counts(event_id)
    _check_open(counts)
    status = _take_place(event_id, counts)
    confirmed = db.session.execute(
        sa.update(EventRegistration)
        .where(
            EventRegistration.id == registration_id,
            EventRegistration.status == RegistrationStatus.pending,
        )
        .values(status=status, joined_at=_now())
        .execution_options(synchronize_session=False)
    )
    if confirmed.rowcount != 1:  # confirmed, cancelled or purged in the meantime
        db.session.rollback()
        registration = _registration_for(
            "confirm", token, current_app.config["EVENT_CONFIRM_HOURS"] * 3600
        )
        return registration, False
    db.session.commit()
    db.session.expire(registration)
    _mail_registration(registration_id, "event_registered")
    return registration, True


def cancel_registration(registration: EventRegistration) -> None:
    """Give up a place or a waiting-list place; the first person waiting moves up and is told."""
    promoted = _withdraw(registration.id, registration.event_id)
    db.session.commit()
    for registration_id in promoted:
        _mail_registration(registration_id, "event_moved_up")


def cancel_by_token(token: str) -> Event:
    """Cancel the registration a mailed link stands for (no login: the signed link is the key)."""
    registration = registration_for_cancel_token(token)
    event = registration.event
    cancel_registration(registration)
    return event


def _withdraw(registration_id: int, event_id: int) -> list[int]:
    """Delete a registration and fill the freed place; return who moved up (no commit)."""
    _lock_event(event_id)
    status = db.session.scalar(
        sa.select(EventRegistration.status).where(EventRegistration.id == registration_id)
    )
    if status is None:
        return []  # already gone
    db.session.execute(
        sa.delete(EventRegistration)
        .where(EventRegistration.id == registration_id)
        .execution_options(synchronize_session=False)
    )
    column = {
        RegistrationStatus.registered: Event.registered_count,
        RegistrationStatus.waiting: Event.waiting_count,
    }.get(status)
    if column is not None:
        db.session.execute(
            sa.update(Event)
            .where(Event.id == event_id)
            .values({column: column - 1})
            .execution_options(synchronize_session=False)
        )
    event = db.session.get(Event, event_id)
    if event is None or status != RegistrationStatus.registered:
        return []
    db.session.refresh(event)
    return _fill_free_places(event) if event.takes_registrations() else []


def _fill_free_places(event: Event) -> list[int]:
    """Move the first people waiting into free places; return their ids (under the lock)."""
    free = None if event.capacity is None else event.capacity - event.registered_count
    if free is not None and free <= 0:
        return []
    query = (
        sa.select(EventRegistration.id)
        .where(
            EventRegistration.event_id == event.id,
            EventRegistration.status == RegistrationStatus.waiting,
        )
        .order_by(EventRegistration.joined_at, EventRegistration.id)
    )
    if free is not None:
        query = query.limit(free)
    moving = list(db.session.scalars(query))
    if not moving:
        return []
    db.session.execute(
        sa.update(EventRegistration)
        .where(EventRegistration.id.in_(moving))
        .values(status=RegistrationStatus.registered)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        sa.update(Event)
        .where(Event.id == event.id)
        .values(
            registered_count=Event.registered_count + len(moving),
            waiting_count=Event.waiting_count - len(moving),
        )
        .execution_options(synchronize_session=False)
    )
    db.session.expire(event)
    return moving


# --- signed links ---------------------------------------------------------------------------------


def _fingerprint(*values: Any) -> str:
    """Digest what a link may act on; a link for a deleted or re-created row stops working."""
    parts = []
    for value in values:
        if isinstance(value, dt.datetime):  # PostgreSQL returns aware, SQLite naive UTC values
            value = as_utc(value).replace(tzinfo=None).isoformat()
        parts.append(str(value))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _serializer(purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"kldialog-event-{purpose}")


def _timed_serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt=f"kldialog-event-{purpose}"
    )


def confirm_token(registration: EventRegistration) -> str:
    """Sign the confirmation link of a visitor's pending registration (expires)."""
    return _timed_serializer("confirm").dumps(
        [registration.id, _fingerprint(registration.event_id, registration.created_at)]
    )


def cancel_token(registration: EventRegistration) -> str:
    """Sign the cancellation link: it never expires, and works until the registration is gone."""
    return _serializer("cancel").dumps(
        [registration.id, _fingerprint(registration.event_id, registration.joined_at)]
    )


def _registration_for(purpose: str, token: str, max_age: int | None) -> EventRegistration:
    """Return the registration a signed link names; RuleViolation if wrong, old or used up."""
    if len(token) > 300:
        raise RuleViolation(LINK_INVALID)
    try:
        if purpose == "confirm":
            data = _timed_serializer(purpose).loads(token, max_age=max_age)
        else:
            data = _serializer(purpose).loads(token)
    except SignatureExpired as error:
        raise RuleViolation(
            _l("This link has expired. Please register again on the event page.")
        ) from error
    except BadData as error:
        raise RuleViolation(LINK_INVALID) from error
    if not (
        isinstance(data, list)
        and len(data) == 2
        and type(data[0]) is int
        and 0 < data[0] <= MAX_ID
        and isinstance(data[1], str)
    ):
        raise RuleViolation(LINK_INVALID)
    registration = db.session.get(EventRegistration, data[0])
    moment = None
    if registration is not None:
        moment = registration.created_at if purpose == "confirm" else registration.joined_at
    if registration is None or not hmac.compare_digest(
        data[1], _fingerprint(registration.event_id, moment)
    ):
        raise RuleViolation(
            _l(
                "This link no longer works: the registration was cancelled or has been deleted "
                "after the event."
            )
        )
    return registration


def registration_for_cancel_token(token: str) -> EventRegistration:
    """Return the registration a cancellation link stands for."""
    return _registration_for("cancel", token, None)


def registration_for_confirm_token(token: str) -> EventRegistration:
    """Return the pending (or already confirmed) registration of a confirmation link."""
    return _registration_for("confirm", token, current_app.config["EVENT_CONFIRM_HOURS"] * 3600)


# --- mail -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Recipient:
    registration_id: int
    email: str
    language: str
    name: str | None
    status: RegistrationStatus
    cancel_url: str | None


def _recipients(*conditions: Any) -> list[_Recipient]:
    """Load everyone a mail goes to with what it needs (one query); accounts and visitors."""
    rows = db.session.execute(
        sa.select(
            EventRegistration.id,
            EventRegistration.event_id,
            EventRegistration.email,
            EventRegistration.language,
            EventRegistration.status,
            EventRegistration.joined_at,
            User.email.label("account_email"),
            User.display_name,
            User.language.label("account_language"),
        )
        .outerjoin(User, User.id == EventRegistration.user_id)
        .where(*conditions)
        .order_by(EventRegistration.id)
    ).all()
    result = []
    for row in rows:
        address = row.email or row.account_email
        if not address:
            continue  # a deleted account: nobody to tell
        cancel_url = None
        if row.joined_at is not None:
            token = _serializer("cancel").dumps([row.id, _fingerprint(row.event_id, row.joined_at)])
            cancel_url = url_for("events.cancel_link", token=token, _external=True)
        result.append(
            _Recipient(
                registration_id=row.id,
                email=address,
                language=row.account_language or row.language or "de",
                name=row.display_name,
                status=row.status,
                cancel_url=cancel_url,
            )
        )
    return result


def _send(recipient: _Recipient, subject: Any, template: str, event: Event, **context: Any) -> int:
    """Send one event mail in the recipient's language; log and go on if it fails (1 or 0)."""
    try:
        send_mail(
            recipient.email,
            subject,
            template,
            language=recipient.language,
            name=recipient.name,
            event=event,
            status=recipient.status.value,
            event_url=url_for("events.show", event_id=event.id, _external=True),
            ics_url=url_for("events.event_ics", event_id=event.id, _external=True),
            cancel_url=recipient.cancel_url,
            **context,
        )
    except Exception:
        log.exception("Could not send %s for registration %s", template, recipient.registration_id)
        return 0
    return 1


def _mail_registration(registration_id: int, template: str) -> int:
    """Mail one registration (registered, moved up, reminder, already registered)."""
    recipients = _recipients(EventRegistration.id == registration_id)
    if not recipients:
        return 0
    event = db.session.scalar(
        sa.select(Event)
        .join(EventRegistration, EventRegistration.event_id == Event.id)
        .where(EventRegistration.id == registration_id)
    )
    if event is None:
        return 0
    position = None
    if recipients[0].status == RegistrationStatus.waiting:
        position = waiting_position(db.session.get(EventRegistration, registration_id))
    return _send(recipients[0], _subject(template, event.title), template, event, position=position)


def _subject(template: str, title: str) -> Any:
    """Return the lazy subject of an event mail with the event's title."""
    return {
        "event_registered": _l("Your registration: %(title)s", title=title),
        "event_already_registered": _l("You are already registered: %(title)s", title=title),
        "event_moved_up": _l("You have a place: %(title)s", title=title),
        "event_reminder": _l("Reminder: %(title)s", title=title),
    }[template]


def _mail_confirmation(registration: EventRegistration) -> None:
    """Mail a visitor the link that confirms their registration."""
    event = registration.event
    try:
        send_mail(
            registration.email or "",
            _l("Please confirm your registration: %(title)s", title=event.title),
            "event_confirm",
            language=registration.language,
            event=event,
            url=url_for("events.confirm", token=confirm_token(registration), _external=True),
            event_url=url_for("events.show", event_id=event.id, _external=True),
            hours=current_app.config["EVENT_CONFIRM_HOURS"],
        )
    except Exception as error:
        log.exception("Could not send the confirmation for registration %s", registration.id)
        raise RuleViolation(_l("We could not send the e-mail. Please try again later.")) from error


# --- cron: reminders and retention ----------------------------------------------------------------


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=_zone()).astimezone(dt.UTC)


def _reminder_candidates(now: dt.datetime) -> list[int]:
    """Return the registrations with a place at an event today or tomorrow, not yet reminded."""
    horizon = _local_midnight(now.astimezone(_zone()).date() + dt.timedelta(days=2))
    return list(
        db.session.scalars(
            sa.select(EventRegistration.id)
            .join(Event, Event.id == EventRegistration.event_id)
            .where(
                Event.state == EventState.published,
                Event.starts_at > now,
                Event.starts_at < horizon,
                EventRegistration.status == RegistrationStatus.registered,
                EventRegistration.reminded_at.is_(None),
            )
            .order_by(EventRegistration.id)
        )
    )


def send_reminders(now: dt.datetime | None = None) -> int:
    """Remind everyone with a place of an event today or tomorrow, once; return mails sent.

    Each registration is claimed (reminded_at set) and committed before its mail goes out, so
    two runs at once, or a rerun, never send a reminder twice; a failed mail is un-claimed.
    """
    now = now or _now()
    candidates = _reminder_candidates(now)
    db.session.rollback()
    sent = 0
    for registration_id in candidates:
        claimed = db.session.execute(
            sa.update(EventRegistration)
            .where(
                EventRegistration.id == registration_id,
                EventRegistration.reminded_at.is_(None),
            )
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        if claimed.rowcount != 1:
            continue
        if _mail_registration(registration_id, "event_reminder"):
            sent += 1
        else:
            db.session.execute(
                sa.update(EventRegistration)
                .where(EventRegistration.id == registration_id)
                .values(reminded_at=None)
                .execution_options(synchronize_session=False)
            )
            db.session.commit()
    return sent


def purge_registrations(now: dt.datetime | None = None) -> int:
    """Delete the registrations of events that ended before today, and unconfirmed ones.

    "The day after the event": an event that ended on a local day is cleared from the next
    local midnight on. Visitors' registrations never confirmed go after EVENT_CONFIRM_HOURS.
    """
    now = now or _now()
    today = _local_midnight(now.astimezone(_zone()).date())
    ended = sa.select(Event.id).where(Event.ends_at < today)
    stale = now - dt.timedelta(hours=current_app.config["EVENT_CONFIRM_HOURS"])
    result = db.session.execute(
        sa.delete(EventRegistration)
        .where(
            sa.or_(
                EventRegistration.event_id.in_(ended),
                sa.and_(
                    EventRegistration.status == RegistrationStatus.pending,
                    EventRegistration.created_at < stale,
                ),
            )
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return int(result.rowcount or 0)


# --- personal data --------------------------------------------------------------------------------


def events_export(user: User) -> list[dict[str, Any]]:
    """Return the person's event registrations for the data export."""
    rows = db.session.execute(
        sa.select(
            Event.id,
            Event.title,
            Event.starts_at,
            EventRegistration.status,
            EventRegistration.joined_at,
            EventRegistration.reminded_at,
        )  # fmt: skip
        .join(Event, Event.id == EventRegistration.event_id)
        .where(EventRegistration.user_id == user.id)
        .order_by(Event.starts_at, Event.id)
    ).all()
    return [
        {
            "event_id": row.id,
            "title": row.title,
            "starts_at": as_utc(row.starts_at).isoformat(),
            "registration": row.status.value,
            "registered_at": as_utc(row.joined_at).isoformat() if row.joined_at else None,
            "reminded_at": as_utc(row.reminded_at).isoformat() if row.reminded_at else None,
        }
        for row in rows
    ]


def erase_event_registrations(user: User) -> None:
    """Withdraw the person's registrations (no commit); freed places go to people waiting.

    The people who move up are mailed before the caller commits the deletion; a failure of
    that commit is the rare case where they would hear of a place they do not have.
    """
    rows = db.session.execute(
        sa.select(EventRegistration.id, EventRegistration.event_id)
        .where(EventRegistration.user_id == user.id)
        .order_by(EventRegistration.event_id)  # one lock order: no deadlock between deletions
    ).all()
    promoted: list[int] = []
    for registration_id, event_id in rows:
        promoted.extend(_withdraw(registration_id, event_id))
    db.session.flush()
    for registration_id in promoted:
        _mail_registration(registration_id, "event_moved_up")


# --- iCalendar (RFC 5545) -------------------------------------------------------------------------


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
    zone = _zone()
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
    return cal.to_ical()
