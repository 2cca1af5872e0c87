"""The staff console's project changes: create, edit, status, updates, visibility.

Every change is audit-logged in the same transaction; followers get e-mail about status
changes and updates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from kldialog.auth.models import User
from kldialog.kernel.audit import audit
from kldialog.kernel.db import affected_rows, db
from kldialog.kernel.errors import RuleViolation
from kldialog.projects.following import notify_followers
from kldialog.projects.models import (
    Category,
    DatePrecision,
    Project,
    ProjectStatusChange,
    ProjectUpdate,
    Status,
    Visibility,
)
from kldialog.projects.rules import LOST_RACE, clean_line, clean_text, limited, past_date, slugify
from kldialog.templating import STATUS_LABELS, LocalizedLater

# The optional English texts of a project, as columns and form fields.
PROJECT_ENGLISH = ("title_en", "summary_en", "description_en")
VISIBILITY_ACTIONS = {
    (Visibility.draft, Visibility.published): "project.publish",
    (Visibility.archived, Visibility.published): "project.unarchive",
    (Visibility.draft, Visibility.archived): "project.archive",
    (Visibility.published, Visibility.archived): "project.archive",
    (Visibility.published, Visibility.draft): "project.unpublish",
    (Visibility.archived, Visibility.draft): "project.unpublish",
}
ALREADY = {
    Visibility.draft: _l("This project is already a draft."),
    Visibility.published: _l("This project is already published."),
    Visibility.archived: _l("This project is already archived."),
}


def _slug_taken(slug: str, project_id: int | None) -> bool:
    query = sa.select(Project.id).where(Project.slug == slug)
    if project_id is not None:
        query = query.where(Project.id != project_id)
    return db.session.scalar(query) is not None


def _slug_violation(slug: str) -> RuleViolation:
    return RuleViolation(
        _l(
            "The address “%(slug)s” is already used by another project. "
            "Please enter a different address.",
            slug=slug,
        ),
        field="slug",
    )


def _choose_slug(requested: str, title: str, project: Project | None) -> str:
    """Return the address: as typed (made URL-safe), the current one, or derived from the title."""
    requested = clean_line(requested)
    if not requested and project is not None:
        return project.slug
    if requested:
        limited("slug", requested)
        slug = slugify(requested)
        if not slug:
            raise RuleViolation(
                _l("Please use letters a–z, digits and hyphens for the address."), field="slug"
            )
    else:
        slug = slugify(title) or "projekt"
    if project is not None and slug == project.slug:
        return slug
    if _slug_taken(slug, project.id if project is not None else None):
        raise _slug_violation(slug)
    return slug


def _lost_race(error: IntegrityError, slug: str | None, project_id: int | None) -> RuleViolation:
    """Roll back after a constraint refused a write; say which value collided if we can."""
    db.session.rollback()
    if slug is not None and _slug_taken(slug, project_id):
        return _slug_violation(slug)
    return RuleViolation(LOST_RACE)


def english_texts(**texts: str | None) -> dict[str, str | None]:
    """Clean and check optional English texts ("title_en": ...); empty becomes None."""
    values: dict[str, str | None] = {}
    for name, text in texts.items():
        kind = name.removesuffix("_en")
        clean = clean_line(text) if kind in ("title", "name") else clean_text(text)
        values[name] = limited(kind, clean, name) or None
    return values


def _project_values(
    *,
    title: str,
    summary: str,
    description: str,
    department: str,
    progress: int | None,
    english: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """Clean and check the texts of a project (the English ones optional)."""
    english = english or {}
    values = {
        "title": limited("title", clean_line(title)),
        "summary": limited("summary", clean_text(summary)),
        "description": limited("description", clean_text(description)),
        "department": limited("department", clean_line(department)),
        "progress": progress,
        **english_texts(
            title_en=english.get("title_en"),
            summary_en=english.get("summary_en"),
            description_en=english.get("description_en"),
        ),
    }
    if not values["title"]:
        raise RuleViolation(_l("Please enter a title."), field="title")
    if progress is not None and not (type(progress) is int and 0 <= progress <= 100):
        raise RuleViolation(
            _l("Please enter a whole number from 0 to 100, or leave the field empty."),
            field="progress",
        )
    return values


def create_project(
    actor: User,
    *,
    title: str,
    category: Category,
    slug: str = "",
    summary: str = "",
    description: str = "",
    department: str = "",
    progress: int | None = None,
    status: Status = Status.planned,
    visibility: Visibility = Visibility.draft,
    english: dict[str, str | None] | None = None,
) -> Project:
    """Add a project (a draft unless published explicitly) with its first history entry.

    `english` holds the optional title_en, summary_en and description_en.
    """
    values = _project_values(
        title=title,
        summary=summary,
        description=description,
        department=department,
        progress=progress,
        english=english,
    )
    chosen = _choose_slug(slug, values["title"], None)
    today = dt.date.today()
    project = Project(
        slug=chosen,
        category=category,
        status=status,
        state=visibility,
        status_changed_on=today,
        status_precision=DatePrecision.day,
        **values,
    )
    db.session.add(project)
    db.session.add(
        ProjectStatusChange(
            project=project,
            changed_on=today,
            precision=DatePrecision.day,
            new_status=status,
            author=values["department"],
        )
    )
    try:
        db.session.flush()
        audit(
            actor,
            "project.create",
            "project",
            project.id,
            slug=chosen,
            status=status.value,
            visibility=visibility.value,
        )
        db.session.commit()
    except IntegrityError as error:
        raise _lost_race(error, chosen, None) from error
    return project


# Form field names for the columns an edit may change.
_FIELD_NAMES = {"category_id": "category", "state": "visibility"}


def edit_project(
    actor: User,
    project: Project,
    *,
    title: str,
    slug: str,
    summary: str,
    description: str,
    category: Category,
    department: str,
    progress: int | None,
    visibility: Visibility,
    english: dict[str, str | None] | None = None,
) -> list[str]:
    """Change a project's texts, category, progress and visibility; return the changed fields.

    `english` holds title_en, summary_en and description_en; left out, they stay as they are.
    """
    if english is None:
        english = {name: getattr(project, name) for name in PROJECT_ENGLISH}
    values = _project_values(
        title=title,
        summary=summary,
        description=description,
        department=department,
        progress=progress,
        english=english,
    )
    values["slug"] = _choose_slug(slug, values["title"], project)
    values["category_id"] = category.id
    values["state"] = visibility
    changed = [name for name, value in values.items() if getattr(project, name) != value]
    if not changed:
        return []
    for name in changed:
        setattr(project, name, values[name])
    fields = [_FIELD_NAMES.get(name, name) for name in changed]
    try:
        db.session.flush()
        audit(actor, "project.edit", "project", project.id, fields=fields)
        db.session.commit()
    except IntegrityError as error:
        raise _lost_race(error, values["slug"], project.id) from error
    return fields


def _checked_status_change(
    project: Project, status: Status, reason: str, changed_on: dt.date | None, author: str
) -> tuple[str, str, dt.date]:
    """Clean and check a status change: a reason, a new status, a date not before the last."""
    reason = limited("reason", clean_text(reason))
    author = limited("author", clean_line(author))
    if not reason:
        raise RuleViolation(
            _l("Please give a reason. It is shown in the public status history."), field="reason"
        )
    if status == project.status:
        raise RuleViolation(
            _l(
                "The project already has the status “%(status)s”. Please choose another one.",
                status=STATUS_LABELS[status],
            ),
            field="status",
        )
    date = past_date(changed_on, "changed_on")
    if date < project.status_changed_on:
        raise RuleViolation(
            _l(
                "The date must not be before the current status began (%(date)s).",
                date=format_date(project.status_changed_on, "medium"),
            ),
            field="changed_on",
        )
    return reason, author, date


def change_project_status(
    actor: User,
    project: Project,
    *,
    status: Status,
    reason: str,
    changed_on: dt.date | None = None,
    author: str = "",
) -> int:
    """Set a new status with a reason and date for the public history; mail the followers.

    Returns how many followers were told. The UPDATE only applies if the status is still the
    one this request saw, so two staff members (or a double click) cannot write it twice.
    """
    reason, author, date = _checked_status_change(project, status, reason, changed_on, author)
    old = project.status
    result = db.session.execute(
        sa.update(Project)
        .where(Project.id == project.id, Project.status == old)
        .values(status=status, status_changed_on=date, status_precision=DatePrecision.day)
    )
    if affected_rows(result) != 1:
        db.session.rollback()
        raise RuleViolation(LOST_RACE)
    db.session.add(
        ProjectStatusChange(
            project_id=project.id,
            changed_on=date,
            precision=DatePrecision.day,
            old_status=old,
            new_status=status,
            reason=reason,
            author=author,
        )
    )
    audit(
        actor,
        "project.status",
        "project",
        project.id,
        reason,
        old=old.value,
        new=status.value,
        date=date.isoformat(),
    )
    try:
        db.session.commit()
    except IntegrityError as error:
        raise _lost_race(error, None, project.id) from error
    return notify_followers(
        project,
        _l("Status changed: %(title)s", title=LocalizedLater(project, "title")),
        "project_status",
        old_status=old,
        new_status=status,
        changed_on=date,
        precision=DatePrecision.day,
        reason=reason,
    )


def post_project_update(
    actor: User,
    project: Project,
    *,
    title: str,
    body: str,
    published_on: dt.date | None = None,
    author: str = "",
    english: dict[str, str | None] | None = None,
) -> int:
    """Publish dated news about a project and mail its followers; return how many were told.

    `english` holds the optional title_en and body_en.
    """
    title = limited("title", clean_line(title))
    body = limited("body", clean_text(body))
    english = english or {}
    translated = english_texts(title_en=english.get("title_en"), body_en=english.get("body_en"))
    author = limited("author", clean_line(author))
    if not title:
        raise RuleViolation(_l("Please enter a title."), field="title")
    date = past_date(published_on, "published_on")
    duplicate = db.session.scalar(
        sa.select(ProjectUpdate.id).where(
            ProjectUpdate.project_id == project.id,
            ProjectUpdate.published_on == date,
            ProjectUpdate.title == title,
            ProjectUpdate.body == body,
        )
    )
    if duplicate is not None:  # a double click or a reloaded form
        raise RuleViolation(_l("This update has already been posted."))
    update = ProjectUpdate(
        project_id=project.id,
        published_on=date,
        title=title,
        body=body,
        author=author,
        **translated,
    )
    db.session.add(update)
    try:
        db.session.flush()
        audit(
            actor,
            "project.update",
            "project",
            project.id,
            update_id=update.id,
            title=title,
            date=date.isoformat(),
        )
        db.session.commit()
    except IntegrityError as error:
        raise _lost_race(error, None, project.id) from error
    return notify_followers(
        project,
        _l("News about %(title)s", title=LocalizedLater(project, "title")),
        "project_update",
        update_title=LocalizedLater({"title": title, **translated}, "title"),
        update_body=LocalizedLater({"body": body, **translated}, "body"),
        published_on=date,
        author=author,
    )


def set_project_visibility(actor: User, project: Project, visibility: Visibility) -> str:
    """Publish, archive, unarchive or withdraw a project to draft; return the audit action."""
    old = project.state
    if old == visibility:
        raise RuleViolation(ALREADY[visibility])
    result = db.session.execute(
        sa.update(Project)
        .where(Project.id == project.id, Project.state == old)
        .values(state=visibility)
    )
    if affected_rows(result) != 1:
        db.session.rollback()
        raise RuleViolation(LOST_RACE)
    action = VISIBILITY_ACTIONS[(old, visibility)]
    audit(actor, action, "project", project.id, old=old.value, new=visibility.value)
    db.session.commit()
    return action
