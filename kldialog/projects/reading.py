"""Reading the roadmap for pages: overview, search, one project, its history and updates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager

from kldialog.kernel.db import db
from kldialog.kernel.pagination import Page, paginate
from kldialog.projects.models import (
    Category,
    Project,
    ProjectStatusChange,
    ProjectUpdate,
    Status,
    Visibility,
    search_key,
)
from kldialog.projects.rules import MAX_ID
from kldialog.templating import Localized, localized

SORTS = ("title", "status", "category", "recent")


STAFF_SORTS = ("recent", "title")


@dataclass(frozen=True)
class Overview:
    """The roadmap at a glance, as the council letter summarises it."""

    total: int
    by_status: dict[Status, int]
    by_category: list[tuple[Category, int]]


def roadmap_overview() -> Overview:
    """Count projects per status and per category in two queries."""
    status_rows = db.session.execute(
        sa.select(Project.status, sa.func.count())
        .where(Project.state == Visibility.published)
        .group_by(Project.status)
    ).all()
    by_status = {status: 0 for status in Status}
    by_status.update({status: count for status, count in status_rows})
    category_rows = db.session.execute(
        sa.select(Category, sa.func.count(Project.id))
        .outerjoin(
            Project,
            sa.and_(Project.category_id == Category.id, Project.state == Visibility.published),
        )
        .group_by(Category.id)
        .order_by(Category.position, Category.name)
    ).all()
    return Overview(
        total=sum(by_status.values()),
        by_status=by_status,
        by_category=[(category, count) for category, count in category_rows],
    )


def latest_status_changes(limit: int = 5) -> list[ProjectStatusChange]:
    """Return the most recent status history entries across all projects, with their project."""
    return list(
        db.session.scalars(
            sa.select(ProjectStatusChange)
            # A flat inner join lets SQLite walk the "recent" index and stop after `limit` rows.
            .join(ProjectStatusChange.project)
            .options(contains_eager(ProjectStatusChange.project).raiseload(Project.category))
            .where(Project.state == Visibility.published)
            .order_by(ProjectStatusChange.changed_on.desc(), ProjectStatusChange.id.desc())
            .limit(limit)
        )
    )


def all_categories() -> list[Category]:
    """Return categories in their roadmap order."""
    return list(db.session.scalars(sa.select(Category).order_by(Category.position, Category.name)))


def _search_conditions(query: str) -> list[sa.ColumnElement[bool]]:
    """Return one LIKE per word of the query on the folded title and summary (% _ literal)."""
    conditions: list[sa.ColumnElement[bool]] = []
    for word in search_key(query).split():
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(Project.search_text.like(f"%{escaped}%", escape="\\"))
    return conditions


def find_projects(
    *,
    query: str = "",
    category: Category | None = None,
    status: Status | None = None,
    sort: str = "title",
    page: int = 1,
    per_page: int = 20,
    english: bool = False,
) -> Page[Project]:
    """Filter, sort and paginate projects with one count and one page query.

    `english` sorts by the title English pages show (the English one where there is one).
    """
    conditions: list[sa.ColumnElement[bool]] = [Project.state == Visibility.published]
    if category is not None:
        conditions.append(Project.category_id == category.id)
    if status is not None:
        conditions.append(Project.status == status)
    conditions.extend(_search_conditions(query))
    title: Any = sa.func.coalesce(Project.title_en, Project.title) if english else Project.title
    order = {
        "title": (title,),
        "status": (Project.status, title),
        "category": (Category.position, Category.name, title),
        "recent": (Project.status_changed_on.desc(), title),
    }[sort]
    return _project_page(conditions, order, page, per_page)


def _project_page(
    conditions: list[sa.ColumnElement[bool]], order: tuple[Any, ...], page: int, per_page: int
) -> Page[Project]:
    """Count and load one page of projects (category joined); clamp page to the last one."""
    return paginate(
        sa.select(Project)
        .join(Project.category)
        .options(contains_eager(Project.category))
        .where(*conditions)
        .order_by(*order, Project.id),
        count=sa.select(sa.func.count(Project.id)).where(*conditions),
        page=page,
        per_page=per_page,
    )


def get_project_by_slug(slug: str) -> Project | None:
    """Return the project with this slug (category loaded), or None."""
    return db.session.scalar(sa.select(Project).where(Project.slug == slug))


def project_history(project: Project) -> list[ProjectStatusChange]:
    """Return a project's status history, newest first."""
    return list(
        db.session.scalars(
            sa.select(ProjectStatusChange)
            .where(ProjectStatusChange.project_id == project.id)
            .order_by(ProjectStatusChange.changed_on.desc(), ProjectStatusChange.id.desc())
        )
    )


def project_updates(project: Project) -> list[ProjectUpdate]:
    """Return the city's updates on a project, newest first."""
    return list(
        db.session.scalars(
            sa.select(ProjectUpdate)
            .where(ProjectUpdate.project_id == project.id)
            .order_by(ProjectUpdate.published_on.desc(), ProjectUpdate.id.desc())
        )
    )


def find_projects_for_staff(
    *,
    query: str = "",
    visibility: Visibility | None = None,
    sort: str = "recent",
    page: int = 1,
    per_page: int = 50,
) -> Page[Project]:
    """List every project (drafts and archived too) with one count and one page query."""
    conditions = _search_conditions(query)
    if visibility is not None:
        conditions.append(Project.state == visibility)
    order = (Project.title,) if sort == "title" else (Project.updated_at.desc(), Project.title)
    return _project_page(conditions, order, page, per_page)


def project_choices() -> list[tuple[int, Localized]]:
    """Return (id, title in the page's language) of every project, for a related-projects list."""
    rows = db.session.execute(sa.select(Project.id, Project.title, Project.title_en))
    choices = [(row.id, localized(row._mapping, "title")) for row in rows]
    return sorted(choices, key=lambda choice: choice[1].text.casefold())


def get_project(project_id: int) -> Project | None:
    """Return a project by id (any visibility), or None, also for absurd ids."""
    if not 0 < project_id <= MAX_ID:
        return None
    return db.session.get(Project, project_id)
