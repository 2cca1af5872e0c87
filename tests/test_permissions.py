"""The permission matrix: every predicate × every kind of person × object state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from flask import Flask
from flask_login import AnonymousUserMixin

from kldialog import permissions
from kldialog.auth.models import Role, User
from kldialog.projects.models import Visibility

TERMS = "2026-11"


def person(*roles: Role, **fields: object) -> User:
    """Build an (unsaved) confirmed account with the current terms."""
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


TAKE_PART = {"block_expired", "resident", "verified", "moderator", "staff", "council", "admin"}
STAFF = {"staff", "admin"}


def test_is_resident_needs_confirmation_current_terms_and_no_block() -> None:
    assert allowed(permissions.is_resident) == TAKE_PART


def test_account_pages_are_for_every_live_account_even_blocked_ones() -> None:
    assert allowed(permissions.can_manage_account) == set(PEOPLE) - {"anonymous", "deleted"}


def test_residency_code_only_for_unverified_residents() -> None:
    assert allowed(permissions.can_redeem_residency_code) == TAKE_PART - {"verified"}


@pytest.mark.parametrize(
    ("state", "expected"),
    [("published", TAKE_PART), ("archived", TAKE_PART), ("draft", set())],
)
def test_follow_published_and_archived_projects(state: str, expected: set[str]) -> None:
    assert allowed(permissions.can_follow, PROJECTS[state]) == expected
    assert allowed(permissions.can_follow, None) == set()


@pytest.mark.parametrize(
    ("state", "expected"),
    [("published", set(PEOPLE)), ("archived", set(PEOPLE)), ("draft", STAFF)],
)
def test_drafts_are_visible_to_staff_only(state: str, expected: set[str]) -> None:
    assert allowed(permissions.can_view_project, PROJECTS[state]) == expected
    assert allowed(permissions.can_view_project, None) == set()


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        (permissions.is_staff, STAFF),
        (permissions.can_manage_roadmap, STAFF),
        (permissions.can_manage_residency_codes, STAFF),
        (permissions.is_admin, {"admin"}),
        (permissions.can_manage_users, {"admin"}),
        (permissions.can_read_audit_log, {"admin"}),
    ],
)
def test_role_predicates(predicate, expected: set[str]) -> None:  # noqa: ANN001
    assert allowed(predicate) == expected


def test_roles_of_deleted_accounts_cannot_be_changed() -> None:
    assert allowed(permissions.can_change_roles, PEOPLE["resident"]) == {"admin"}
    assert allowed(permissions.can_change_roles, PEOPLE["deleted"]) == set()


def test_require_aborts_with_403() -> None:
    from werkzeug.exceptions import Forbidden

    permissions.require(True)
    with pytest.raises(Forbidden):
        permissions.require(False)


# --- events ------------------------------------------------------------------------------------

NOW = dt.datetime.now(dt.UTC)


def event(state: str, *, starts_in: dt.timedelta, hours: int = 2) -> SimpleNamespace:
    """Build an event-like object whose predicates see state and time as the model does."""
    from kldialog.events.models import Event, EventState

    start = NOW + starts_in
    return Event(
        state=EventState(state), starts_at=start, ends_at=start + dt.timedelta(hours=hours)
    )


EVENTS = {
    "draft": event("draft", starts_in=dt.timedelta(days=3)),
    "upcoming": event("published", starts_in=dt.timedelta(days=3)),
    "running": event("published", starts_in=-dt.timedelta(hours=1)),
    "over": event("published", starts_in=-dt.timedelta(days=3)),
    "cancelled": event("cancelled", starts_in=dt.timedelta(days=3)),
}
EVERYONE = set(PEOPLE)


def test_manage_events_is_for_staff() -> None:
    assert allowed(permissions.can_manage_events) == STAFF


@pytest.mark.parametrize(
    ("state", "view", "register", "by_email", "summary"),
    [
        ("draft", STAFF, set(), set(), set()),
        # A deleted account cannot be logged in: it is a visitor like any other.
        ("upcoming", EVERYONE, TAKE_PART, {"anonymous", "deleted"}, set()),
        ("running", EVERYONE, set(), set(), set()),
        ("over", EVERYONE, set(), set(), STAFF),
        ("cancelled", EVERYONE, set(), set(), set()),
    ],
)
def test_event_predicates_follow_state_and_time(
    state: str, view: set[str], register: set[str], by_email: set[str], summary: set[str]
) -> None:
    target = EVENTS[state]
    assert allowed(permissions.can_view_event, target) == view
    assert allowed(permissions.can_register, target) == register
    assert allowed(permissions.can_register_by_email, target) == by_email
    assert allowed(permissions.can_publish_event_summary, target) == summary
    for predicate in (
        permissions.can_view_event,
        permissions.can_register,
        permissions.can_register_by_email,
        permissions.can_publish_event_summary,
    ):
        assert allowed(predicate, None) == set()


def test_a_registration_is_cancelled_only_by_its_own_account() -> None:
    mine = SimpleNamespace(user_id=1)  # every test person has id 1
    theirs = SimpleNamespace(user_id=2)
    visitors = SimpleNamespace(user_id=None)
    assert allowed(permissions.can_cancel_registration, mine) == EVERYONE - {
        "anonymous",
        "deleted",
    }
    assert allowed(permissions.can_cancel_registration, theirs) == set()
    assert allowed(permissions.can_cancel_registration, visitors) == set()
    assert allowed(permissions.can_cancel_registration, None) == set()
