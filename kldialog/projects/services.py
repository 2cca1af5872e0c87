"""Roadmap use cases: reading, import/export, the staff console, following projects.

Staff changes are audit-logged in the same transaction; followers get e-mail about status
changes and updates.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import current_app, url_for
from flask_babel import format_date, lazy_ngettext
from flask_babel import lazy_gettext as _l
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from kldialog.auth.models import User
from kldialog.kernel.audit import audit
from kldialog.kernel.csv import csv_text, unescape_cell
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation, at_most_characters
from kldialog.kernel.mail import send_mail
from kldialog.kernel.pagination import Page, paginate
from kldialog.kernel.time import utcnow
from kldialog.projects.models import (
    Category,
    DatePrecision,
    Project,
    ProjectFollow,
    ProjectStatusChange,
    ProjectUpdate,
    Status,
    Visibility,
    search_key,
)
from kldialog.templating import STATUS_LABELS

log = logging.getLogger(__name__)

# German labels as the roadmap itself uses them; accepted on import next to the keys.
STATUS_LABELS_DE = {
    Status.planned: "in Planung",
    Status.in_progress: "in Umsetzung",
    Status.completed: "abgeschlossen",
}
CSV_COLUMNS = (
    "slug",
    "title",
    "category",
    "status",
    "summary",
    "description",
    "progress",
    "department",
    "category_inferred",
    "visibility",
)
# Optional import-only column: why the status is what it is (goes into the public history).
CSV_IMPORT_COLUMNS = (*CSV_COLUMNS, "status_reason")
MAX_LENGTHS = {"slug": 120, "title": 300, "category": 120, "department": 300, "author": 200}
SORTS = ("title", "status", "category", "recent")

_TRANSLITERATION = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
)


def slugify(text: str, max_length: int = 120) -> str:
    """Turn a German title into an ASCII slug ("Verkehr & Mobilität" -> "verkehr-mobilitaet")."""
    ascii_text = (
        unicodedata.normalize("NFKD", text.translate(_TRANSLITERATION))
        .encode("ascii", "ignore")
        .decode()
    )
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_length].rstrip("-")


# --- reading the roadmap for pages ------------------------------------------------------


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
    conditions = []
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
) -> Page[Project]:
    """Filter, sort and paginate projects with one count and one page query."""
    conditions: list[sa.ColumnElement[bool]] = [Project.state == Visibility.published]
    if category is not None:
        conditions.append(Project.category_id == category.id)
    if status is not None:
        conditions.append(Project.status == status)
    conditions.extend(_search_conditions(query))
    order = {
        "title": (Project.title,),
        "status": (Project.status, Project.title),
        "category": (Category.position, Category.name, Project.title),
        "recent": (Project.status_changed_on.desc(), Project.title),
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


# --- import ---------------------------------------------------------------------------


class RoadmapError(Exception):
    """A roadmap file is invalid; `problems` names each record or line and field."""

    def __init__(self, problems: list[str]) -> None:
        """Keep every problem, so one run of the import reports all of them."""
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class HistoryEntry:
    """A validated status history entry from a file."""

    changed_on: dt.date
    precision: DatePrecision
    old_status: Status | None
    new_status: Status
    reason: str
    author: str


@dataclass
class UpdateEntry:
    """A validated project update from a file."""

    published_on: dt.date
    title: str
    body: str
    author: str


@dataclass
class ProjectRecord:
    """A validated project from a file; `present` lists the optional fields the file set."""

    slug: str
    title: str
    category: str
    status: Status
    present: set[str]
    summary: str = ""
    description: str = ""
    progress: int | None = None
    department: str = ""
    category_inferred: bool = False
    visibility: Visibility = Visibility.published
    status_reason: str = ""
    history: list[HistoryEntry] = field(default_factory=list)
    updates: list[UpdateEntry] = field(default_factory=list)


@dataclass
class Roadmap:
    """A whole validated roadmap file, ready to apply."""

    categories: list[str]
    projects: list[ProjectRecord]
    as_of: dt.date
    as_of_precision: DatePrecision
    author: str
    status_reason: str = ""


@dataclass(frozen=True)
class ImportReport:
    """What an import changed."""

    created: int
    updated: int
    unchanged: int
    categories_created: int


def parse_status(value: Any) -> Status:
    """Accept a status key or its German label; raise ValueError naming the allowed values."""
    if isinstance(value, str):
        text = value.strip().casefold()
        for status in Status:
            if text in (status.value, STATUS_LABELS_DE[status].casefold()):
                return status
    allowed = ", ".join(f"{s.value} ({STATUS_LABELS_DE[s]})" for s in Status)
    raise ValueError(f"unknown status {value!r}; allowed: {allowed}")


def parse_as_of(value: Any) -> tuple[dt.date, DatePrecision]:
    """Parse "YYYY-MM" (month precision) or "YYYY-MM-DD" (day precision)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            if re.fullmatch(r"\d{4}-\d{2}", text):
                return dt.date.fromisoformat(text + "-01"), DatePrecision.month
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                return dt.date.fromisoformat(text), DatePrecision.day
        except ValueError:
            pass
    raise ValueError(f"invalid date {value!r}; expected YYYY-MM-DD or YYYY-MM")


def _parse_progress(value: Any) -> int | None:
    """Accept 0..100 as a whole number (also "40" or "40 %" from a spreadsheet), or empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError("progress must be a whole number from 0 to 100")
    if isinstance(value, str):
        text = value.strip().removesuffix("%").strip()
        if not re.fullmatch(r"\d{1,3}", text):
            raise ValueError(f"progress must be a whole number from 0 to 100, not {value!r}")
        value = int(text)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= 100:
        raise ValueError(f"progress must be a whole number from 0 to 100, not {value!r}")
    return value


def _parse_visibility(value: Any) -> Visibility:
    """Accept draft, published or archived; missing means published (files list public work)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return Visibility.published
    if isinstance(value, str) and value.strip().lower() in Visibility.__members__:
        return Visibility(value.strip().lower())
    raise ValueError(f"unknown visibility {value!r}; allowed: draft, published, archived")


def _parse_bool(value: Any) -> bool:
    """Accept JSON booleans and the usual spreadsheet spellings."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().casefold()
    if text in ("1", "true", "yes", "ja", "x"):
        return True
    if text in ("", "0", "false", "no", "nein"):
        return False
    raise ValueError(f"expected true or false, not {value!r}")


def _text(record: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    """Return a stripped text field, checking type and maximum length."""
    value = record.get(key)
    if value is None:
        if required:
            raise ValueError("is required")
        return ""
    if not isinstance(value, str):
        raise ValueError(f"must be text, not {type(value).__name__}")
    text = value.strip()
    if required and not text:
        raise ValueError("must not be empty")
    limit = MAX_LENGTHS.get(key)
    if limit is not None and len(text) > limit:
        raise ValueError(f"is {len(text)} characters long; at most {limit} are allowed")
    if "\x00" in text:
        raise ValueError("contains a NUL character")
    return text


class _Problems:
    """Collect problems per record and field instead of stopping at the first one."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def check(self, where: str, field_name: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one parse step; record "where, field: message" if it fails."""
        try:
            return func(*args, **kwargs)
        except ValueError as error:
            self.items.append(f"{where}, field '{field_name}': {error}")
            return None


def _parse_history(problems: _Problems, where: str, raw: Any) -> list[HistoryEntry]:
    """Validate a project's history list from a JSON file."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.items.append(f"{where}, field 'history': must be a list")
        return []
    entries = []
    for index, item in enumerate(raw, start=1):
        here = f"{where}, history entry {index}"
        if not isinstance(item, dict):
            problems.items.append(f"{here}: must be an object")
            continue
        date = problems.check(here, "date", parse_as_of, item.get("date"))
        old = item.get("old_status")
        old_status = (
            None if old in (None, "") else problems.check(here, "old_status", parse_status, old)
        )
        new_status = problems.check(here, "new_status", parse_status, item.get("new_status"))
        reason = problems.check(here, "reason", _text, item, "reason")
        author = problems.check(here, "author", _text, item, "author")
        if date and new_status and reason is not None and author is not None:
            if old_status == new_status:
                problems.items.append(f"{here}: old_status and new_status are the same")
                continue
            entries.append(HistoryEntry(date[0], date[1], old_status, new_status, reason, author))
    return entries


def _parse_updates(problems: _Problems, where: str, raw: Any) -> list[UpdateEntry]:
    """Validate a project's updates list from a JSON file."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.items.append(f"{where}, field 'updates': must be a list")
        return []
    entries = []
    for index, item in enumerate(raw, start=1):
        here = f"{where}, update {index}"
        if not isinstance(item, dict):
            problems.items.append(f"{here}: must be an object")
            continue
        date = problems.check(here, "date", parse_as_of, item.get("date"))
        title = problems.check(here, "title", _text, item, "title", required=True)
        body = problems.check(here, "body", _text, item, "body")
        author = problems.check(here, "author", _text, item, "author")
        if date and title and body is not None and author is not None:
            entries.append(UpdateEntry(date[0], title, body, author))
    return entries


def _parse_project(
    problems: _Problems, where: str, record: Mapping[str, Any]
) -> ProjectRecord | None:
    """Validate one project record (from JSON or a CSV row)."""
    before = len(problems.items)
    title = problems.check(where, "title", _text, record, "title", required=True)
    if title:
        where = f"{where} ('{title[:60]}')"
    slug = problems.check(where, "slug", _text, record, "slug")
    if slug is not None:
        slug = slug or slugify(title or "")
        if title and not slug:
            problems.items.append(f"{where}, field 'slug': cannot derive a slug from the title")
        elif slug and slug != slugify(slug):
            problems.items.append(
                f"{where}, field 'slug': {slug!r} may only contain a-z, 0-9 and '-'"
            )
    category = problems.check(where, "category", _text, record, "category", required=True)
    status = problems.check(where, "status", parse_status, record.get("status"))
    summary = problems.check(where, "summary", _text, record, "summary")
    description = problems.check(where, "description", _text, record, "description")
    department = problems.check(where, "department", _text, record, "department")
    status_reason = problems.check(where, "status_reason", _text, record, "status_reason")
    progress = problems.check(where, "progress", _parse_progress, record.get("progress"))
    inferred = problems.check(
        where, "category_inferred", _parse_bool, record.get("category_inferred")
    )
    visibility = problems.check(where, "visibility", _parse_visibility, record.get("visibility"))
    history = _parse_history(problems, where, record.get("history"))
    updates = _parse_updates(problems, where, record.get("updates"))
    if len(problems.items) > before:
        return None
    present = {key for key, value in record.items() if value not in (None, "")}
    return ProjectRecord(
        slug=slug,
        title=title,
        category=category,
        status=status,
        present=present,
        summary=summary,
        description=description,
        progress=progress,
        department=department,
        category_inferred=inferred,
        visibility=visibility,
        status_reason=status_reason,
        history=history,
        updates=updates,
    )


def _finish(
    problems: _Problems,
    categories: list[str],
    records: list[tuple[str, ProjectRecord | None]],
    as_of: tuple[dt.date, DatePrecision] | None,
    author: str,
    status_reason: str = "",
) -> Roadmap:
    """Check cross-record rules (duplicate slugs), then return the roadmap or raise."""
    seen: dict[str, str] = {}
    projects = []
    for where, record in records:
        if record is None:
            continue
        where = f"{where} ('{record.title[:60]}')"
        if record.slug in seen:
            problems.items.append(
                f"{where}, field 'slug': {record.slug!r} is already used by {seen[record.slug]}"
            )
        seen[record.slug] = where
        projects.append(record)
        if record.category not in categories:
            categories.append(record.category)
    if problems.items:
        raise RoadmapError(problems.items)
    date, precision = as_of or (dt.date.today(), DatePrecision.day)
    return Roadmap(categories, projects, date, precision, author, status_reason)


def parse_roadmap_json(data: Any) -> Roadmap:
    """Validate a roadmap in the JSON shape of the bundled Kaiserslautern file."""
    problems = _Problems()
    if not isinstance(data, dict):
        raise RoadmapError(["the file must contain a JSON object with a 'projects' list"])
    raw_projects = data.get("projects")
    if not isinstance(raw_projects, list):
        raise RoadmapError(["field 'projects': must be a list of project objects"])
    categories: list[str] = []
    raw_categories = data.get("categories", [])
    if not isinstance(raw_categories, list):
        problems.items.append("field 'categories': must be a list of names")
        raw_categories = []
    for index, name in enumerate(raw_categories, start=1):
        if isinstance(name, dict):
            name = name.get("name")
        here = f"category {index}"
        text = problems.check(here, "name", _text, {"category": name}, "category", required=True)
        if text and text not in categories:
            categories.append(text)
    as_of = None
    if data.get("as_of") not in (None, ""):
        as_of = problems.check("file", "as_of", parse_as_of, data.get("as_of"))
    author = problems.check("file", "author", _text, data, "author") or ""
    status_reason = problems.check("file", "status_reason", _text, data, "status_reason") or ""
    records = []
    for index, raw in enumerate(raw_projects, start=1):
        where = f"project {index}"
        if not isinstance(raw, dict):
            problems.items.append(f"{where}: must be an object")
            continue
        records.append((where, _parse_project(problems, where, raw)))
    return _finish(problems, categories, records, as_of, author, status_reason)


def parse_roadmap_csv(
    text: str, *, as_of: str | None = None, author: str = "", status_reason: str = ""
) -> Roadmap:
    """Validate a roadmap CSV (comma or semicolon separated, header row as in CSV_COLUMNS)."""
    problems = _Problems()
    text = text.removeprefix("\ufeff")  # Excel writes a byte order mark
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = [name for name in ("title", "category", "status") if name not in header]
    unknown = [name for name in header if name not in CSV_IMPORT_COLUMNS]
    if missing or unknown:
        message = "line 1 (header):"
        if missing:
            message += f" missing column(s) {', '.join(missing)};"
        if unknown:
            message += f" unknown column(s) {', '.join(unknown)};"
        raise RoadmapError([message + f" expected columns: {', '.join(CSV_IMPORT_COLUMNS)}"])
    reader.fieldnames = header
    records = []
    try:
        for row in reader:
            where = f"line {reader.line_num}"
            if None in row:
                problems.items.append(f"{where}: more values than columns in the header")
                continue
            if all(not (value or "").strip() for value in row.values()):
                continue  # spreadsheets leave blank lines at the end
            row = {key: unescape_cell(value) for key, value in row.items()}
            records.append((where, _parse_project(problems, where, row)))
    except csv.Error as error:
        raise RoadmapError([f"line {reader.line_num}: {error}"]) from error
    parsed_as_of = None
    if as_of:
        parsed_as_of = problems.check("option", "as_of", parse_as_of, as_of)
    return _finish(problems, [], records, parsed_as_of, author, status_reason)


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
            )
        )


def _update_project(
    roadmap: Roadmap, record: ProjectRecord, project: Project, category: Category
) -> bool:
    """Apply the fields the file states to an existing project; return whether anything changed."""
    changes: dict[str, Any] = {"title": record.title, "category_id": category.id}
    for name in ("summary", "description", "department", "progress"):
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
            }
        )
    return {
        "as_of": dt.date.today().isoformat(),
        "statuses": {status.value: STATUS_LABELS_DE[status] for status in Status},
        "categories": [category.name for category in categories],
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
            )
        )
    return csv_text(rows, lineterminator="\n")


def _format_date(date: dt.date, precision: DatePrecision) -> str:
    """Write a history date back with the precision it was given in."""
    return date.strftime("%Y-%m") if precision is DatePrecision.month else date.isoformat()


# --- following ------------------------------------------------------------------------


def followed_projects_export(user: Any) -> list[dict[str, Any]]:
    """Return the projects a person follows, for their data export."""
    follows = db.session.scalars(
        sa.select(ProjectFollow)
        .where(ProjectFollow.user_id == user.id)
        .order_by(ProjectFollow.created_at)
    )
    return [
        {"project": f.project.title, "slug": f.project.slug, "since": f.created_at.isoformat()}
        for f in follows
    ]


def erase_follows(user: Any) -> None:
    """Delete a person's follows (account deletion)."""
    db.session.execute(sa.delete(ProjectFollow).where(ProjectFollow.user_id == user.id))


def is_following(user: Any, project: Project) -> bool:
    """Return whether a logged-in person follows a project."""
    if not getattr(user, "is_authenticated", False):
        return False
    return (
        db.session.scalar(
            sa.select(ProjectFollow.user_id).where(
                ProjectFollow.user_id == user.id, ProjectFollow.project_id == project.id
            )
        )
        is not None
    )


def followed_projects(user: Any) -> list[Project]:
    """Return the public projects a person follows, by title, in one query."""
    return list(
        db.session.scalars(
            sa.select(Project)
            .join(ProjectFollow, ProjectFollow.project_id == Project.id)
            .where(ProjectFollow.user_id == user.id, Project.state != Visibility.draft)
            .order_by(Project.title, Project.id)
        )
    )


def follow_project(user: Any, project: Project) -> bool:
    """Follow a project; return False if the person already followed it.

    A plain INSERT rather than session.add: two parallel clicks both try it, the primary key
    lets one win, and the other is simply "already following".
    """
    try:
        db.session.execute(
            sa.insert(ProjectFollow).values(
                user_id=user.id, project_id=project.id, created_at=utcnow()
            )
        )
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def unfollow_project(user: Any, project: Project) -> bool:
    """Stop following a project; return False if the person did not follow it."""
    result = db.session.execute(
        sa.delete(ProjectFollow).where(
            ProjectFollow.user_id == user.id, ProjectFollow.project_id == project.id
        )
    )
    db.session.commit()
    return bool(result.rowcount)


def _follow_fingerprint(since: dt.datetime) -> str:
    """Digest the moment a follow began: a link from an earlier follow stops working."""
    if since.tzinfo is not None:  # PostgreSQL returns aware datetimes, SQLite naive UTC ones
        since = since.astimezone(dt.UTC).replace(tzinfo=None)
    return hashlib.sha256(since.isoformat().encode()).hexdigest()[:16]


def _unsubscribe_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="kldialog-unsubscribe")


def unsubscribe_token(user_id: int, project_id: int, since: dt.datetime) -> str:
    """Sign (person, project, start of the follow) for the one-click unsubscribe link.

    It never expires (old mails must keep working) but works once: after unfollowing, or
    after following again, the follow it names no longer exists.
    """
    return _unsubscribe_serializer().dumps([user_id, project_id, _follow_fingerprint(since)])


def follow_for_token(token: str) -> ProjectFollow:
    """Return the follow an unsubscribe link stands for; RuleViolation if wrong or used."""
    invalid = RuleViolation(
        _l(
            "This unsubscribe link is not valid. Please check that it is complete, or log in "
            "and manage the projects you follow in your account."
        )
    )
    if len(token) > 300:
        raise invalid
    try:
        data = _unsubscribe_serializer().loads(token)
    except BadData as error:
        raise invalid from error
    if not (
        isinstance(data, list)
        and len(data) == 3
        and all(type(value) is int and 0 < value <= MAX_ID for value in data[:2])
        and isinstance(data[2], str)
    ):
        raise invalid
    user_id, project_id, fingerprint = data
    follow = db.session.get(ProjectFollow, (user_id, project_id))
    if follow is None or not hmac.compare_digest(
        fingerprint, _follow_fingerprint(follow.created_at)
    ):
        raise RuleViolation(
            _l("This link has already been used: you get no more e-mail about this project.")
        )
    return follow


def unsubscribe(token: str) -> Project:
    """Unfollow with a link from a mail (no login: the signed token is the permission)."""
    follow = follow_for_token(token)
    project = follow.project
    db.session.execute(
        sa.delete(ProjectFollow).where(
            ProjectFollow.user_id == follow.user_id,
            ProjectFollow.project_id == follow.project_id,
        )
    )
    db.session.commit()
    return project


def notify_followers(project: Project, subject: Any, template: str, **context: Any) -> int:
    """Mail every follower of a public project in their language; return how many were sent.

    One query loads the recipients with everything the mail needs. Deleted accounts and
    addresses never confirmed get nothing. A failing mail is logged and skipped: the change
    it announces is already saved and the other followers should still hear of it.
    """
    project_id, slug, title, state = project.id, project.slug, project.title, project.state
    if state is Visibility.draft:
        return 0
    recipients = db.session.execute(
        sa.select(User.id, User.email, User.display_name, User.language, ProjectFollow.created_at)
        .join(ProjectFollow, ProjectFollow.user_id == User.id)
        .where(
            ProjectFollow.project_id == project_id,
            User.deleted_at.is_(None),
            User.email_confirmed_at.is_not(None),
            User.email.is_not(None),
        )
        .order_by(User.id)
    ).all()
    project_url = url_for("projects.detail", slug=slug, _external=True)
    sent = 0
    for user_id, email, name, language, since in recipients:
        url = url_for(
            "projects.unsubscribe",
            token=unsubscribe_token(user_id, project_id, since),
            _external=True,
        )
        try:
            send_mail(
                email,
                subject,
                template,
                language=language or current_app.config["BABEL_DEFAULT_LOCALE"],
                headers={
                    "List-Unsubscribe": f"<{url}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
                name=name,
                project_title=title,
                project_url=project_url,
                unsubscribe_url=url,
                **context,
            )
        except Exception:
            log.exception("Could not mail follower %s about project %s", user_id, project_id)
        else:
            sent += 1
    return sent


# --- staff console: projects --------------------------------------------------------------

# Addresses staff type: lower-case words joined by single hyphens ("digitale-schule").
SLUG_RULE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# The longest texts the console accepts; the forms say the same, the services make sure.
TEXT_LIMITS = {
    "title": 300,
    "slug": 120,
    "summary": 2000,
    "description": 20000,
    "department": 300,
    "reason": 2000,
    "body": 20000,
    "author": 200,
    "name": 120,
}
MAX_ID = 2**31 - 1  # ids beyond a 32-bit integer do not exist (and would overflow queries)
STAFF_SORTS = ("recent", "title")
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
LOST_RACE = _l(
    "Your change could not be saved because the data was changed at the same time. "
    "Please check the page and try again."
)


def clean_line(text: str | None) -> str:
    """Normalise one-line text: NFC, runs of whitespace folded to one space, trimmed."""
    return " ".join(unicodedata.normalize("NFC", text or "").split())


def clean_text(text: str | None) -> str:
    """Normalise multi-line text: NFC, Unix line ends, no trailing spaces or outer blank lines."""
    text = unicodedata.normalize("NFC", text or "").replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def _limited(kind: str, value: str, field_name: str | None = None) -> str:
    """Refuse a text longer than the console accepts for its kind."""
    limit = TEXT_LIMITS[kind]
    if len(value) > limit:
        raise RuleViolation(at_most_characters(limit), field=field_name or kind)
    return value


def _past_date(value: dt.date | None, field_name: str) -> dt.date:
    """Return the date (today if empty); refuse dates in the future."""
    today = dt.date.today()
    date = value or today
    if date > today:
        raise RuleViolation(_l("The date must not be in the future."), field=field_name)
    return date


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


def get_project(project_id: int) -> Project | None:
    """Return a project by id (any visibility), or None, also for absurd ids."""
    if not 0 < project_id <= MAX_ID:
        return None
    return db.session.get(Project, project_id)


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
        _limited("slug", requested)
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


def _project_values(
    *, title: str, summary: str, description: str, department: str, progress: int | None
) -> dict[str, Any]:
    """Clean and check the texts of a project."""
    values = {
        "title": _limited("title", clean_line(title)),
        "summary": _limited("summary", clean_text(summary)),
        "description": _limited("description", clean_text(description)),
        "department": _limited("department", clean_line(department)),
        "progress": progress,
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
) -> Project:
    """Add a project (a draft unless published explicitly) with its first history entry."""
    values = _project_values(
        title=title,
        summary=summary,
        description=description,
        department=department,
        progress=progress,
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
) -> list[str]:
    """Change a project's texts, category, progress and visibility; return the changed fields."""
    values = _project_values(
        title=title,
        summary=summary,
        description=description,
        department=department,
        progress=progress,
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
    reason = _limited("reason", clean_text(reason))
    author = _limited("author", clean_line(author))
    if not reason:
        raise RuleViolation(
            _l("Please give a reason. It is shown in the public status history."), field="reason"
        )
    old = project.status
    if status == old:
        raise RuleViolation(
            _l(
                "The project already has the status “%(status)s”. Please choose another one.",
                status=STATUS_LABELS[status],
            ),
            field="status",
        )
    date = _past_date(changed_on, "changed_on")
    if date < project.status_changed_on:
        raise RuleViolation(
            _l(
                "The date must not be before the current status began (%(date)s).",
                date=format_date(project.status_changed_on, "medium"),
            ),
            field="changed_on",
        )
    result = db.session.execute(
        sa.update(Project)
        .where(Project.id == project.id, Project.status == old)
        .values(status=status, status_changed_on=date, status_precision=DatePrecision.day)
    )
    if result.rowcount != 1:
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
        _l("Status changed: %(title)s", title=project.title),
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
) -> int:
    """Publish dated news about a project and mail its followers; return how many were told."""
    title = _limited("title", clean_line(title))
    body = _limited("body", clean_text(body))
    author = _limited("author", clean_line(author))
    if not title:
        raise RuleViolation(_l("Please enter a title."), field="title")
    date = _past_date(published_on, "published_on")
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
        project_id=project.id, published_on=date, title=title, body=body, author=author
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
        _l("News about %(title)s", title=project.title),
        "project_update",
        update_title=title,
        update_body=body,
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
    if result.rowcount != 1:
        db.session.rollback()
        raise RuleViolation(LOST_RACE)
    action = VISIBILITY_ACTIONS[(old, visibility)]
    audit(actor, action, "project", project.id, old=old.value, new=visibility.value)
    db.session.commit()
    return action


# --- staff console: categories ------------------------------------------------------------


def categories_with_counts() -> list[tuple[Category, int]]:
    """Return every category in roadmap order with its number of projects (all visibilities)."""
    rows = db.session.execute(
        sa.select(Category, sa.func.count(Project.id))
        .outerjoin(Project, Project.category_id == Category.id)
        .group_by(Category.id)
        .order_by(Category.position, Category.name, Category.id)
    ).all()
    return [(category, count) for category, count in rows]


def get_category(category_id: int) -> Category | None:
    """Return a category by id, or None, also for absurd ids."""
    if not 0 < category_id <= MAX_ID:
        return None
    return db.session.get(Category, category_id)


def _category_name(name: str, current: Category | None) -> str:
    """Clean a category name and refuse one that exists already (ignoring case and accents)."""
    name = _limited("name", clean_line(name))
    if not name:
        raise RuleViolation(_l("Please enter a name."), field="name")
    folded = search_key(name)
    for other in db.session.scalars(sa.select(Category)):
        if other is not current and search_key(other.name) == folded:
            raise RuleViolation(
                _l("A category called “%(name)s” already exists.", name=other.name), field="name"
            )
    return name


def _category_taken(name: str) -> RuleViolation:
    db.session.rollback()
    return RuleViolation(
        _l("A category called “%(name)s” already exists.", name=name), field="name"
    )


def create_category(actor: User, name: str) -> Category:
    """Add a category at the end of the roadmap order."""
    name = _category_name(name, None)
    taken = set(db.session.scalars(sa.select(Category.slug)))
    slug = base = slugify(name, 80) or "kategorie"
    counter = 2
    while slug in taken:
        slug, counter = f"{base}-{counter}", counter + 1
    last = db.session.scalar(sa.select(sa.func.max(Category.position)))
    category = Category(name=name, slug=slug, position=0 if last is None else last + 1)
    db.session.add(category)
    try:
        db.session.flush()
        audit(actor, "category.create", "category", category.id, name=name, slug=slug)
        db.session.commit()
    except IntegrityError as error:
        raise _category_taken(name) from error
    return category


def rename_category(actor: User, category: Category, name: str) -> bool:
    """Rename a category (its address stays, so links keep working); False if unchanged."""
    name = _category_name(name, category)
    if name == category.name:
        return False
    old = category.name
    category.name = name
    audit(actor, "category.rename", "category", category.id, old=old, new=name)
    try:
        db.session.commit()
    except IntegrityError as error:
        raise _category_taken(name) from error
    return True


def move_category(actor: User, category: Category, offset: int) -> bool:
    """Move a category up (-1) or down (+1) in the roadmap order; False at either end."""
    ordered = all_categories()
    index = next(i for i, item in enumerate(ordered) if item.id == category.id)
    target = index + offset
    if offset not in (-1, 1) or not 0 <= target < len(ordered):
        return False
    ordered[index], ordered[target] = ordered[target], ordered[index]
    for position, item in enumerate(ordered):
        if item.position != position:
            item.position = position
    audit(actor, "category.move", "category", category.id, position=target + 1)
    db.session.commit()
    return True


def delete_category(actor: User, category: Category) -> None:
    """Delete a category that has no projects; refuse with a message otherwise."""
    count = (
        db.session.scalar(
            sa.select(sa.func.count(Project.id)).where(Project.category_id == category.id)
        )
        or 0
    )
    if count:
        raise RuleViolation(
            lazy_ngettext(
                "The category “%(name)s” still contains %(num)d project. "
                "Move it to another category first.",
                "The category “%(name)s” still contains %(num)d projects. "
                "Move them to other categories first.",
                count,
                name=category.name,
            )
        )
    audit(actor, "category.delete", "category", category.id, name=category.name)
    db.session.delete(category)
    try:
        db.session.commit()
    except IntegrityError as error:
        raise _lost_race(error, None, None) from error


# --- staff console: import in the browser ------------------------------------------------


def read_roadmap_upload(
    data: bytes, filename: str, *, as_of: str = "", author: str = "", status_reason: str = ""
) -> tuple[Roadmap, str]:
    """Parse an uploaded roadmap (JSON or CSV, by its ending or else its content).

    The same parsers as `flask roadmap import`; raises RoadmapError listing every problem.
    Returns the roadmap and the format it was read as.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RoadmapError(
            [f"byte {error.start}: the file is not UTF-8 text; save it as UTF-8 (CSV UTF-8)"]
        ) from error
    if not text.strip():
        raise RoadmapError(["the file is empty"])
    if "\x00" in text:
        raise RoadmapError(["the file contains NUL characters; it is not a text file"])
    ending = filename.lower().rsplit(".", 1)[-1] if "." in filename else ""
    if ending in ("csv", "json"):
        fmt = ending
    else:
        fmt = "json" if text.lstrip().startswith(("{", "[")) else "csv"
    if fmt == "csv":
        roadmap = parse_roadmap_csv(
            text, as_of=as_of or None, author=author, status_reason=status_reason
        )
        return roadmap, fmt
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise RoadmapError(
            [f"line {error.lineno}, column {error.colno}: invalid JSON ({error.msg})"]
        ) from error
    except ValueError as error:  # e.g. an integer with thousands of digits
        raise RoadmapError([f"invalid JSON ({error})"]) from error
    except RecursionError as error:
        raise RoadmapError(["the JSON is nested too deeply"]) from error
    roadmap = parse_roadmap_json(parsed)
    if as_of:
        try:
            roadmap.as_of, roadmap.as_of_precision = parse_as_of(as_of)
        except ValueError as error:
            raise RoadmapError([f"option, field 'as_of': {error}"]) from error
    if author:
        roadmap.author = author
    if status_reason and not roadmap.status_reason:
        roadmap.status_reason = status_reason
    return roadmap, fmt


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
            _l("Status changed: %(title)s", title=project.title),
            "project_status",
            **context,
        )
    return report


# --- discussion ---------------------------------------------------------------------------


def thread_of(project: Project, create: bool = False) -> Any:
    """Return the project's discussion thread; with create, open one if it has none (no commit)."""
    if project.thread is None and create:
        from kldialog.comments.services import open_thread

        project.thread = open_thread("project")
        db.session.flush()
    return project.thread


def project_of_thread(thread_id: int) -> Project | None:
    """Return the project that owns a discussion thread."""
    return db.session.scalar(sa.select(Project).where(Project.thread_id == thread_id))


def thread_slugs(thread_ids: Any) -> dict[int, str]:
    """Return {thread id: project slug} for these threads (one query)."""
    rows = db.session.execute(
        sa.select(Project.thread_id, Project.slug).where(Project.thread_id.in_(list(thread_ids)))
    )
    return {thread_id: slug for thread_id, slug in rows}
