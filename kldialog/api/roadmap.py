"""Categories and projects for the API, read from the roadmap models (published data only)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import url_for
from sqlalchemy.orm import contains_eager

from kldialog.api import schemas
from kldialog.api.paging import page_links
from kldialog.kernel.db import db
from kldialog.kernel.pagination import paginate
from kldialog.projects.models import (
    Category,
    Project,
    ProjectStatusChange,
    ProjectUpdate,
    Status,
    Visibility,
    search_key,
)


def categories() -> schemas.CategoryList:
    """Return every category in roadmap order with its number of published projects."""
    rows = db.session.execute(
        sa.select(Category, sa.func.count(Project.id))
        .outerjoin(
            Project,
            sa.and_(Project.category_id == Category.id, Project.state == Visibility.published),
        )
        .group_by(Category.id)
        .order_by(Category.position, Category.name, Category.id)
    ).all()
    return schemas.CategoryList(
        items=[
            schemas.Category(
                slug=category.slug,
                name=category.name,
                name_en=category.name_en,
                position=category.position,
                project_count=count,
                projects=url_for("api.v1.projects", category=category.slug, _external=True),
            )
            for category, count in rows
        ]
    )


def _summary_fields(project: Project) -> dict[str, object]:
    return {
        "slug": project.slug,
        "title": project.title,
        "title_en": project.title_en,
        "summary": project.summary,
        "summary_en": project.summary_en,
        "category": project.category.slug,
        "status": project.status.value,
        "status_changed_on": project.status_changed_on,
        "status_precision": project.status_precision.value,
        "progress": project.progress,
        "department": project.department,
        "updated_at": project.updated_at,
        "url": url_for("api.v1.project", slug=project.slug, _external=True),
        "html_url": url_for("projects.detail", slug=project.slug, _external=True),
    }


def _word_conditions(query: str) -> list[sa.ColumnElement[bool]]:
    """Return one LIKE per word on the folded title and summary (as the list page searches)."""
    conditions: list[sa.ColumnElement[bool]] = []
    for word in search_key(query).split():
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(Project.search_text.like(f"%{escaped}%", escape="\\"))
    return conditions


def projects(query: schemas.ProjectQuery, params: dict[str, str]) -> schemas.ProjectPage:
    """Return one page of published projects, filtered like the list page, in a stable order."""
    conditions: list[sa.ColumnElement[bool]] = [Project.state == Visibility.published]
    if query.status is not None:
        conditions.append(Project.status == Status(query.status))
    if query.category is not None:
        conditions.append(Category.slug == query.category)
    if query.q:
        conditions.extend(_word_conditions(query.q))
    if query.updated_since is not None:
        conditions.append(Project.updated_at >= query.updated_since)
    # The id breaks ties, so a page boundary never moves between two equal titles or times.
    order = (
        (Project.updated_at, Project.id) if query.sort == "updated" else (Project.title, Project.id)
    )
    page = paginate(
        sa.select(Project)
        .join(Project.category)
        .options(contains_eager(Project.category))
        .where(*conditions)
        .order_by(*order),
        count=sa.select(sa.func.count(Project.id)).join(Project.category).where(*conditions),
        page=query.page,
        per_page=query.per_page,
    )
    return schemas.ProjectPage(
        items=[schemas.ProjectSummary(**_summary_fields(p)) for p in page.items],
        page=page.page,
        per_page=page.per_page,
        total=page.total,
        pages=page.pages,
        links=page_links("api.v1.projects", params, page.page, page.pages),
    )


def project(slug: str) -> schemas.ProjectDetail | None:
    """Return a published or archived project with history and updates (three queries)."""
    found = db.session.scalar(
        sa.select(Project).where(Project.slug == slug, Project.state != Visibility.draft)
    )
    if found is None:
        return None
    history = db.session.scalars(
        sa.select(ProjectStatusChange)
        .where(ProjectStatusChange.project_id == found.id)
        .order_by(ProjectStatusChange.changed_on.desc(), ProjectStatusChange.id.desc())
    )
    updates = db.session.scalars(
        sa.select(ProjectUpdate)
        .where(ProjectUpdate.project_id == found.id)
        .order_by(ProjectUpdate.published_on.desc(), ProjectUpdate.id.desc())
    )
    return schemas.ProjectDetail(
        **_summary_fields(found),
        description=found.description,
        description_en=found.description_en,
        visibility=found.state.value,
        is_category_editorial=found.is_category_editorial,
        created_at=found.created_at,
        status_history=[
            schemas.StatusChange(
                changed_on=change.changed_on,
                precision=change.precision.value,
                old_status=change.old_status.value if change.old_status else None,
                new_status=change.new_status.value,
                reason=change.reason,
                author=change.author,
            )
            for change in history
        ],
        updates=[
            schemas.ProjectUpdate(
                published_on=update.published_on,
                title=update.title,
                title_en=update.title_en,
                body=update.body,
                body_en=update.body_en,
                author=update.author,
            )
            for update in updates
        ],
    )
