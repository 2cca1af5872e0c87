"""Discussion threads owned by commentable objects, comments, supports and reports."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kldialog.auth.models import User
from kldialog.kernel.db import Model, UTCDateTime, enum_column
from kldialog.kernel.time import utcnow


class CommentStatus(enum.StrEnum):
    """Whether a comment is shown: pending review, published, or hidden by moderation."""

    pending = "pending"
    published = "published"
    hidden = "hidden"


class ReportReason(enum.StrEnum):
    """Why someone reports a comment."""

    spam = "spam"
    offensive = "offensive"
    off_topic = "off_topic"
    personal_data = "personal_data"
    other = "other"


class Thread(Model):
    """The discussion of one commentable object (no generic foreign keys: the owner points here)."""

    __tablename__ = "thread"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))  # the owner's type, e.g. "project"
    is_closed: Mapped[bool] = mapped_column(default=False)
    closed_note: Mapped[str] = mapped_column(sa.Text, default="")
    is_premoderated: Mapped[bool] = mapped_column(default=False)
    # Counts of visible comments, kept by the services so lists need no COUNT per item.
    comment_count: Mapped[int] = mapped_column(default=0)

    __table_args__ = (sa.CheckConstraint("comment_count >= 0", name="comment_count_positive"),)

    def __repr__(self) -> str:
        return f"<Thread {self.id} {self.kind}>"


class Comment(Model):
    """A comment or a reply (one level: a reply's parent is always a top-level comment)."""

    __tablename__ = "comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("thread.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("comment.id", ondelete="CASCADE"), index=True
    )
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[CommentStatus] = mapped_column(
        enum_column(CommentStatus, "status"), default=CommentStatus.published
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    edited_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    hidden_reason: Mapped[str] = mapped_column(sa.Text, default="")
    support_count: Mapped[int] = mapped_column(default=0)
    report_count: Mapped[int] = mapped_column(default=0)
    reply_count: Mapped[int] = mapped_column(default=0)

    author: Mapped[User] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (
        # Top-level comments of a thread in both sort orders without a sort step.
        sa.Index("ix_comment_thread_top", "thread_id", "parent_id", "created_at", "id"),
        sa.Index("ix_comment_thread_supported", "thread_id", "parent_id", "support_count", "id"),
        # Top-level comments only (migration 0035): PostgreSQL reads an index in order only
        # after equalities, and `parent_id IS NULL` is none; the last one counts a thread's
        # visible comments from the index alone.
        *(
            sa.Index(
                name,
                *columns,
                sqlite_where=sa.text("parent_id IS NULL"),
                postgresql_where=sa.text("parent_id IS NULL"),
            )
            for name, columns in (
                ("ix_comment_top_recent", ("thread_id", "created_at", "id")),
                ("ix_comment_top_supported", ("thread_id", "support_count", "id")),
                ("ix_comment_top_visible", ("thread_id", "status", "author_id", "parent_id")),
            )
        ),
        sa.Index("ix_comment_status_created", "status", "created_at"),
        sa.CheckConstraint(
            "support_count >= 0 AND report_count >= 0 AND reply_count >= 0", name="counts_positive"
        ),
        sa.CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
    )

    def __repr__(self) -> str:
        return f"<Comment {self.id} {self.status.value}>"


class CommentSupport(Model):
    """One person's +1 on a comment; the primary key makes it once per person."""

    __tablename__ = "comment_support"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    comment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("comment.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CommentReport(Model):
    """A report of a comment; one per person and comment."""

    __tablename__ = "comment_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("comment.id", ondelete="CASCADE"), index=True
    )
    reporter_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    reason: Mapped[ReportReason] = mapped_column(enum_column(ReportReason, "reason"))
    text: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.UniqueConstraint("comment_id", "reporter_id", name="uq_comment_report_once"),
    )


class Keyword(Model):
    """A word or phrase that sends a comment to the moderation queue instead of publishing it.

    Moderators keep the list; it lives here because posting a comment consults it.
    """

    __tablename__ = "moderation_keyword"

    id: Mapped[int] = mapped_column(primary_key=True)
    word: Mapped[str] = mapped_column(sa.String(100), unique=True)  # stored case-folded
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (sa.CheckConstraint("length(word) > 0", name="word_not_empty"),)
