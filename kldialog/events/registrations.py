"""Registration with a waiting list: register, confirm, cancel; a person's data.

Every change to an event's registrations first takes the event's row lock (`lock_event`), then
reads the counts fresh, so parallel registrations queue instead of overbooking; a CHECK on the
event row (`capacity_holds`) refuses more places than the capacity even if a bug slipped by.
Registrations carry an account id, or for visitors only an e-mail address and a language, and
are deleted the day after the event (`events.cron`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from kldialog.auth.models import User
from kldialog.auth.services import is_valid_email, normalise_email
from kldialog.events.links import registration_for, registration_for_cancel_token
from kldialog.events.mailing import mail_confirmation, mail_registration
from kldialog.events.models import (
    Event,
    EventRegistration,
    EventState,
    RegistrationStatus,
)
from kldialog.events.rules import ALREADY, NOT_TAKING, STARTED
from kldialog.kernel.db import affected_rows, db
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.time import as_utc, utcnow


def lock_event(event_id: int) -> None:
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
    if counts.starts_at <= utcnow():
        raise _refuse(STARTED)


def register_resident(user: User, event: Event) -> EventRegistration:
    """Register a logged-in resident with one click: a place, or the waiting list when full."""
    event_id = event.id
    lock_event(event_id)
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
        joined_at=utcnow(),
    )
    db.session.add(registration)
    try:
        db.session.commit()
    except IntegrityError as error:  # a second click that raced the first
        db.session.rollback()
        raise RuleViolation(ALREADY) from error
    mail_registration(registration.id, "event_registered")
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
        mail_confirmation(registration)
    else:
        mail_registration(registration.id, "event_already_registered")


def _by_email(event_id: int, address: str) -> EventRegistration | None:
    return db.session.scalar(
        sa.select(EventRegistration).where(
            EventRegistration.event_id == event_id, EventRegistration.email == address
        )
    )


def confirm_email_registration(token: str) -> tuple[EventRegistration, bool]:
    """Confirm a visitor's registration from the mailed link; return it and whether it is new."""
    registration = registration_for(
        "confirm", token, current_app.config["EVENT_CONFIRM_HOURS"] * 3600
    )
    if registration.status != RegistrationStatus.pending:
        return registration, False  # the button was pressed before: nothing more to do
    event_id, registration_id = registration.event_id, registration.id
    lock_event(event_id)
    counts = _counts(event_id)
    _check_open(counts)
    status = _take_place(event_id, counts)
    confirmed = db.session.execute(
        sa.update(EventRegistration)
        .where(
            EventRegistration.id == registration_id,
            EventRegistration.status == RegistrationStatus.pending,
        )
        .values(status=status, joined_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if affected_rows(confirmed) != 1:  # confirmed, cancelled or purged in the meantime
        db.session.rollback()
        registration = registration_for(
            "confirm", token, current_app.config["EVENT_CONFIRM_HOURS"] * 3600
        )
        return registration, False
    db.session.commit()
    db.session.expire(registration)
    mail_registration(registration_id, "event_registered")
    return registration, True


def cancel_registration(registration: EventRegistration) -> None:
    """Give up a place or a waiting-list place; the first person waiting moves up and is told."""
    promoted = _withdraw(registration.id, registration.event_id)
    db.session.commit()
    for registration_id in promoted:
        mail_registration(registration_id, "event_moved_up")


def cancel_by_token(token: str) -> Event:
    """Cancel the registration a mailed link stands for (no login: the signed link is the key)."""
    registration = registration_for_cancel_token(token)
    event = registration.event
    cancel_registration(registration)
    return event


def _withdraw(registration_id: int, event_id: int) -> list[int]:
    """Delete a registration and fill the freed place; return who moved up (no commit)."""
    lock_event(event_id)
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
    return fill_free_places(event) if event.takes_registrations() else []


def fill_free_places(event: Event) -> list[int]:
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
        mail_registration(registration_id, "event_moved_up")
