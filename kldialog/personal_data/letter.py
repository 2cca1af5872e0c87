"""The data export as residents read it: headings, sentences, dates in their language.

The JSON download stays the exact, machine-readable export (Art. 20 DSGVO). The page turns the
same data into what a letter from the city would say (Art. 15, Art. 12: "in a concise,
transparent, intelligible form, using clear and plain language"): for each kind of data what
it is, why it is kept and for how long, then the entries, with labels instead of field names,
"yes"/"no" instead of True/False and dates without microseconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask_babel import format_date, format_time
from flask_babel import lazy_gettext as _l

from kldialog.kernel.db import db
from kldialog.kernel.time import as_utc
from kldialog.projects.models import Project
from kldialog.templating import CONTENT_LANGUAGE, Localized, localized, written_in

NOT_SET = _l("not stored")

# What each section is, why it is kept and for how long (docs/privacy.md says the same).
SECTIONS: dict[str, tuple[Any, Any]] = {
    "account": (
        _l("Your account"),
        _l(
            "We need these details to let you log in and to write to you. They are kept until "
            "you delete your account; then they are erased at once."
        ),
    ),
    "followed_projects": (
        _l("Projects you follow"),
        _l(
            "You get an e-mail when one of these projects changes. You can stop following at "
            "any time, also with the link in every such e-mail."
        ),
    ),
    "notify_replies": (
        _l("E-mail about replies"),
        _l("Whether we write to you when someone replies to one of your comments."),
    ),
    "notice_settings": (
        _l("E-mail about taking part"),
        _l(
            "Whether we write to you when a priority round or survey opens, and once a week "
            "about changes on the projects you follow. Both are off unless you switch them on."
        ),
    ),
    "notice_mails": (
        _l("Notices queued or sent to you"),
        _l(
            "Kept so that nobody gets the same notice twice; deleted %(days)s days after "
            "sending, and at once when you delete your account.",
            days=60,
        ),
    ),
    "comments": (
        _l("Your comments"),
        _l(
            "Your comments are public. If you delete your account, they stay visible under "
            "\u201cdeleted account\u201d, without your name, so that replies keep their meaning."
        ),
    ),
    "supported_comments": (
        _l("Comments you support"),
        _l("Others only see how many people support a comment, never who."),
    ),
    "ballots": (
        _l("Your ballots in open priority rounds"),
        _l(
            "Until a round ends, your ballot is stored with your account so that you can change "
            "it. When the round ends, the link to you is deleted: we cannot show you ballots "
            "of closed rounds because nobody can tell any more which one was yours."
        ),
    ),
    "ratings": (
        _l("Your ratings of projects"),
        _l(
            "Kept with your account so that you can change them; others only see averages of "
            "at least five ratings."
        ),
    ),
    "surveys": (
        _l("Surveys you took part in"),
        _l(
            "We only store that you took part, so that nobody answers twice. Your answers are "
            "stored without any link to you: neither we nor anyone else can show them to you "
            "or tell which answers are yours."
        ),
    ),
    "remember_me_tokens": (
        _l("Staying logged in"),
        _l(
            "When you log in with \u201cstay logged in\u201d, that device keeps you logged in "
            "for up to 30 days. We store only the day you did so, never anything that could "
            "log you in; logging out on that device or \u201clog out everywhere\u201d deletes it."
        ),
    ),
    "events": (
        _l("Your event registrations"),
        _l("Registrations are deleted the day after the event."),
    ),
}
LABELS: dict[str, Any] = {
    "email": _l("E-mail address"),
    "email_confirmed_at": _l("E-mail address confirmed on"),
    "pending_email": _l("New e-mail address waiting for confirmation"),
    "display_name": _l("Name shown with your contributions"),
    "roles": _l("Roles"),
    "is_verified_resident": _l("Residency confirmed with a code"),
    "accepted_terms_version": _l("Terms of use accepted (version)"),
    "language": _l("Language for e-mail"),
    "blocked_until": _l("Blocked until"),
    "created_at": _l("Created on"),
    "created_on": _l("Created on"),
    "password": _l("Password"),
    "project": _l("Project"),
    "slug": _l("Address"),
    "since": _l("Since"),
    "round": _l("Priority round"),
    "points": _l("Points"),
    "changed_on": _l("Last changed on"),
    "indicator": _l("Question"),
    "score": _l("Your rating (1 to 5)"),
    "rated_on": _l("Rated on"),
    "survey_id": _l("Survey number"),
    "title": _l("Title"),
    "participated_on": _l("Took part on"),
    "event_id": _l("Event number"),
    "starts_at": _l("Begins"),
    "registration": _l("Registration"),
    "registered_at": _l("Registered on"),
    "reminded_at": _l("Reminder sent on"),
    "id": _l("Number"),
    "reply_to": _l("Reply to comment number"),
    "text": _l("Text"),
    "status": _l("Status"),
    "edited_at": _l("Last edited on"),
    "deleted_at": _l("Deleted on"),
    "comment": _l("Comment number"),
    "openings": _l("E-mail when a priority round or survey opens"),
    "weekly_digest": _l("Weekly summary of the projects you follow"),
    "about": _l("About"),
    "kind": _l("Kind"),
    "state": _l("State"),
    "attempts": _l("Attempts to send"),
    "queued_at": _l("Queued on"),
    "sent_at": _l("Sent on"),
}
VALUES: dict[str, dict[str, Any]] = {
    "roles": {
        "resident": _l("resident"),
        "moderator": _l("moderator"),
        "staff": _l("staff"),
        "council": _l("council member"),
        "admin": _l("administrator"),
    },
    "language": {"de": "Deutsch", "en": "English"},
    "status": {
        "pending": _l("waiting for review"),
        "published": _l("published"),
        "hidden": _l("hidden by moderation"),
    },
    "indicator": {
        "benefit": _l("Benefit for Kaiserslautern and its citizens"),
        "data_care": _l("Economical and responsible handling of data"),
    },
    "registration": {
        "pending": _l("waiting for confirmation"),
        "registered": _l("registered"),
        "waiting": _l("on the waiting list"),
    },
    "password": {
        "stored only as an argon2id hash, not included": _l(
            "Stored only in a form from which it cannot be recovered (an argon2id hash); "
            "therefore not shown."
        ),
    },
}
# Keys whose title says what an entry is about (shown as its heading).
TITLE_KEYS = ("title", "project", "round")
# Titles of rounds, events and projects (where no slug) are the city's German content: marked so.
CONTENT_KEYS = ("title", "round", "project")


@dataclass
class Entry:
    """One thing stored (a comment, a follow, ...): a heading and its details."""

    title: str | Localized
    fields: list[tuple[Any, str | Localized]] = field(default_factory=list)
    text: str | None = None  # a comment's own words, shown as a quotation


@dataclass
class Section:
    """One kind of data with what it is for, as details (mapping) or entries (list)."""

    key: str
    heading: Any
    intro: Any
    fields: list[tuple[Any, str | Localized]] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    empty: bool = False


def readable(data: Mapping[str, Any]) -> list[Section]:
    """Turn the export into sections a resident can read."""
    titles = _project_titles(data)
    sections = []
    for key, value in data.items():
        if key == "exported_at":
            continue
        heading, intro = SECTIONS.get(key, (key.replace("_", " ").capitalize(), ""))
        section = Section(key, heading, intro)
        if isinstance(value, Mapping):
            section.fields = _fields(value)
        elif isinstance(value, list):
            section.entries = [_entry(item, titles) for item in value]
            section.empty = not value
        else:
            section.fields = [(_l("Switched on"), show(key, value))]
        sections.append(section)
    return sections


def _fields(
    record: Mapping[str, Any], skip: tuple[str, ...] = ()
) -> list[tuple[Any, str | Localized]]:
    return [
        (
            LABELS.get(key, key.replace("_", " ")),
            written_in(value, CONTENT_LANGUAGE)
            if key in CONTENT_KEYS and value
            else show(key, value),
        )
        for key, value in record.items()
        if key not in skip
    ]


def _project_titles(data: Mapping[str, Any]) -> dict[str, Localized]:
    """Return slug → title in the page's language for the projects the export names (slugs)."""
    slugs = {
        item["project"]
        for value in data.values()
        if isinstance(value, list)
        for item in value
        if isinstance(item, Mapping) and isinstance(item.get("project"), str)
    }
    if not slugs:
        return {}
    rows = db.session.execute(
        sa.select(Project.slug, Project.title, Project.title_en).where(Project.slug.in_(slugs))
    )
    return {row.slug: localized(row._mapping, "title") for row in rows}


def _entry(item: Any, titles: Mapping[str, Localized]) -> Entry:
    if not isinstance(item, Mapping):
        return Entry(title=show("", item))
    title_key = next((key for key in TITLE_KEYS if item.get(key)), None)
    text = item.get("text") if isinstance(item.get("text"), str) else None
    skip = tuple(key for key in (title_key, "text") if key)
    title: str | Localized = show(title_key, item[title_key]) if title_key else ""
    if title_key == "project" and item[title_key] in titles:
        title = titles[item[title_key]]  # a person reads the project's name, not its address
    elif title_key in CONTENT_KEYS:
        title = written_in(str(title), CONTENT_LANGUAGE)
    return Entry(
        title=title,
        fields=_fields(item, skip),
        text=text,
    )


def show(key: str, value: Any) -> str:
    """Return a value as a sentence fragment in the reader's language."""
    if value is None or value == [] or value == "":
        return str(NOT_SET)
    if isinstance(value, bool):
        return str(_l("yes") if value else _l("no"))
    if isinstance(value, list):
        return ", ".join(show(key, item) for item in value)
    names = VALUES.get(key)
    if names is not None and str(value) in names:
        return str(names[str(value)])
    if isinstance(value, str) and (key.endswith("_at") or key == "since"):
        return _moment(value)
    if isinstance(value, str) and key.endswith("_on"):
        return _day(value)
    return str(value)


def _moment(text: str) -> str:
    """Format an ISO timestamp as a local date and time to the minute."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    moment = as_utc(moment)  # Flask-Babel shows it in the city's time zone
    return f"{format_date(moment, 'long')}, {format_time(moment, 'short')}"


def _day(text: str) -> str:
    try:
        return str(format_date(dt.date.fromisoformat(text[:10]), "long"))
    except ValueError:
        return text
