"""Template globals and filters shared by every page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import partial
from typing import Any

from flask import Flask, current_app, request
from flask_babel import format_date, format_time, get_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from kldialog import permissions
from kldialog.auth.models import Role
from kldialog.moderation.models import Action
from kldialog.projects.models import DatePrecision, Status

STATUS_LABELS = {
    Status.planned: _l("planned"),
    Status.in_progress: _l("in progress"),
    Status.completed: _l("completed"),
}
# KERN badge variants: colour is only a second signal, the label always says the status.
STATUS_BADGES = {
    Status.planned: "info",
    Status.in_progress: "warning",
    Status.completed: "success",
}
# What a moderator did, as the author and the moderation log read it.
MODERATION_ACTION_LABELS = {
    Action.approve: _l("approved"),
    Action.hide: _l("hidden"),
    Action.restore: _l("restored"),
    Action.dismiss: _l("reports dismissed"),
    Action.block: _l("author blocked"),
    Action.appeal_upheld: _l("appeal upheld, comment restored"),
    Action.appeal_rejected: _l("appeal rejected, comment stays hidden"),
}
LANGUAGE_NAMES = {"de": "Deutsch", "en": "English"}
ROLE_LABELS = {
    Role.resident: _l("resident"),
    Role.moderator: _l("moderator"),
    Role.staff: _l("staff"),
    Role.council: _l("council member"),
    Role.admin: _l("administrator"),
}


def role_names(user: Any) -> list[str]:
    """Return the translated names of a user's roles."""
    return [str(ROLE_LABELS[role]) for role in user.role_list()]


def history_date(date: dt.date, precision: DatePrecision | str = DatePrecision.day) -> str:
    """Format a history date as exactly as it is known ("Juni 2019" or "26.11.2026")."""
    if DatePrecision(precision) is DatePrecision.month:
        return format_date(date, "LLLL yyyy")
    return format_date(date, "medium")


def moment(value: dt.datetime) -> str:
    """Format a time for residents: the date with the year, the time to the minute."""
    return f"{format_date(value, 'medium')}, {format_time(value, 'short')}"


def iso_date(value: str) -> str:
    """Format an ISO date from config in the locale; show anything else unchanged."""
    try:
        return format_date(dt.date.fromisoformat(str(value)), "medium")
    except ValueError:
        return str(value)


# Roadmap, rounds and surveys are written in German; `<field>_en` holds the optional English.
CONTENT_LANGUAGE = "de"


class Localized:
    """A text in the page's language if there is one, else the German one, marked lang="de"."""

    def __init__(self, text: str, lang: str, page_lang: str) -> None:
        """Keep the text, the language it is in and the language of the page."""
        self.text = text
        self.lang = lang
        self.page_lang = page_lang

    @property
    def foreign(self) -> bool:
        """Return whether the text is not in the page's language (it then needs lang)."""
        return self.lang != self.page_lang

    @property
    def lang_attr(self) -> Markup:
        """Return ` lang="de"` for an element that holds the text, or nothing."""
        return Markup(' lang="%s"') % self.lang if self.foreign else Markup("")

    def truncated(self, length: int) -> Localized:
        """Return the text cut at a word near `length` characters, as Jinja's truncate does."""
        text = self.text
        if len(text) > length + 5:  # Jinja's leeway: no cut for a few characters more
            text = text[: length - 3].rsplit(" ", 1)[0] + "..."
        return Localized(text, self.lang, self.page_lang)

    def __html__(self) -> Markup:
        """Render the text, in a span with lang when it is not in the page's language."""
        if self.foreign:
            return Markup('<span lang="%s">%s</span>') % (self.lang, self.text)
        return escape(self.text)

    def __str__(self) -> str:
        """Return the plain text (for <title>, attributes and mail, where no lang fits)."""
        return self.text

    def __bool__(self) -> bool:
        """Return whether there is any text."""
        return bool(self.text)

    def __eq__(self, other: object) -> bool:
        """Compare as a value: the same text in the same language on the same page."""
        if not isinstance(other, Localized):
            return NotImplemented
        return (self.text, self.lang, self.page_lang) == (other.text, other.lang, other.page_lang)

    def __hash__(self) -> int:
        """Hash as the value it is (see __eq__)."""
        return hash((self.text, self.lang, self.page_lang))

    def __repr__(self) -> str:
        """Show the text and its language (stable, so tables that hold it compare as text)."""
        return f"Localized({self.text!r}, {self.lang!r})"


def page_language() -> str:
    """Return the language pages and mails are rendered in right now."""
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])


def localized(item: Any, field: str) -> Localized:
    """Return `item.<field>` (or `item[field]`) in the page's language, else the German one."""
    language = page_language()
    read = item.get if isinstance(item, Mapping) else partial(getattr, item)
    if language != CONTENT_LANGUAGE:
        translated = read(f"{field}_{language}", None)
        if translated:
            return Localized(translated, language, language)
    return Localized(read(field, None) or "", CONTENT_LANGUAGE, language)


def written_in(text: str, lang: str) -> Localized:
    """Return a text known to be in `lang` (an event's own language), marked where it differs."""
    return Localized(text or "", lang, page_language())


def localized_text(item: Any, field: str) -> str:
    """Return `item.<field>` as plain text in the page's language (German as fallback)."""
    return localized(item, field).text


class LocalizedLater:
    """A text that picks its language when made a string: a mail in the recipient's language."""

    def __init__(self, item: Any, field: str) -> None:
        """Copy the German and English texts now (the object may be expired at sending)."""
        self.field = field
        read = item.get if isinstance(item, Mapping) else partial(getattr, item)
        self.texts = {name: read(name, None) for name in (field, f"{field}_en")}

    def __str__(self) -> str:
        """Return the text in the language of the moment (force_locale while mailing)."""
        return localized_text(self.texts, self.field)

    def __bool__(self) -> bool:
        """Return whether there is text in the language of the moment."""
        return bool(str(self))


def register_template_helpers(app: Flask) -> None:
    """Expose labels, permissions and formatting helpers to every template."""

    @app.context_processor
    def inject() -> dict[str, Any]:
        return {
            "current_language": str(get_locale() or app.config["BABEL_DEFAULT_LOCALE"]),
            "languages": app.config["LANGUAGES"],
            "site_name": app.config["SITE_NAME"],
            "city_name": app.config["CITY_NAME"],
            "demo_mode": app.config["DEMO"],
            "current_path": request.full_path.rstrip("?") if request else "/",
        }

    # Globals (unlike context variables) are visible inside imported macros too.
    app.jinja_env.globals.update(
        history_date=history_date,
        localized=localized,
        written_in=written_in,
        iso_date=iso_date,
        role_names=role_names,
        language_names=LANGUAGE_NAMES,
        status_labels=STATUS_LABELS,
        moderation_action_labels=MODERATION_ACTION_LABELS,
        status_badges=STATUS_BADGES,
        statuses=list(Status),
        can=permissions,
    )
    app.jinja_env.filters["moment"] = moment
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
