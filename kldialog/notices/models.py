"""Notice preferences per account, and the mail queue the cron sender works through."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kldialog.kernel.db import Model, UTCDateTime, enum_column
from kldialog.kernel.time import utcnow


class NoticeKind(enum.StrEnum):
    """What a person can opt in to; each kind has its own unsubscribe link."""

    openings = "openings"  # a priority round or survey opened
    digest = "digest"  # weekly changes on followed projects


class MailState(enum.StrEnum):
    """Where a queued mail stands."""

    due = "due"  # waits for `flask mail send-due` (again, after a failure)
    sent = "sent"  # kept so the producers never queue it twice
    failed = "failed"  # given up after NOTICES_MAX_ATTEMPTS


class NoticePreference(Model):
    """Which notices a person asked for; no row means none (the default is off)."""

    __tablename__ = "notice_preference"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    openings: Mapped[bool] = mapped_column(default=False)
    digest: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class QueuedMail(Model):
    """One notice for one person; rendered and addressed only when it is sent."""

    __tablename__ = "queued_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[NoticeKind] = mapped_column(enum_column(NoticeKind, "kind"))
    # "round:7", "survey:3", "digest:2026-W49": the unique key below makes queuing idempotent.
    dedupe_key: Mapped[str] = mapped_column(sa.String(40))
    # What the mail is about (ids, titles, counts), never an address: that is read when sending.
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    state: Mapped[MailState] = mapped_column(enum_column(MailState, "state"), default=MailState.due)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.UniqueConstraint("user_id", "dedupe_key"),
        sa.Index("ix_queued_mail_state_next", "state", "next_attempt_at"),
    )
