"""Applying a validated roadmap (CLI import, staff upload, preview); exporting it as JSON or CSV."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from kldialog.auth.models import User
from kldialog.kernel.audit import audit
from kldialog.kernel.csv import csv_text
from kldialog.kernel.db import db
from kldialog.projects.following import notify_followers
from kldialog.projects.models import (
    Category,
    DatePrecision,
    Project,
    ProjectStatusChange,
    ProjectUpdate,
    Status,
)
from kldialog.projects.reading import all_categories
from kldialog.projects.roadmap_parse import (
    CSV_COLUMNS,
    PROJECT_ENGLISH,
    STATUS_LABELS_DE,
    HistoryEntry,
    ImportReport,
    ProjectRecord,
    Roadmap,
    RoadmapError,
)
from kldialog.projects.rules import clean_line, slugify
from kldialog.templating import LocalizedLater


def import_roadmap(roadmap: Roadmap) -> ImportReport:
    """Create or update categories and projects by slug in one transaction.

    Re-importing the same file changes nothing. A project whose status differs gets a new
    history entry dated `as_of`; history and updates in the file are taken only for new
    projects, so a re-import never duplicates them.
    """
    try:
        report = _apply(roadmap)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return report


def _apply(roadmap: Roadmap) -> ImportReport:
    """Write a validated roadmap into the session (no commit)."""
    existing_categories = {c.name: c for c in db.session.scalars(sa.select(Category))}
    taken_slugs = {c.slug for c in existing_categories.values()}
    categories_created = 0
    for position, name in enumerate(roadmap.categories):
        category = existing_categories.get(name)
        if category is None:
            slug = base = slugify(name, 80) or "kategorie"
            counter = 2
            while slug in taken_slugs:
                slug, counter = f"{base}-{counter}", counter + 1
            taken_slugs.add(slug)
            category = Category(name=name, slug=slug, position=position)
            db.session.add(category)
            existing_categories[name] = category
            categories_created += 1
        elif category.position != position:
            category.position = position
    for name, english in roadmap.category_names_en.items():
        category = existing_categories.get(name)
        if category is not None and category.name_en != english:
            category.name_en = english

    slugs = [record.slug for record in roadmap.projects]
    existing = {
        p.slug: p for p in db.session.scalars(sa.select(Project).where(Project.slug.in_(slugs)))
    }
    created = updated = unchanged = 0
    for record in roadmap.projects:
        category = existing_categories[record.category]
        project = existing.get(record.slug)
        if project is None:
            _create_project(roadmap, record, category)
            created += 1
        elif _update_project(roadmap, record, project, category):
            updated += 1
        else:
            unchanged += 1
    return ImportReport(created, updated, unchanged, categories_created)


def _create_project(roadmap: Roadmap, record: ProjectRecord, category: Category) -> None:
    """Add a new project with its history (from the file, or one initial entry)."""
    project = Project(
        slug=record.slug,
        title=record.title,
        summary=record.summary,
        description=record.description,
        category=category,
        is_category_editorial=record.category_inferred,
        status=record.status,
        state=record.visibility,
        progress=record.progress,
        department=record.department,
        **{name: getattr(record, name) or None for name in PROJECT_ENGLISH},
    )
    db.session.add(project)
    history = record.history or [
        HistoryEntry(
            roadmap.as_of,
            roadmap.as_of_precision,
            None,
            record.status,
            record.status_reason or roadmap.status_reason,
            roadmap.author,
        )
    ]
    for entry in history:
        db.session.add(
            ProjectStatusChange(
                project=project,
                changed_on=entry.changed_on,
                precision=entry.precision,
                old_status=entry.old_status,
                new_status=entry.new_status,
                reason=entry.reason,
                author=entry.author,
            )
        )
    latest = max(history, key=lambda entry: entry.changed_on)
    project.status_changed_on = latest.changed_on
    project.status_precision = latest.precision
    for update in record.updates:
        db.session.add(
            ProjectUpdate(
                project=project,
                published_on=update.published_on,
                title=update.title,
                body=update.body,
                author=update.author,
                title_en=update.title_en or None,
                body_en=update.body_en or None,
            )
        )


def _update_project(
    roadmap: Roadmap, record: ProjectRecord, project: Project, category: Category
) -> bool:
    """Apply the fields the file states to an existing project; return whether anything changed."""
    changes: dict[str, Any] = {"title": record.title, "category_id": category.id}
    for name in ("summary", "description", "department", "progress", *PROJECT_ENGLISH):
        if name in record.present:
            changes[name] = getattr(record, name)
    if "category_inferred" in record.present:
        changes["is_category_editorial"] = record.category_inferred
    if "visibility" in record.present:
        changes["state"] = record.visibility
    changed = False
    for name, value in changes.items():
        if getattr(project, name) != value:
            setattr(project, name, value)
            changed = True
    if project.status != record.status:
        db.session.add(
            ProjectStatusChange(
                project=project,
                changed_on=roadmap.as_of,
                precision=roadmap.as_of_precision,
                old_status=project.status,
                new_status=record.status,
                reason=record.status_reason or roadmap.status_reason,
                author=roadmap.author,
            )
        )
        project.status = record.status
        project.status_changed_on = roadmap.as_of
        project.status_precision = roadmap.as_of_precision
        changed = True
    return changed


# --- export ---------------------------------------------------------------------------


def export_roadmap_json() -> dict[str, Any]:
    """Return the whole roadmap, history and updates included, in the import's JSON shape."""
    categories = all_categories()
    projects = list(
        db.session.scalars(sa.select(Project).order_by(Project.category_id, Project.title))
    )
    history: dict[int, list[dict[str, Any]]] = {}
    for change in db.session.scalars(
        sa.select(ProjectStatusChange).order_by(
            ProjectStatusChange.changed_on, ProjectStatusChange.id
        )
    ):
        history.setdefault(change.project_id, []).append(
            {
                "date": _format_date(change.changed_on, change.precision),
                "old_status": change.old_status.value if change.old_status else None,
                "new_status": change.new_status.value,
                "reason": change.reason,
                "author": change.author,
            }
        )
    updates: dict[int, list[dict[str, Any]]] = {}
    for update in db.session.scalars(
        sa.select(ProjectUpdate).order_by(ProjectUpdate.published_on, ProjectUpdate.id)
    ):
        updates.setdefault(update.project_id, []).append(
            {
                "date": update.published_on.isoformat(),
                "title": update.title,
                "body": update.body,
                "author": update.author,
                "title_en": update.title_en,
                "body_en": update.body_en,
            }
        )
    return {
        "as_of": dt.date.today().isoformat(),
        "statuses": {status.value: STATUS_LABELS_DE[status] for status in Status},
        # A plain name, or name and English name where there is one (the import takes both).
        "categories": [
            {"name": category.name, "name_en": category.name_en}
            if category.name_en
            else category.name
            for category in categories
        ],
        "projects": [
            {
                "slug": project.slug,
                "title": project.title,
                "category": project.category.name,
                "category_inferred": project.is_category_editorial,
                "visibility": project.state.value,
                "status": project.status.value,
                "summary": project.summary,
                "description": project.description,
                "progress": project.progress,
                "department": project.department,
                **{name: getattr(project, name) for name in PROJECT_ENGLISH},
                "history": history.get(project.id, []),
                "updates": updates.get(project.id, []),
            }
            for project in projects
        ],
    }


def export_roadmap_csv() -> str:
    """Return the current roadmap (without history) as CSV with the documented header."""
    rows: list[tuple[Any, ...]] = [tuple(CSV_COLUMNS)]
    for project in db.session.scalars(
        sa.select(Project).order_by(Project.category_id, Project.title)
    ):
        rows.append(
            (
                project.slug,
                project.title,
                project.category.name,
                project.status.value,
                project.summary,
                project.description,
                "" if project.progress is None else project.progress,
                project.department,
                "true" if project.is_category_editorial else "false",
                project.state.value,
                *(getattr(project, name) or "" for name in PROJECT_ENGLISH),
                project.category.name_en or "",
            )
        )
    return csv_text(rows, lineterminator="\n")


def _format_date(date: dt.date, precision: DatePrecision) -> str:
    """Write a history date back with the precision it was given in."""
    return date.strftime("%Y-%m") if precision is DatePrecision.month else date.isoformat()


def preview_roadmap_import(roadmap: Roadmap) -> ImportReport:
    """Return what an import would change, and change nothing (everything is rolled back)."""
    try:
        report = _apply(roadmap)
        db.session.flush()
    except IntegrityError as error:
        raise RoadmapError(
            ["the database would refuse this import (a value collides with existing data)"]
        ) from error
    finally:
        db.session.rollback()
    return report


def import_roadmap_upload(
    actor: User | None, roadmap: Roadmap, *, filename: str, fmt: str
) -> ImportReport:
    """Import an uploaded roadmap in one transaction, audit-logged; tell followers of changes."""
    try:
        report = _apply(roadmap)
        # Collected before the flush empties session.new: the status changes this import made.
        changes = [
            item
            for item in db.session.new
            if isinstance(item, ProjectStatusChange) and item.old_status is not None
        ]
        db.session.flush()
        audit(
            actor,
            "roadmap.import",
            "roadmap",
            None,
            file=clean_line(filename)[:200],
            format=fmt,
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
            categories_created=report.categories_created,
        )
        notices = [
            (
                change.project,
                {
                    "old_status": change.old_status,
                    "new_status": change.new_status,
                    "changed_on": change.changed_on,
                    "precision": change.precision,
                    "reason": change.reason,
                },
            )
            for change in changes
        ]
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise RoadmapError(
            ["the database refused this import (a value collides with existing data)"]
        ) from error
    except Exception:
        db.session.rollback()
        raise
    for project, context in notices:
        notify_followers(
            project,
            _l("Status changed: %(title)s", title=LocalizedLater(project, "title")),
            "project_status",
            **context,
        )
    return report
