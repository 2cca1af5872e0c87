"""Roadmap models: Category, Project, ProjectStatusChange, ProjectUpdate."""

from __future__ import annotations

import datetime as dt
import enum
import unicodedata

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from kldialog.comments.models import Thread
from kldialog.kernel.db import Model, UTCDateTime, enum_column
from kldialog.kernel.time import utcnow


def search_key(text: str) -> str:
    """Fold text for search so "ÖPNV"/"öpnv" and "Straße"/"strasse" match on every database."""
    return unicodedata.normalize("NFKC", text).casefold()


# The texts search looks in: German first, then the optional English ones.
SEARCHED = ("title", "summary", "title_en", "summary_en")


class Status(enum.StrEnum):
    """Where a project stands; the values are the roadmap's own vocabulary."""

    planned = "planned"
    in_progress = "in_progress"
    completed = "completed"


class Visibility(enum.StrEnum):
    """Who sees a project: drafts only staff; archived ones stay readable but leave the list."""

    draft = "draft"
    published = "published"
    archived = "archived"


class DatePrecision(enum.StrEnum):
    """How exact a history date is: the 2019 letter only says "Stand Juni 2019"."""

    day = "day"
    month = "month"


class Category(Model):
    """A roadmap category such as "Bildung" or "Verwaltung"."""

    __tablename__ = "category"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(80), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    # English text for the English pages; None means "not translated", shown in German.
    name_en: Mapped[str | None] = mapped_column(sa.String(120))
    position: Mapped[int] = mapped_column(default=0)

    __table_args__ = (
        sa.CheckConstraint("length(slug) > 0", name="slug_not_empty"),
        sa.CheckConstraint("length(name) > 0", name="name_not_empty"),
        sa.CheckConstraint("name_en IS NULL OR length(name_en) > 0", name="name_en_not_empty"),
    )

    def __repr__(self) -> str:
        return f"<Category {self.slug}>"


class Project(Model):
    """One roadmap project with its current status."""

    __tablename__ = "project"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(120), unique=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    # English texts for the English pages; None means "not translated", shown in German.
    title_en: Mapped[str | None] = mapped_column(sa.String(300))
    summary_en: Mapped[str | None] = mapped_column(sa.Text)
    description_en: Mapped[str | None] = mapped_column(sa.Text)
    category_id: Mapped[int] = mapped_column(
        sa.ForeignKey("category.id", ondelete="RESTRICT"), index=True
    )
    # True when the category was assigned by the editors, not stated by the city's own source.
    is_category_editorial: Mapped[bool] = mapped_column(default=False)
    status: Mapped[Status] = mapped_column(enum_column(Status, "status"), index=True)
    state: Mapped[Visibility] = mapped_column(
        enum_column(Visibility, "state"), default=Visibility.published, index=True
    )
    # The date of the latest status history entry, kept here so lists can show and sort by
    # "Stand" without a query per project; only the services change status, and they set it.
    status_changed_on: Mapped[dt.date] = mapped_column(default=dt.date.today, index=True)
    status_precision: Mapped[DatePrecision] = mapped_column(
        enum_column(DatePrecision, "status_precision"), default=DatePrecision.day
    )
    # None means "not stated": the source gives no percentage, and we do not invent one.
    progress: Mapped[int | None] = mapped_column(default=None)
    department: Mapped[str] = mapped_column(sa.String(300), default="")
    # Case- and accent-folded title and summary: LIKE on SQLite folds ASCII only, so search
    # would miss "Öffentlich" for "öffentlich" without it.
    search_text: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    # The discussion; created with the first comment or when staff close it (rule: no empty
    # thread rows for the many projects nobody has discussed yet).
    thread_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("thread.id", ondelete="SET NULL"), unique=True
    )

    category: Mapped[Category] = relationship(lazy="joined", innerjoin=True)
    thread: Mapped[Thread | None] = relationship(lazy="joined")

    __table_args__ = (
        sa.CheckConstraint(
            "progress IS NULL OR (progress >= 0 AND progress <= 100)", name="progress_range"
        ),
        sa.CheckConstraint("length(slug) > 0", name="slug_not_empty"),
        sa.CheckConstraint("length(title) > 0", name="title_not_empty"),
        # Empty English text is stored as NULL, so "translated" has one meaning.
        sa.CheckConstraint("title_en IS NULL OR length(title_en) > 0", name="title_en_not_empty"),
        sa.CheckConstraint(
            "summary_en IS NULL OR length(summary_en) > 0", name="summary_en_not_empty"
        ),
        sa.CheckConstraint(
            "description_en IS NULL OR length(description_en) > 0",
            name="description_en_not_empty",
        ),
    )

    @validates("title", "summary", "title_en", "summary_en")
    def _refresh_search_text(self, key: str, value: str | None) -> str | None:
        """Keep search_text in step whenever a title or summary (either language) is set."""
        texts = {name: getattr(self, name) or "" for name in SEARCHED}
        texts[key] = value or ""
        english = "\n".join(texts[name] for name in SEARCHED[2:] if texts[name])
        german = f"{texts['title']}\n{texts['summary']}"
        self.search_text = search_key(f"{german}\n{english}" if english else german)
        return value

    def __repr__(self) -> str:
        return f"<Project {self.slug} {self.status.value}>"


class ProjectStatusChange(Model):
    """A dated entry in a project's public status history ("Stand")."""

    __tablename__ = "project_status_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        sa.ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    changed_on: Mapped[dt.date]
    precision: Mapped[DatePrecision] = mapped_column(
        enum_column(DatePrecision, "precision"), default=DatePrecision.day
    )
    old_status: Mapped[Status | None] = mapped_column(enum_column(Status, "old_status"))
    new_status: Mapped[Status] = mapped_column(enum_column(Status, "new_status"))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    # Who is publicly accountable: an organisation or department, not a staff member's name.
    author: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    project: Mapped[Project] = relationship(
        backref=sa.orm.backref("status_changes", passive_deletes=True, lazy="raise")
    )

    __table_args__ = (
        sa.CheckConstraint(
            "old_status IS NULL OR old_status <> new_status", name="status_actually_changes"
        ),
        # "Latest status changes" on the home page reads this index backwards, no sort.
        sa.Index("ix_project_status_change_recent", "changed_on", "id"),
    )

    def __repr__(self) -> str:
        return f"<ProjectStatusChange {self.project_id} {self.old_status}->{self.new_status}>"


class ProjectUpdate(Model):
    """Dated news from the city about a project."""

    __tablename__ = "project_update"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        sa.ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    published_on: Mapped[dt.date]
    title: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    # English texts for the English pages; None means "not translated", shown in German.
    title_en: Mapped[str | None] = mapped_column(sa.String(300))
    body_en: Mapped[str | None] = mapped_column(sa.Text)
    author: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    project: Mapped[Project] = relationship(
        backref=sa.orm.backref("updates", passive_deletes=True, lazy="raise")
    )

    __table_args__ = (
        sa.CheckConstraint("length(title) > 0", name="title_not_empty"),
        sa.CheckConstraint("title_en IS NULL OR length(title_en) > 0", name="title_en_not_empty"),
        sa.CheckConstraint("body_en IS NULL OR length(body_en) > 0", name="body_en_not_empty"),
    )

    def __repr__(self) -> str:
        return f"<ProjectUpdate {self.project_id} {self.published_on}>"


class ProjectFollow(Model):
    """A person follows a project and gets an e-mail when its status changes or news appear."""

    __tablename__ = "project_follow"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[int] = mapped_column(
        sa.ForeignKey("project.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    project: Mapped[Project] = relationship(lazy="joined", innerjoin=True)

    def __repr__(self) -> str:
        return f"<ProjectFollow {self.user_id} {self.project_id}>"
