"""Reading roadmap files (JSON or CSV) into a validated Roadmap, listing every problem."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kldialog.kernel.csv import unescape_cell
from kldialog.projects.models import (
    DatePrecision,
    Status,
    Visibility,
)
from kldialog.projects.rules import slugify

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
    # Optional English texts (empty: the German text is shown on English pages).
    "title_en",
    "summary_en",
    "description_en",
    "category_en",
)
# Optional import-only column: why the status is what it is (goes into the public history).
CSV_IMPORT_COLUMNS = (*CSV_COLUMNS, "status_reason")
MAX_LENGTHS = {
    "slug": 120,
    "title": 300,
    "category": 120,
    "department": 300,
    "author": 200,
    "title_en": 300,
    "category_en": 120,
}
# A project's optional English texts, as record fields and columns.
PROJECT_ENGLISH = ("title_en", "summary_en", "description_en")


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
    title_en: str = ""
    body_en: str = ""


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
    title_en: str = ""
    summary_en: str = ""
    description_en: str = ""
    category_en: str = ""
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
    # English category names the file states (German name -> English); others stay as they are.
    category_names_en: dict[str, str] = field(default_factory=dict)


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
        title_en = problems.check(here, "title_en", _text, item, "title_en")
        body_en = problems.check(here, "body_en", _text, item, "body_en")
        texts = (body, author, title_en, body_en)
        if date and title and all(text is not None for text in texts):
            entries.append(UpdateEntry(date[0], title, body, author, title_en, body_en))
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
    english = {
        name: problems.check(where, name, _text, record, name)
        for name in (*PROJECT_ENGLISH, "category_en")
    }
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
        title_en=english["title_en"],
        summary_en=english["summary_en"],
        description_en=english["description_en"],
        category_en=english["category_en"],
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
    names_en: dict[str, str] | None = None,
) -> Roadmap:
    """Check cross-record rules (duplicate slugs), then return the roadmap or raise."""
    names_en = {} if names_en is None else names_en
    seen: dict[str, str] = {}
    projects = []
    for where, record in records:
        if record is None:
            continue
        where = f"{where} ('{record.title[:60]}')"
        _english_category(problems, where, names_en, record)
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
    return Roadmap(categories, projects, date, precision, author, status_reason, names_en)


def _english_category(
    problems: _Problems, where: str, names_en: dict[str, str], record: ProjectRecord
) -> None:
    """Take a record's category_en; refuse a second, different English name for a category."""
    english = record.category_en
    if not english:
        return
    known = names_en.setdefault(record.category, english)
    if known != english:
        problems.items.append(
            f"{where}, field 'category_en': {english!r} differs from {known!r}, the English "
            f"name given before for the category {record.category!r}"
        )


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
    names_en: dict[str, str] = {}
    for index, item in enumerate(raw_categories, start=1):
        name, english = item, None
        if isinstance(item, dict):
            name, english = item.get("name"), item.get("name_en")
        here = f"category {index}"
        text = problems.check(here, "name", _text, {"category": name}, "category", required=True)
        if text and text not in categories:
            categories.append(text)
        english = problems.check(here, "name_en", _text, {"category_en": english}, "category_en")
        if text and english:
            names_en[text] = english
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
    return _finish(problems, categories, records, as_of, author, status_reason, names_en)


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
    roadmap = parse_roadmap_json(_load_json(text))
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


def _load_json(text: str) -> Any:
    """Decode an uploaded JSON text; RoadmapError says where it is broken."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise RoadmapError(
            [f"line {error.lineno}, column {error.colno}: invalid JSON ({error.msg})"]
        ) from error
    except ValueError as error:  # e.g. an integer with thousands of digits
        raise RoadmapError([f"invalid JSON ({error})"]) from error
    except RecursionError as error:
        raise RoadmapError(["the JSON is nested too deeply"]) from error
