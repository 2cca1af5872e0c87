"""The permission matrix: every public predicate × every kind of person × object state.

Each case writes out the exact set of people for whom the predicate is true; a test reads
permissions.py and fails if a public predicate has no case here.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest
from flask import Flask
from flask_login import AnonymousUserMixin

from kldialog import permissions
from kldialog.auth.models import Role, User
from kldialog.projects.models import Visibility
from kldialog.windows.models import Eligibility

TERMS = "2026-11"
NOW = dt.datetime.now(dt.UTC)


def person(*roles: Role, **fields: object) -> User:
    """Build an (unsaved) confirmed account with the current terms; every person has id 1."""
    flags = Role.resident
    for role in roles:
        flags |= role
    values = {
        "id": 1,
        "email": "p@example.org",
        "display_name": "P",
        "roles": int(flags),
        "email_confirmed_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "accepted_terms_version": TERMS,
        "is_verified": False,
        "blocked_until": None,
        "deleted_at": None,
        "session_token": "t",
    }
    values.update(fields)
    return User(**values)


PEOPLE = {
    "anonymous": AnonymousUserMixin(),
    "unconfirmed": person(email_confirmed_at=None),
    "old_terms": person(accepted_terms_version="2020-01"),
    "blocked": person(blocked_until=dt.datetime(2999, 1, 1, tzinfo=dt.UTC)),
    "block_expired": person(blocked_until=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)),
    "resident": person(),
    "verified": person(is_verified=True),
    "moderator": person(Role.moderator),
    "staff": person(Role.staff),
    "council": person(Role.council),
    "admin": person(Role.admin),
    "deleted": person(roles=0, deleted_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC)),
}
PROJECTS = {state.value: SimpleNamespace(state=state) for state in Visibility}


@pytest.fixture(autouse=True)
def _context(app: Flask) -> Iterator[None]:
    app.config["TERMS_VERSION"] = TERMS
    with app.app_context():
        yield


def allowed(predicate, *args) -> set[str]:  # noqa: ANN001
    """Return the names of the people for whom predicate(person, *args) is true."""
    return {name for name, user in PEOPLE.items() if predicate(user, *args)}


# The groups, written out (every expected value below is one of these or a literal set).
EVERYONE = set(PEOPLE)
NOBODY: set[str] = set()
ACCOUNTS = EVERYONE - {"anonymous", "deleted"}  # logged in, not deleted (also blocked ones)
TAKE_PART = {"block_expired", "resident", "verified", "moderator", "staff", "council", "admin"}
STAFF = {"staff", "admin"}
ADMIN = {"admin"}
MODERATORS = {"moderator", "admin"}


def comment(
    status: str = "published", *, own: bool = False, deleted: bool = False, age_minutes: int = 1
) -> SimpleNamespace:
    """Build a comment-like object: own ones are by id 1 (every test person), others by id 2."""
    return SimpleNamespace(
        author_id=1 if own else 2,
        status=SimpleNamespace(value=status),
        deleted_at=NOW if deleted else None,
        created_at=NOW - dt.timedelta(minutes=age_minutes),
    )


def thread(closed: bool = False) -> SimpleNamespace:
    """Build a thread-like object."""
    return SimpleNamespace(is_closed=closed)


def windowed(
    state: str = "published",
    *,
    open_now: bool = True,
    closed: bool = False,
    eligibility: str = "resident",
    totals: bool = False,
) -> SimpleNamespace:
    """Build a round- or survey-like object: state, time window, eligibility, live totals."""
    return SimpleNamespace(
        state=SimpleNamespace(value=state),
        is_open=lambda: open_now,
        is_closed=lambda: closed,
        eligibility=Eligibility(eligibility),
        show_running_totals=totals,
    )


WITH_MFA: dict[str, Any] = {"mfa_enabled_at": NOW, "mfa_secret_sealed": b"sealed"}


def account(*roles: Role, **fields: object) -> User:
    """Build a target account with id 2 (not the acting person)."""
    return person(*roles, id=2, **fields)


def event(state: str, *, starts_in: dt.timedelta, hours: int = 2) -> Any:
    """Build an event whose predicates see state and time as the model does."""
    from kldialog.events.models import Event, EventState

    start = NOW + starts_in
    return Event(
        state=EventState(state), starts_at=start, ends_at=start + dt.timedelta(hours=hours)
    )


class Case(NamedTuple):
    """One predicate on one object state, with the exact set of people it allows."""

    predicate: Any
    state: str
    args: tuple[Any, ...]
    expected: set[str]


P = permissions
DELETED_ACCOUNT = account(roles=0, deleted_at=NOW)
EVENTS = [
    # (state, event, can_view_event, can_register, can_register_by_email, can_publish_summary);
    # a deleted account cannot be logged in: it is a visitor like any other.
    ("draft", event("draft", starts_in=dt.timedelta(days=3)), STAFF, NOBODY, NOBODY, NOBODY),
    (
        "upcoming",
        event("published", starts_in=dt.timedelta(days=3)),
        EVERYONE,
        TAKE_PART,
        {"anonymous", "deleted"},
        NOBODY,
    ),
    (
        "running",
        event("published", starts_in=-dt.timedelta(hours=1)),
        EVERYONE,
        NOBODY,
        NOBODY,
        NOBODY,
    ),
    ("over", event("published", starts_in=-dt.timedelta(days=3)), EVERYONE, NOBODY, NOBODY, STAFF),
    (
        "cancelled",
        event("cancelled", starts_in=dt.timedelta(days=3)),
        EVERYONE,
        NOBODY,
        NOBODY,
        NOBODY,
    ),
    ("none", None, NOBODY, NOBODY, NOBODY, NOBODY),
]
MATRIX = [
    # roles
    Case(P.has_role, "resident role", (Role.resident,), ACCOUNTS),
    Case(P.has_role, "moderator role", (Role.moderator,), {"moderator"}),
    Case(P.has_role, "staff role", (Role.staff,), {"staff"}),
    Case(P.has_role, "council role", (Role.council,), {"council"}),
    Case(P.has_role, "admin role", (Role.admin,), ADMIN),
    Case(P.is_resident, "-", (), TAKE_PART),
    Case(P.is_staff, "-", (), STAFF),
    Case(P.is_admin, "-", (), ADMIN),
    Case(P.is_council, "-", (), {"council", "staff", "admin"}),
    # accounts and administration
    Case(P.can_manage_account, "-", (), ACCOUNTS),
    Case(P.can_redeem_residency_code, "-", (), TAKE_PART - {"verified"}),
    Case(P.can_manage_roadmap, "-", (), STAFF),
    Case(P.can_manage_residency_codes, "-", (), STAFF),
    Case(P.can_manage_users, "-", (), ADMIN),
    Case(P.can_read_audit_log, "-", (), ADMIN),
    # kiosk: staff set it up and hand out counter codes; held roles (not MFA) bar the login
    Case(P.can_set_up_kiosk, "-", (), STAFF),
    Case(P.can_issue_counter_code, "-", (), STAFF),
    Case(P.can_log_in_on_kiosk, "-", (), ACCOUNTS - {"moderator", "staff", "admin"}),
    Case(P.can_view_admin_area, "-", (), STAFF),
    Case(P.can_change_roles, "live account", (account(),), ADMIN),
    Case(P.can_change_roles, "deleted account", (DELETED_ACCOUNT,), NOBODY),
    Case(P.can_change_roles, "none", (None,), NOBODY),
    Case(P.can_block, "plain resident", (account(),), MODERATORS),
    Case(P.can_block, "moderator", (account(Role.moderator),), ADMIN),
    Case(P.can_block, "staff", (account(Role.staff),), ADMIN),
    Case(P.can_block, "deleted account", (DELETED_ACCOUNT,), NOBODY),
    Case(P.can_block, "oneself", (person(),), NOBODY),
    Case(P.can_block, "none", (None,), NOBODY),
    Case(P.can_see_email, "own account", (person(),), ACCOUNTS),
    Case(P.can_see_email, "someone else", (account(),), ADMIN),
    Case(P.can_see_email, "none", (None,), NOBODY),
    # second factor (MFA_REQUIRED_ROLES is empty in the suite; see the tests below the matrix)
    Case(P.mfa_enrolment_due, "-", (), NOBODY),
    Case(P.can_disable_mfa, "-", (), NOBODY),
    Case(P.can_reset_mfa, "account with a second factor", (account(**WITH_MFA),), ADMIN),
    Case(P.can_reset_mfa, "account without", (account(),), NOBODY),
    Case(P.can_reset_mfa, "oneself", (person(**WITH_MFA),), NOBODY),
    Case(P.can_reset_mfa, "deleted account", (DELETED_ACCOUNT,), NOBODY),
    Case(P.can_reset_mfa, "none", (None,), NOBODY),
    # projects
    Case(P.can_view_project, "published", (PROJECTS["published"],), EVERYONE),
    Case(P.can_view_project, "archived", (PROJECTS["archived"],), EVERYONE),
    Case(P.can_view_project, "draft", (PROJECTS["draft"],), STAFF),
    Case(P.can_view_project, "none", (None,), NOBODY),
    Case(P.can_follow, "published", (PROJECTS["published"],), TAKE_PART),
    Case(P.can_follow, "archived", (PROJECTS["archived"],), TAKE_PART),
    Case(P.can_follow, "draft", (PROJECTS["draft"],), NOBODY),
    Case(P.can_follow, "none", (None,), NOBODY),
    Case(P.can_rate, "published", (PROJECTS["published"],), TAKE_PART),
    Case(P.can_rate, "archived", (PROJECTS["archived"],), NOBODY),
    Case(P.can_rate, "draft", (PROJECTS["draft"],), NOBODY),
    Case(P.can_rate, "none", (None,), NOBODY),
    # comments
    Case(P.can_comment, "no thread yet", (None,), TAKE_PART),
    Case(P.can_comment, "open thread", (thread(),), TAKE_PART),
    Case(P.can_comment, "closed thread", (thread(closed=True),), NOBODY),
    Case(P.can_edit_comment, "own, fresh", (comment(own=True),), TAKE_PART),
    Case(P.can_edit_comment, "own, pending", (comment("pending", own=True),), TAKE_PART),
    Case(P.can_edit_comment, "own, window over", (comment(own=True, age_minutes=16),), NOBODY),
    Case(P.can_edit_comment, "own, hidden", (comment("hidden", own=True),), NOBODY),
    Case(P.can_edit_comment, "own, withdrawn", (comment(own=True, deleted=True),), NOBODY),
    Case(P.can_edit_comment, "someone else's", (comment(),), NOBODY),
    Case(P.can_edit_comment, "none", (None,), NOBODY),
    Case(P.can_delete_comment, "own, published", (comment(own=True),), ACCOUNTS),
    Case(P.can_delete_comment, "own, hidden", (comment("hidden", own=True),), ACCOUNTS),
    Case(P.can_delete_comment, "own, old", (comment(own=True, age_minutes=999),), ACCOUNTS),
    Case(P.can_delete_comment, "own, withdrawn", (comment(own=True, deleted=True),), NOBODY),
    Case(P.can_delete_comment, "someone else's", (comment(),), NOBODY),
    Case(P.can_delete_comment, "none", (None,), NOBODY),
    Case(P.can_support, "someone else's, published", (comment(),), TAKE_PART),
    Case(P.can_support, "someone else's, pending", (comment("pending"),), NOBODY),
    Case(P.can_support, "someone else's, hidden", (comment("hidden"),), NOBODY),
    Case(P.can_support, "someone else's, withdrawn", (comment(deleted=True),), NOBODY),
    Case(P.can_support, "own", (comment(own=True),), NOBODY),
    Case(P.can_support, "none", (None,), NOBODY),
    Case(P.can_report, "someone else's, published", (comment(),), TAKE_PART),
    Case(P.can_report, "someone else's, pending", (comment("pending"),), TAKE_PART),
    Case(P.can_report, "someone else's, hidden", (comment("hidden"),), NOBODY),
    Case(P.can_report, "someone else's, withdrawn", (comment(deleted=True),), NOBODY),
    Case(P.can_report, "own", (comment(own=True),), NOBODY),
    Case(P.can_report, "none", (None,), NOBODY),
    Case(P.can_reply, "published, open thread", (comment(), thread()), TAKE_PART),
    Case(P.can_reply, "own, open thread", (comment(own=True), thread()), TAKE_PART),
    Case(P.can_reply, "published, closed thread", (comment(), thread(closed=True)), NOBODY),
    Case(P.can_reply, "pending", (comment("pending"), thread()), NOBODY),
    Case(P.can_reply, "hidden", (comment("hidden"), thread()), NOBODY),
    Case(P.can_reply, "withdrawn", (comment(deleted=True), thread()), NOBODY),
    Case(P.can_reply, "none", (None, thread()), NOBODY),
    Case(P.can_appeal, "own, hidden", (comment("hidden", own=True),), ACCOUNTS),
    Case(P.can_appeal, "own, withdrawn", (comment("hidden", own=True, deleted=True),), NOBODY),
    Case(P.can_appeal, "own, published", (comment(own=True),), NOBODY),
    Case(P.can_appeal, "someone else's, hidden", (comment("hidden"),), NOBODY),
    Case(P.can_appeal, "none", (None,), NOBODY),
    Case(P.can_moderate, "-", (), MODERATORS),
    Case(P.can_close_discussion, "-", (), {"moderator", "staff", "admin"}),
    # priority rounds
    Case(P.can_manage_rounds, "-", (), STAFF),
    Case(P.can_view_round, "published", (windowed(),), EVERYONE),
    Case(P.can_view_round, "draft", (windowed("draft"),), STAFF),
    Case(P.can_view_round, "none", (None,), NOBODY),
    Case(P.can_enter_paper, "paper offered", (SimpleNamespace(paper_offered=True),), STAFF),
    Case(P.can_enter_paper, "no paper", (SimpleNamespace(paper_offered=False),), NOBODY),
    Case(P.can_enter_paper, "none", (None,), NOBODY),
    Case(P.can_enter_survey_paper, "published", (windowed(),), STAFF),
    Case(P.can_enter_survey_paper, "draft", (windowed("draft"),), NOBODY),
    Case(P.can_enter_survey_paper, "none", (None,), NOBODY),
    Case(P.can_vote, "open, residents", (windowed(),), TAKE_PART),
    Case(P.can_vote, "open, verified only", (windowed(eligibility="verified"),), {"verified"}),
    Case(P.can_vote, "not open", (windowed(open_now=False),), NOBODY),
    Case(P.can_vote, "none", (None,), NOBODY),
    Case(P.can_see_running_totals, "published, shown", (windowed(totals=True),), EVERYONE),
    Case(P.can_see_running_totals, "published, not shown", (windowed(),), NOBODY),
    Case(P.can_see_running_totals, "draft, shown", (windowed("draft", totals=True),), STAFF),
    Case(P.can_see_running_totals, "none", (None,), NOBODY),
    # surveys
    Case(P.can_manage_surveys, "-", (), STAFF),
    Case(P.can_view_survey, "published", (windowed(),), EVERYONE),
    Case(P.can_view_survey, "draft", (windowed("draft"),), STAFF),
    Case(P.can_view_survey, "none", (None,), NOBODY),
    Case(P.can_answer_survey, "open, residents", (windowed(),), TAKE_PART),
    Case(P.can_answer_survey, "open, verified", (windowed(eligibility="verified"),), {"verified"}),
    Case(P.can_answer_survey, "not open", (windowed(open_now=False),), NOBODY),
    Case(P.can_answer_survey, "none", (None,), NOBODY),
    Case(
        P.can_view_survey_results,
        "published, closed",
        (windowed(open_now=False, closed=True),),
        EVERYONE,
    ),
    Case(P.can_view_survey_results, "published, open", (windowed(),), STAFF),
    Case(P.can_view_survey_results, "draft", (windowed("draft", closed=True),), STAFF),
    Case(P.can_view_survey_results, "none", (None,), NOBODY),
    Case(P.can_export_survey, "published", (windowed(),), STAFF),
    Case(P.can_export_survey, "none", (None,), NOBODY),
    # events
    Case(P.can_manage_events, "-", (), STAFF),
    *[
        Case(predicate, state, (target,), expected)
        for state, target, view, register, by_email, summary in EVENTS
        for predicate, expected in [
            (P.can_view_event, view),
            (P.can_register, register),
            (P.can_register_by_email, by_email),
            (P.can_publish_event_summary, summary),
        ]
    ],
    Case(P.can_cancel_registration, "own", (SimpleNamespace(user_id=1),), ACCOUNTS),
    Case(P.can_cancel_registration, "someone else's", (SimpleNamespace(user_id=2),), NOBODY),
    Case(P.can_cancel_registration, "by e-mail", (SimpleNamespace(user_id=None),), NOBODY),
    Case(P.can_cancel_registration, "none", (None,), NOBODY),
]
NOT_PREDICATES = {"require"}  # aborts instead of answering; tested below


@pytest.mark.parametrize("case", MATRIX, ids=[f"{c.predicate.__name__}[{c.state}]" for c in MATRIX])
def test_permission_matrix(case: Case) -> None:
    assert allowed(case.predicate, *case.args) == case.expected


def public_predicates() -> set[str]:
    """Return the names of the public functions permissions.py defines."""
    return {
        name
        for name, value in inspect.getmembers(permissions, inspect.isfunction)
        if value.__module__ == permissions.__name__ and not name.startswith("_")
    } - NOT_PREDICATES


def test_every_public_predicate_has_matrix_cases() -> None:
    covered = {case.predicate.__name__ for case in MATRIX}
    assert covered == public_predicates()


def test_every_predicate_with_an_object_is_asked_about_none() -> None:
    takes_object = {
        name
        for name in public_predicates()
        if len(inspect.signature(getattr(permissions, name)).parameters) > 1
    } - {"has_role", "can_reply"}  # takes a role; takes (comment, thread), None comment above
    asked_none = {c.predicate.__name__ for c in MATRIX if c.args and c.args[0] is None}
    assert takes_object - asked_none == set()


def test_the_people_are_the_ten_kinds_and_two_edge_cases() -> None:
    assert set(PEOPLE) == {
        "anonymous",
        "unconfirmed",
        "old_terms",
        "blocked",
        "block_expired",
        "resident",
        "verified",
        "moderator",
        "staff",
        "council",
        "admin",
        "deleted",
    }


def test_require_aborts_with_403() -> None:
    from werkzeug.exceptions import Forbidden

    permissions.require(True)
    with pytest.raises(Forbidden):
        permissions.require(False)


# --- the second factor as the one gate of the roles that need it (ASVS 4.3.1) -----------------


def test_required_roles_count_only_with_a_second_factor(app: Flask) -> None:
    app.config["MFA_REQUIRED_ROLES"] = ("admin", "staff")
    assert allowed(permissions.is_staff) == NOBODY
    assert allowed(permissions.is_admin) == NOBODY
    assert allowed(permissions.can_moderate) == {"moderator"}
    assert allowed(permissions.is_council) == {"council"}
    assert allowed(permissions.can_view_admin_area) == NOBODY
    assert allowed(permissions.mfa_enrolment_due) == {"staff", "admin"}
    enrolled_staff = person(Role.staff, **WITH_MFA)
    enrolled_admin = person(Role.admin, **WITH_MFA)
    assert permissions.is_staff(enrolled_staff)
    assert permissions.can_manage_users(enrolled_admin)
    assert permissions.can_moderate(enrolled_admin)
    assert not permissions.mfa_enrolment_due(enrolled_staff)


def test_own_second_factor_can_be_switched_off_only_where_not_required(app: Flask) -> None:
    app.config["MFA_REQUIRED_ROLES"] = ("admin", "staff")
    assert permissions.can_disable_mfa(person(**WITH_MFA))
    assert permissions.can_disable_mfa(person(Role.moderator, **WITH_MFA))
    assert not permissions.can_disable_mfa(person(Role.staff, **WITH_MFA))
    assert not permissions.can_disable_mfa(person(Role.admin, **WITH_MFA))
    assert not permissions.can_disable_mfa(person())
