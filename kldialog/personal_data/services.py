"""Export and erase a person's data across every feature, from one list of sources.

This module sits above the features: it asks each one for its part through `SOURCES`, so no
feature needs to know the others (or the account feature) to be exported or erased. A feature
that stores personal data adds one `Source` here; the export and the erasure then cannot drift
apart, and `tests/test_personal_data.py` checks that every personal column is covered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from kldialog.auth import mfa
from kldialog.auth import services as accounts
from kldialog.auth import sessions as account_sessions
from kldialog.auth.models import User
from kldialog.comments import services as comments
from kldialog.comments.models import Comment
from kldialog.events import registrations as event_registrations
from kldialog.kernel.audit import audit
from kldialog.kernel.db import db, rewrite_tables
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.time import utcnow
from kldialog.notices import preferences as notices
from kldialog.priorities import services as priorities
from kldialog.projects import following as follows
from kldialog.projects import threads
from kldialog.surveys import services as surveys


@dataclass(frozen=True)
class Source:
    """One feature's part of a person's data: export returns sections, erase removes them."""

    name: str
    export: Callable[[User], dict[str, Any]]
    erase: Callable[[User], Any] | None = None


def _comments_export(user: User) -> dict[str, Any]:
    # Comments know their thread, projects know which thread is theirs: joined up here.
    slugs = threads.thread_slugs(
        db.session.scalars(sa.select(Comment.thread_id).where(Comment.author_id == user.id))
    )
    return comments.comments_export(user, slugs.get)


# In export order. The account row comes last in erase order (see erase_person).
SOURCES: tuple[Source, ...] = (
    Source("account", lambda u: {"account": accounts.account_export(u)}),
    Source(
        "following",
        lambda u: {"followed_projects": follows.followed_projects_export(u)},
        follows.erase_follows,
    ),
    Source("reply mail", lambda u: {"notify_replies": u.notify_replies}),
    # Opt-ins for opening notices and the digest, and the notices queued or sent to them.
    Source("notices", notices.preferences_export, notices.erase_notices),
    # "Stay logged in" on a device: the day each token was made (never the hash).
    Source(
        "remember me",
        lambda u: {"remember_me_tokens": account_sessions.remember_tokens_export(u)},
        account_sessions.erase_remember_tokens,
    ),
    # Two-factor login: when it was switched on and last used, unused recovery codes (counted).
    Source("two-factor login", mfa.mfa_export, mfa.erase_mfa),
    # Their comments stay, shown as "deleted account"; their +1s go.
    Source("comments", _comments_export, comments.erase_supports),
    # Closed rounds hold no link to the person; open ones are withdrawn.
    Source(
        "ballots", lambda u: {"ballots": priorities.ballots_of(u)}, priorities.withdraw_open_ballots
    ),
    Source("ratings", lambda u: {"ratings": priorities.ratings_of(u)}, priorities.erase_ratings),
    # Which surveys the person took part in; their answers are not linked to them at all.
    Source(
        "surveys",
        lambda u: {"surveys": surveys.participations_export(u)},
        surveys.erase_participations,
    ),
    # Freed places go to the people waiting.
    Source(
        "events",
        lambda u: {"events": event_registrations.events_export(u)},
        event_registrations.erase_event_registrations,
    ),
)


# Tables in which deleting or emptying an account leaves dead rows with personal data on
# PostgreSQL (the account row's old version with e-mail, name and hash, also in the unique
# index; follows, +1s, ratings, participations, registrations, remember-me tokens).
PERSONAL_TABLES = (
    "user_account",
    "remember_token",
    "mfa_recovery_code",
    "project_follow",
    "comment_support",
    "project_rating",
    "ballot",
    "ballot_choice",
    "survey_participation",
    "event_registration",
)


def rewrite_personal_tables() -> None:
    """Physically remove dead rows of the personal tables (PostgreSQL; SQLite needs nothing).

    Run by the daily `flask maintenance purge`, not on the request that deletes an account: a
    rewrite locks the table for its duration (docs/performance.md has the cost), so the bytes of
    a deleted account survive at most until the next daily run (docs/privacy.md says so).
    """
    rewrite_tables(*PERSONAL_TABLES)


def export_user_data(user: User) -> dict[str, Any]:
    """Return everything stored about the person (DSGVO Art. 15 and 20)."""
    data: dict[str, Any] = {"exported_at": utcnow().isoformat()}
    for source in SOURCES:
        data.update(source.export(user))
    return data


def erase_person(user: User) -> None:
    """Remove the person's data in every feature, then empty the account row (no commit)."""
    for source in SOURCES:
        if source.erase is not None:
            source.erase(user)
    accounts.erase_account_fields(user)


def delete_account(user: User, password: str) -> None:
    """Erase the person's data at once after checking the password; an empty row remains."""
    if not accounts.check_password(user, password):
        raise RuleViolation(_l("The password is not correct."), field="password")
    erase_person(user)
    audit(user, "account.delete", "user", user.id)
    db.session.commit()


def purge_unconfirmed(now: dt.datetime | None = None) -> int:
    """Delete accounts whose address was not confirmed within the configured days."""
    users = accounts.unconfirmed_accounts(now)
    for user in users:
        erase_person(user)
        audit(None, "account.purge_unconfirmed", "user", user.id)
    db.session.commit()
    return len(users)
