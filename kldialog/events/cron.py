"""The events' scheduled jobs: reminders the day before, deleting registrations after."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import current_app

from kldialog.events.mailing import mail_registration
from kldialog.events.models import (
    Event,
    EventRegistration,
    EventState,
    RegistrationStatus,
)
from kldialog.kernel.db import affected_rows, db
from kldialog.kernel.time import city_zone, utcnow


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=city_zone()).astimezone(dt.UTC)


def _reminder_candidates(now: dt.datetime) -> list[int]:
    """Return the registrations with a place at an event today or tomorrow, not yet reminded."""
    horizon = _local_midnight(now.astimezone(city_zone()).date() + dt.timedelta(days=2))
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
    now = now or utcnow()
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
        if affected_rows(claimed) != 1:
            continue
        if mail_registration(registration_id, "event_reminder"):
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
    now = now or utcnow()
    today = _local_midnight(now.astimezone(city_zone()).date())
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
    return affected_rows(result)
