"""Events (participation and education offers) and the registrations for them.

A registration holds the least a place needs: an account id, or for visitors without an
account only an e-mail address and the language for mail. Registrations are deleted the day
after the event (`flask events purge`); the event keeps only its counts.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kldialog.kernel.db import Model, UTCDateTime, db, enum_column
from kldialog.kernel.time import utcnow


class EventState(enum.StrEnum):
    """Drafts only staff see; published events take registrations; cancelled ones stay listed."""

    draft = "draft"
    published = "published"
    cancelled = "cancelled"


class RegistrationStatus(enum.StrEnum):
    """Where a registration stands."""

    pending = "pending"  # a visitor's address is not confirmed yet: holds no place
    registered = "registered"  # has a place
    waiting = "waiting"  # on the waiting list, first come first served


event_project = sa.Table(
    "event_project",
    db.metadata,
    sa.Column("event_id", sa.ForeignKey("event.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "project_id", sa.ForeignKey("project.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)


class Event(Model):
    """A dated event at a place, online, or both."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The iCalendar UID (RFC 7986 recommends a UUID): stable across edits and host names.
    uid: Mapped[uuid.UUID] = mapped_column(sa.Uuid, unique=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    language: Mapped[str] = mapped_column(sa.String(5), default="de")
    place: Mapped[str] = mapped_column(sa.String(300), default="")
    step_free: Mapped[bool] = mapped_column(default=False)
    hearing_loop: Mapped[bool] = mapped_column(default=False)
    sign_language: Mapped[bool] = mapped_column(default=False)  # interpreting on request
    accessibility_note: Mapped[str] = mapped_column(sa.String(500), default="")
    online_url: Mapped[str] = mapped_column(sa.String(500), default="")
    capacity: Mapped[int | None]  # None: no limit
    state: Mapped[EventState] = mapped_column(
        enum_column(EventState, "state"), default=EventState.draft
    )
    # Kept by the services under the event's row lock, so lists never count registrations and
    # the CHECK below holds the capacity even against a bug.
    registered_count: Mapped[int] = mapped_column(default=0)
    waiting_count: Mapped[int] = mapped_column(default=0)
    # iCalendar SEQUENCE: raised with every change calendars should pick up.
    sequence: Mapped[int] = mapped_column(default=0)
    cancel_reason: Mapped[str] = mapped_column(sa.Text, default="")
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    summary_published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Set by the services when the content changes (not by registrations): DTSTAMP in the feed.
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    projects: Mapped[list[Any]] = relationship(
        "Project", secondary=event_project, order_by="Project.title"
    )

    __table_args__ = (
        sa.CheckConstraint("length(title) > 0", name="title_not_empty"),
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.CheckConstraint("length(place) > 0 OR length(online_url) > 0", name="place_or_online"),
        sa.CheckConstraint("online_url = '' OR online_url LIKE 'https://%'", name="online_https"),
        sa.CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity_positive"),
        sa.CheckConstraint(
            "registered_count >= 0 AND waiting_count >= 0", name="counts_not_negative"
        ),
        sa.CheckConstraint(
            "capacity IS NULL OR registered_count <= capacity", name="capacity_holds"
        ),
        sa.CheckConstraint("sequence >= 0", name="sequence_not_negative"),
        sa.Index("ix_event_state_starts", "state", "starts_at"),
        sa.Index("ix_event_state_ends", "state", "ends_at"),
    )

    def has_started(self, now: dt.datetime | None = None) -> bool:
        """Return whether the event has begun at `now`."""
        return self.starts_at <= (now or utcnow())

    def has_ended(self, now: dt.datetime | None = None) -> bool:
        """Return whether the event is over at `now`."""
        return self.ends_at <= (now or utcnow())

    def takes_registrations(self, now: dt.datetime | None = None) -> bool:
        """Return whether people can register now: published and not begun."""
        return self.state == EventState.published and not self.has_started(now)

    @property
    def is_full(self) -> bool:
        """Return whether every place is taken (new registrations go to the waiting list)."""
        return self.capacity is not None and self.registered_count >= self.capacity

    @property
    def places_left(self) -> int | None:
        """Return the free places, or None without a limit."""
        return None if self.capacity is None else max(0, self.capacity - self.registered_count)

    def __repr__(self) -> str:
        return f"<Event {self.id} {self.state.value}>"


class EventRegistration(Model):
    """One person's place (or waiting-list place) at an event: an account or an e-mail address."""

    __tablename__ = "event_registration"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str | None] = mapped_column(sa.String(254))
    language: Mapped[str] = mapped_column(sa.String(5), default="de")
    status: Mapped[RegistrationStatus] = mapped_column(enum_column(RegistrationStatus, "status"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When the registration began to count; orders the waiting list (first come).
    joined_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    event: Mapped[Event] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (
        sa.UniqueConstraint("event_id", "user_id", name="uq_event_registration_account"),
        sa.UniqueConstraint("event_id", "email", name="uq_event_registration_email"),
        sa.CheckConstraint("(user_id IS NULL) <> (email IS NULL)", name="account_or_email"),
        sa.CheckConstraint(
            "(status = 'pending') = (joined_at IS NULL)", name="joined_when_counted"
        ),
        sa.CheckConstraint("status <> 'pending' OR email IS NOT NULL", name="pending_by_email"),
        sa.Index("ix_event_registration_queue", "event_id", "status", "joined_at"),
    )

    def __repr__(self) -> str:
        return f"<EventRegistration {self.id} {self.status.value}>"
