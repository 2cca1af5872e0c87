"""Roadmap use cases: read the roadmap for pages, import and export it as JSON or CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager

from kldialog.extensions import db
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


@dataclass(frozen=True)
class ProjectPage:
    """One page of a filtered project list."""

    items: list[Project]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """Return the number of pages (at least one, so an empty result still has page 1)."""
        return max(1, -(-self.total // self.per_page))

    def window(self, around: int = 2) -> list[int | None]:
        """Return the page numbers to link: first, last and a few around the current one.

        None marks a gap ("…"). Computed here because looping over every page number in the
        template cost more than the query once a list had a hundred pages.
        """
        shown = sorted(
            {1, self.pages}
            | set(range(max(1, self.page - around), min(self.pages, self.page + around) + 1))
        )
        numbers: list[int | None] = []
        for number in shown:
            if numbers and number - (numbers[-1] or 0) > 1:
                numbers.append(None)
            numbers.append(number)
        return numbers


def find_projects(
    *,
    query: str = "",
    category: Category | None = None,
    status: Status | None = None,
    sort: str = "title",
    page: int = 1,
    per_page: int = 20,
) -> ProjectPage:
    """Filter, sort and paginate projects with one count and one page query."""
    conditions: list[sa.ColumnElement[bool]] = [Project.state == Visibility.published]
    if category is not None:
        conditions.append(Project.category_id == category.id)
    if status is not None:
        conditions.append(Project.status == status)
    for word in search_key(query).split():
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(Project.search_text.like(f"%{escaped}%", escape="\\"))
    total = db.session.scalar(sa.select(sa.func.count(Project.id)).where(*conditions)) or 0
    last_page = max(1, -(-total // per_page))
    page = min(max(1, page), last_page)
    order = {
        "title": (Project.title,),
        "status": (Project.status, Project.title),
        "category": (Category.position, Category.name, Project.title),
        "recent": (Project.status_changed_on.desc(), Project.title),
    }[sort]
    items = db.session.scalars(
        sa.select(Project)
        .join(Project.category)
        .options(contains_eager(Project.category))
        .where(*conditions)
        .order_by(*order, Project.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return ProjectPage(items=list(items), total=total, page=page, per_page=per_page)


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
            row = {key: _csv_unescape(value) for key, value in row.items()}
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
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for project in db.session.scalars(
        sa.select(Project).order_by(Project.category_id, Project.title)
    ):
        writer.writerow(
            _csv_safe(value)
            for value in (
                project.slug,
                project.title,
                project.category.name,
                project.status.value,
                project.summary,
                project.description,
                "" if project.progress is None else project.progress,
                project.department,
                "true" if project.is_category_editorial else "false",
            )
        )
    return out.getvalue()


def _csv_safe(value: Any) -> Any:
    """Defuse spreadsheet formulas: a cell starting with = + - @ would run in Excel."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv_unescape(value: str | None) -> str | None:
    """Undo _csv_safe, so an exported CSV imports back to the same text."""
    if value and value[:1] == "'" and value[1:2] in ("=", "+", "-", "@", "\t", "\r"):
        return value[1:]
    return value


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
