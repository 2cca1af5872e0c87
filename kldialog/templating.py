"""Template globals and filters shared by every page."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask, request
from flask_babel import format_date, get_locale
from flask_babel import lazy_gettext as _l

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
# Headings and labels for the "my data" page; unknown keys are shown as they are.
DATA_SECTION_NAMES = {
    "account": _l("Account"),
    "followed_projects": _l("Projects I follow"),
    "notify_replies": _l("E-mail me when someone replies to my comments"),
    "ballots": _l("My ballots in open priority rounds"),
    "ratings": _l("My ratings of projects"),
    "surveys": _l("Surveys I took part in (the answers are not linked to me)"),
    "events": _l("My event registrations"),
}
DATA_FIELD_NAMES = {
    "email": _l("E-mail address"),
    "email_confirmed_at": _l("E-mail confirmed at"),
    "pending_email": _l("New e-mail address waiting for confirmation"),
    "display_name": _l("Display name"),
    "roles": _l("Roles"),
    "is_verified_resident": _l("Verified resident"),
    "accepted_terms_version": _l("Accepted terms of use (version)"),
    "language": _l("Language"),
    "blocked_until": _l("Blocked until"),
    "created_at": _l("Created at"),
    "password": _l("Password"),
    "project": _l("Project"),
    "slug": _l("Address"),
    "since": _l("Since"),
    "round": _l("Priority round"),
    "points": _l("Points"),
    "changed_on": _l("Last changed on"),
    "indicator": _l("Indicator"),
    "score": _l("Rating"),
    "rated_on": _l("Rated on"),
    "survey_id": _l("Survey number"),
    "title": _l("Title"),
    "participated_on": _l("Took part on"),
    "event_id": _l("Event number"),
    "starts_at": _l("Starts at"),
    "registration": _l("Registration"),
    "registered_at": _l("Registered at"),
    "reminded_at": _l("Reminder sent at"),
}


def role_names(user: Any) -> list[str]:
    """Return the translated names of a user's roles."""
    return [str(ROLE_LABELS[role]) for role in user.role_list()]


def history_date(date: dt.date, precision: DatePrecision | str = DatePrecision.day) -> str:
    """Format a history date as exactly as it is known ("Juni 2019" or "26.11.2026")."""
    if DatePrecision(precision) is DatePrecision.month:
        return format_date(date, "LLLL yyyy")
    return format_date(date, "medium")


def iso_date(value: str) -> str:
    """Format an ISO date from config in the locale; show anything else unchanged."""
    try:
        return format_date(dt.date.fromisoformat(str(value)), "medium")
    except ValueError:
        return str(value)


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
        iso_date=iso_date,
        role_names=role_names,
        data_section_names=DATA_SECTION_NAMES,
        data_field_names=DATA_FIELD_NAMES,
        language_names=LANGUAGE_NAMES,
        status_labels=STATUS_LABELS,
        moderation_action_labels=MODERATION_ACTION_LABELS,
        status_badges=STATUS_BADGES,
        statuses=list(Status),
        can=permissions,
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
