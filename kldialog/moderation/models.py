"""Moderation: the append-only decision log and appeals (the keyword list is in comments)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kldialog.auth.models import User
from kldialog.comments.models import Comment
from kldialog.kernel.audit import install_append_only
from kldialog.kernel.db import Model, UTCDateTime, enum_column
from kldialog.kernel.time import utcnow


class Action(enum.StrEnum):
    """What a moderator did."""

    approve = "approve"
    hide = "hide"
    restore = "restore"
    dismiss = "dismiss"
    block = "block"
    appeal_upheld = "appeal_upheld"
    appeal_rejected = "appeal_rejected"


class ModerationDecision(Model):
    """One moderator action on a comment (or its author), always with a reason."""

    __tablename__ = "moderation_decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(sa.ForeignKey("comment.id"), index=True)
    moderator_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    action: Mapped[Action] = mapped_column(enum_column(Action, "action"))
    reason: Mapped[str] = mapped_column(sa.Text)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    comment: Mapped[Comment] = relationship(lazy="joined", innerjoin=True)
    moderator: Mapped[User | None] = relationship(lazy="joined")

    __table_args__ = (sa.CheckConstraint("length(reason) > 0", name="reason_required"),)

    def __repr__(self) -> str:
        return f"<ModerationDecision {self.id} {self.action.value}>"


install_append_only(cast(sa.Table, ModerationDecision.__table__))


class AppealOutcome(enum.StrEnum):
    """How an appeal ended."""

    upheld = "upheld"
    rejected = "rejected"


class Appeal(Model):
    """An author's single appeal against hiding their comment."""

    __tablename__ = "appeal"

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("comment.id", ondelete="CASCADE"), unique=True
    )
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[AppealOutcome | None] = mapped_column(enum_column(AppealOutcome, "outcome"))

    comment: Mapped[Comment] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (
        sa.CheckConstraint("(decided_at IS NULL) = (outcome IS NULL)", name="decided_with_outcome"),
    )
