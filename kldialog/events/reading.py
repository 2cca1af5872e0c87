"""Reading events for pages: one event, lists, the feed, a person's registrations."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kldialog.events.models import (
    Event,
    EventRegistration,
    EventState,
    RegistrationStatus,
    event_project,
)
from kldialog.events.rules import MAX_ID
from kldialog.kernel.db import db
from kldialog.kernel.pagination import Page, paginate
from kldialog.kernel.time import city_zone, utcnow
from kldialog.projects import panels


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
    now = utcnow()
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
    language: str  # the event's own language, for lang on its title and summary
    body: str
    event_id: int
    author: str = ""


@panels.register
def project_event_context(project: Any) -> dict[str, Any]:
    """Return what a project page shows of events: coming ones and summaries (one query)."""
    now = utcnow()
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
    zone = city_zone()
    return {
        "project_events": [event for event in events if not event.has_ended(now)],
        "event_summaries": [
            EventSummary(
                published_on=event.starts_at.astimezone(zone).date(),
                title=event.title,
                language=event.language,
                body=event.summary,
                event_id=event.id,
            )
            for event in reversed(events)
            if event.summary_published_at is not None and event.state == EventState.published
        ],
    }
