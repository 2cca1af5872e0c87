"""Admin area: accounts, roles, blocks and the audit log (permissions, rules, bad input, queries)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_login import AnonymousUserMixin

from kldialog import permissions
from kldialog.auth import blocking, residency
from kldialog.auth import services as accounts
from kldialog.auth.models import Role, User
from kldialog.kernel.audit import AuditEntry
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation
from kldialog.personal_data import services as personal_data

from .conftest import PASSWORD, count_queries, login

ROLES = ["anonymous", "resident", "moderator", "council", "staff", "admin"]


def text_of(html: str) -> str:
    """Return the page's visible text with tags removed and whitespace folded."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def reload(app: Flask, user_id: int) -> User:
    """Return a fresh copy of an account from the database."""
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def audit_rows(app: Flask, action: str | None = None) -> list[AuditEntry]:
    """Return audit entries (optionally of one action), oldest first."""
    with app.app_context():
        query = sa.select(AuditEntry).order_by(AuditEntry.id)
        if action:
            query = query.where(AuditEntry.action == action)
        rows = list(db.session.scalars(query))
        for row in rows:
            db.session.expunge(row)
        return rows


def next_city_day(days: int = 7) -> dt.date:
    """Return a date some days ahead in the city's time zone."""
    return dt.datetime.now(ZoneInfo("Europe/Berlin")).date() + dt.timedelta(days=days)


@pytest.fixture
def admin(make_user: Callable[..., Any]) -> Any:
    return make_user(Role.admin, name="Ada Admin", email="ada@example.org")


@pytest.fixture
def target(make_user: Callable[..., Any]) -> Any:
    return make_user(name="Rita Resident", email="rita@example.org")


def english(client: FlaskClient) -> FlaskClient:
    """Switch the client's pages to English (new strings are translated after review)."""
    client.post("/language", data={"lang": "en", "next": "/"})
    return client


@pytest.fixture
def admin_client(client: FlaskClient, admin: Any) -> FlaskClient:
    login(client, admin)
    return english(client)


# --- who may do what ---------------------------------------------------------------------------

ROLE_FLAGS = {
    "resident": [],
    "moderator": [Role.moderator],
    "council": [Role.council],
    "staff": [Role.staff],
    "admin": [Role.admin],
}
# Who gets past authorization on each route (everyone else: 403; anonymous: login page).
ALLOWED = {
    "GET /admin/": {"staff", "admin"},
    "GET /admin/users": {"admin"},
    "GET /admin/users/T": {"admin"},
    "POST /admin/users/T/roles": {"admin"},
    "POST /admin/users/T/block": {"admin"},
    "POST /admin/users/T/unblock": {"admin"},
    "GET /admin/audit": {"admin"},
    "GET /admin/codes": {"staff", "admin"},
    "POST /admin/codes": {"staff", "admin"},
    "GET /account/residency": {"resident", "moderator", "council", "staff", "admin"},
    "POST /account/residency": {"resident", "moderator", "council", "staff", "admin"},
}


@pytest.mark.parametrize("role", ROLES)
def test_every_admin_route_checks_the_role(
    app: Flask, make_user: Callable[..., Any], target: Any, role: str
) -> None:
    client = app.test_client()
    if role != "anonymous":
        login(client, make_user(*ROLE_FLAGS[role]))
    forms = {
        "/admin/users/T/roles": {
            "roles-moderator": "y",
            "roles-expected": "1",
            "roles-reason": "r",
        },
        "/admin/users/T/block": {"block-duration": "permanent", "block-reason": "r"},
        "/admin/users/T/unblock": {"unblock-reason": "r"},
        "/admin/codes": {"count": "1", "batch": "B", "language": "de"},
        "/account/residency": {"code": "ABCD-EFGH-JKMN"},
    }
    wrong = []
    for route, allowed in ALLOWED.items():
        method, path = route.split()
        if method == "POST" and path == "/admin/codes" and role in allowed:
            client.get("/admin/codes")  # the form's one-time value comes with the page
            with client.session_transaction() as session:
                forms[path]["once"] = session["residency_codes_form"]
        url = path.replace("/T", f"/{target.id}")
        response = client.open(url, method=method, data=forms.get(path))
        if role == "anonymous":
            expected_ok = response.status_code == 302 and "/login?next=" in response.location
        elif role in allowed:
            expected_ok = response.status_code in (200, 303)
        else:
            expected_ok = response.status_code == 403
        if not expected_ok:
            wrong.append(f"{route}: {response.status_code}")
    assert wrong == [], f"{role}: {wrong}"


def test_the_admin_start_page_offers_only_what_the_person_may_do(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    staff_client = app.test_client()
    login(staff_client, make_user(Role.staff))
    html = staff_client.get("/admin/").get_data(as_text=True)
    assert "/admin/codes" in html and "/admin/users" not in html and "/admin/audit" not in html
    admin_client = app.test_client()
    login(admin_client, make_user(Role.admin))
    html = admin_client.get("/admin/").get_data(as_text=True)
    assert all(path in html for path in ("/admin/codes", "/admin/users", "/admin/audit"))


def _person(*roles: Role, **fields: Any) -> User:
    flags = Role.resident
    for role in roles:
        flags |= role
    values: dict[str, Any] = {
        "id": 1,
        "roles": int(flags),
        "email_confirmed_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "accepted_terms_version": "2026-11",
        "deleted_at": None,
        "session_token": "t",
    }
    values.update(fields)
    return User(**values)


PEOPLE = {
    "anonymous": AnonymousUserMixin(),
    "resident": _person(id=2),
    "moderator": _person(Role.moderator, id=3),
    "council": _person(Role.council, id=4),
    "staff": _person(Role.staff, id=5),
    "admin": _person(Role.admin, id=6),
    "deleted": _person(id=7, roles=0, deleted_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC)),
}
TARGETS = {
    "resident": _person(id=20),
    "moderator": _person(Role.moderator, id=21),
    "admin": _person(Role.admin, id=22),
    "deleted": _person(id=23, roles=0, deleted_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC)),
}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("resident", {"moderator", "admin"}),
        ("moderator", {"admin"}),
        ("admin", {"admin"}),
        ("deleted", set()),
    ],
)
def test_block_predicate_admins_block_anyone_else_moderators_only_residents(
    ctx: Flask, target: str, expected: set[str]
) -> None:
    allowed = {
        name for name, user in PEOPLE.items() if permissions.can_block(user, TARGETS[target])
    }
    assert allowed == expected
    assert not permissions.can_block(PEOPLE["admin"], PEOPLE["admin"])  # not oneself
    assert not permissions.can_block(PEOPLE["admin"], None)


def test_admin_area_and_email_predicates(ctx: Flask) -> None:
    area = {name for name, user in PEOPLE.items() if permissions.can_view_admin_area(user)}
    assert area == {"staff", "admin"}
    rita = TARGETS["resident"]
    sees = {name for name, user in PEOPLE.items() if permissions.can_see_email(user, rita)}
    assert sees == {"admin"}
    assert permissions.can_see_email(rita, rita)  # one's own address


# --- account list ------------------------------------------------------------------------------


def test_account_list_shows_the_facts_and_hides_deleted_accounts(
    app: Flask, admin_client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    make_user(Role.council, name="Clara Council", email="clara@example.org", is_verified=True)
    make_user(
        name="Bruno Blocked",
        email="bruno@example.org",
        blocked_until=dt.datetime(2999, 1, 1, tzinfo=dt.UTC),
    )
    gone = make_user(name="Gone Person", email="gone@example.org")
    with app.app_context():
        personal_data.delete_account(db.session.get(User, gone.id), PASSWORD)
    html = admin_client.get("/admin/users").get_data(as_text=True)
    text = text_of(html)
    assert "Clara Council" in text and "clara@example.org" in text
    assert "council member" in text  # roles, in the page's language
    assert "Bruno Blocked" in text
    assert "Gone Person" not in text and "gone@example.org" not in text
    assert "3 accounts" in text  # Ada, Clara, Bruno
    assert '<caption id="table-users-1" class="kern-sr-only">' in html
    assert 'scope="col"' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("clara", {"Clara Council"}),
        ("CLARA@EXAMPLE", {"Clara Council"}),
        ("  müller ", {"Jörg Müller"}),
        ("MÜLLER", {"Jörg Müller"}),
        ("straße", {"Straßen_Fan"}),
        ("_", {"Straßen_Fan"}),  # a literal underscore, not "any character"
        ("%", set()),  # a literal percent sign, not "anything"
        ("example.org", {"Clara Council", "Jörg Müller", "Straßen_Fan", "Ada Admin"}),
        ("<script>", set()),
        ("x" * 254, set()),
    ],
)
def test_search_is_case_insensitive_and_wildcards_are_literal(
    admin_client: FlaskClient, make_user: Callable[..., Any], query: str, expected: set[str]
) -> None:
    make_user(Role.council, name="Clara Council", email="clara@example.org")
    make_user(name="Jörg Müller", email="joerg@example.org")
    make_user(name="Straßen_Fan", email="fan@example.org")
    html = admin_client.get("/admin/users", query_string={"q": query}).get_data(as_text=True)
    names = set(
        re.findall(r'scope="row"><a class="kern-link" href="/admin/users/\d+">([^<]+)<', html)
    )
    assert {unescape(name) for name in names} == expected


def test_role_filter_sort_and_bad_parameters_are_ignored_with_a_notice(
    admin_client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    make_user(Role.council, name="Clara Council")
    make_user(Role.staff, name="Stefan Staff")
    html = admin_client.get("/admin/users?role=council").get_data(as_text=True)
    assert "Clara Council" in html and "Stefan Staff" not in html
    html = admin_client.get("/admin/users?sort=name").get_data(as_text=True)
    assert html.index("Ada Admin") < html.index("Clara Council") < html.index("Stefan Staff")
    for query in (
        "role=emperor",
        "sort=chaos",
        "page=x",
        "page=-3",
        f"page={10**30}",
        "q=" + "y" * 300,
    ):
        response = admin_client.get(f"/admin/users?{query}")
        assert response.status_code == 200, query
    assert "was ignored" in admin_client.get("/admin/users?role=emperor").get_data(as_text=True)
    assert admin_client.get("/admin/users?q=a%00b").status_code == 400


def test_account_list_pages_through_many_accounts(
    app_factory: Callable[..., Flask],
) -> None:
    app = app_factory(ADMIN_PER_PAGE=5)
    with app.app_context():
        admin = create_accounts(12)
    client = app.test_client()
    login(client, admin)
    html = client.get("/admin/users?page=2").get_data(as_text=True)
    assert "Seite 2 von 3" in text_of(html)
    assert 'rel="prev" href="/admin/users?page=1"' in html
    assert 'rel="next" href="/admin/users?page=3"' in html
    # A page beyond the end shows the last page.
    assert "Seite 3 von 3" in text_of(client.get("/admin/users?page=99").get_data(as_text=True))
    # Pages out of range or in other digits: the first page, never a database overflow.
    for page in (str(10**20), str(2**63), "%C2%B2", "%D9%A3", "%20"):
        response = client.get(f"/admin/users?page={page}")
        assert "Seite 1 von 3" in text_of(response.get_data(as_text=True)), page


def create_accounts(number: int) -> User:
    """Insert many accounts quickly (one real admin, the rest with a dummy hash)."""
    admin = accounts.create_confirmed_user(
        email="ada@example.org", password=PASSWORD, display_name="Ada Admin", roles=[Role.admin]
    )
    now = dt.datetime.now(dt.UTC)
    db.session.execute(
        sa.insert(User),
        [
            {
                "email": f"user{i}@example.org",
                "password_hash": "x",
                "display_name": f"User {i}",
                "display_name_key": f"user {i}",
                "roles": int(Role.resident | (Role.council if i % 7 == 0 else 0)),
                "email_confirmed_at": now,
                "blocked_until": now + dt.timedelta(days=1) if i % 5 == 0 else None,
                "is_verified": i % 3 == 0,
                "created_at": now - dt.timedelta(minutes=i),
            }
            for i in range(number - 1)
        ],
    )
    ids = db.session.scalars(sa.select(User.id)).all()
    db.session.execute(
        sa.insert(AuditEntry),
        [
            {
                "actor_id": admin.id,
                "action": "role.grant" if i % 2 else "account.block",
                "target_type": "user",
                "target_id": ids[i % len(ids)],
                "reason": f"Grund {i}",
                "details": {"role": "council", "n": i},
            }
            for i in range(number)
        ],
    )
    db.session.commit()
    for batch in ("Nord", "Süd", "Mitte"):
        residency.generate_residency_codes(admin, max(1, number // 3), batch)
    db.session.refresh(admin)
    db.session.expunge(admin)
    return admin


ADMIN_PAGES = [
    "/admin/",
    "/admin/users",
    "/admin/users?q=user&role=council&sort=name&page=2",
    "/admin/users/2",
    "/admin/audit",
    "/admin/audit?action=role.&target_type=user&page=2",
    "/admin/codes",
]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_query_count_does_not_grow_with_accounts_or_audit_entries(
    app_factory: Callable[..., Flask], path: str
) -> None:
    measured = []
    for number in (10, 1000):
        app = app_factory(ADMIN_PER_PAGE=3)
        with app.app_context():
            admin = create_accounts(number)
            client = app.test_client()
            login(client, admin)
            client.get(path)  # warm up
            with count_queries() as statements:
                response = client.get(path)
            assert response.status_code == 200
            measured.append(len(statements))
            db.session.remove()
            db.drop_all()
    small, large = measured
    assert small == large, f"{path}: {small} queries with 10 accounts, {large} with 1,000"
    assert large <= 6, f"{path} runs {large} queries"


# --- one account: roles ----------------------------------------------------------------------------


def test_account_page_shows_facts_forms_and_its_audit_entries(
    admin_client: FlaskClient, target: Any
) -> None:
    html = admin_client.get(f"/admin/users/{target.id}").get_data(as_text=True)
    assert html.count("<h1") == 1 and "Rita Resident" in html and "rita@example.org" in html
    assert 'name="roles-reason"' in html and 'name="block-reason"' in html
    assert 'name="unblock-reason"' not in html  # not blocked: nothing to lift
    assert "account.create" in html  # the latest audit entries about this account
    assert f"/admin/audit?target_type=user&amp;target_id={target.id}" in html


def test_grant_and_revoke_roles_with_a_reason_writes_the_audit_log(
    app: Flask, admin_client: FlaskClient, admin: Any, target: Any
) -> None:
    response = admin_client.post(
        f"/admin/users/{target.id}/roles",
        data={
            "roles-moderator": "y",
            "roles-council": "y",
            "roles-expected": "1",
            "roles-reason": "Neues Moderationsteam",
        },
    )
    assert response.status_code == 303
    assert response.location == f"/admin/users/{target.id}"
    assert reload(app, target.id).role_list() == [Role.resident, Role.moderator, Role.council]
    grants = audit_rows(app, "role.grant")
    assert [(e.actor_id, e.target_id, e.reason, e.details["role"]) for e in grants] == [
        (admin.id, target.id, "Neues Moderationsteam", "moderator"),
        (admin.id, target.id, "Neues Moderationsteam", "council"),
    ]
    html = admin_client.get(f"/admin/users/{target.id}").get_data(as_text=True)
    assert "Role “moderator” granted." in html
    response = admin_client.post(
        f"/admin/users/{target.id}/roles",
        data={"roles-council": "y", "roles-expected": "11", "roles-reason": "Wechsel"},
    )
    assert response.status_code == 303
    assert reload(app, target.id).role_list() == [Role.resident, Role.council]
    assert [e.details["role"] for e in audit_rows(app, "role.revoke")] == ["moderator"]


def test_saving_unchanged_roles_changes_nothing(
    app: Flask, admin_client: FlaskClient, target: Any
) -> None:
    before = len(audit_rows(app))
    response = admin_client.post(
        f"/admin/users/{target.id}/roles",
        data={"roles-expected": "1", "roles-reason": "nur geschaut"},
        follow_redirects=True,
    )
    assert "Nothing changed" in response.get_data(as_text=True)
    assert len(audit_rows(app)) == before


@pytest.mark.parametrize("reason", ["", "   ", "\t\n"])
def test_role_change_needs_a_reason(
    app: Flask, admin_client: FlaskClient, target: Any, reason: str
) -> None:
    response = admin_client.post(
        f"/admin/users/{target.id}/roles",
        data={"roles-admin": "y", "roles-expected": "1", "roles-reason": reason},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<title>Error: " in html
    assert 'href="#roles-reason"' in html  # error summary links to the field
    assert 'aria-invalid="true"' in html
    assert reload(app, target.id).roles == int(Role.resident)
    assert audit_rows(app, "role.grant") == []


def test_roles_changed_meanwhile_are_not_overwritten(
    app: Flask, admin_client: FlaskClient, admin: Any, target: Any
) -> None:
    with app.app_context():
        accounts.set_role(None, db.session.get(User, target.id), Role.staff, True, "CLI")
    response = admin_client.post(
        f"/admin/users/{target.id}/roles",
        data={"roles-moderator": "y", "roles-expected": "1", "roles-reason": "Team"},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "changed the roles of this account meanwhile" in html
    assert "Team" in html  # the reason is kept
    assert f'name="roles-expected" type="hidden" value="{int(Role.resident | Role.staff)}"' in html
    assert reload(app, target.id).roles == int(Role.resident | Role.staff)


@pytest.mark.parametrize("expected", ["abc", "", "-1", "9" * 40, "1.5"])
def test_a_tampered_expected_roles_field_changes_nothing(
    app: Flask, admin_client: FlaskClient, target: Any, expected: str
) -> None:
    response = admin_client.post(
        f"/admin/users/{target.id}/roles",
        data={"roles-admin": "y", "roles-expected": expected, "roles-reason": "x"},
    )
    assert response.status_code == 200
    assert reload(app, target.id).roles == int(Role.resident)


def test_the_last_admin_keeps_the_role(app: Flask, admin_client: FlaskClient, admin: Any) -> None:
    response = admin_client.post(
        f"/admin/users/{admin.id}/roles",
        data={"roles-staff": "y", "roles-expected": "17", "roles-reason": "Ich gehe"},
    )
    assert response.status_code == 200
    assert "The last administrator cannot lose the role." in response.get_data(as_text=True)
    # Refused before anything else changed: the staff role was not granted either.
    assert reload(app, admin.id).roles == int(Role.resident | Role.admin)
    assert audit_rows(app, "role.revoke") == [] and audit_rows(app, "role.grant") == []


def test_an_admin_may_give_up_the_role_when_another_admin_remains(
    app: Flask, admin_client: FlaskClient, admin: Any, make_user: Callable[..., Any]
) -> None:
    make_user(Role.admin)
    response = admin_client.post(
        f"/admin/users/{admin.id}/roles",
        data={"roles-expected": "17", "roles-reason": "Übergabe"},
    )
    assert response.status_code == 303
    assert response.location == "/account"  # the admin pages are closed to them now
    assert admin_client.get("/admin/users").status_code == 403


def test_deleted_accounts_show_only_their_number(
    app: Flask, admin_client: FlaskClient, target: Any
) -> None:
    with app.app_context():
        personal_data.delete_account(db.session.get(User, target.id), PASSWORD)
    response = admin_client.get(f"/admin/users/{target.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f"deleted account #{target.id}" in html
    assert "Rita" not in html and "rita@" not in html
    assert 'name="roles-reason"' not in html and 'name="block-reason"' not in html
    data = {"roles-moderator": "y", "roles-expected": "0", "roles-reason": "x"}
    assert admin_client.post(f"/admin/users/{target.id}/roles", data=data).status_code == 403
    data = {"block-duration": "permanent", "block-reason": "x"}
    assert admin_client.post(f"/admin/users/{target.id}/block", data=data).status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/admin/users/999999",
        "/admin/users/0",
        "/admin/users/-1",
        "/admin/users/abc",
        "/admin/users/2147483648",
        f"/admin/users/{10**30}",
        "/admin/users/1.5",
    ],
)
def test_unknown_or_odd_account_ids_are_404_never_500(admin_client: FlaskClient, path: str) -> None:
    assert admin_client.get(path).status_code == 404
    for action in ("roles", "block", "unblock"):
        assert admin_client.post(f"{path}/{action}", data={}).status_code == 404


def test_admin_pages_refuse_other_methods(admin_client: FlaskClient, target: Any) -> None:
    assert admin_client.get(f"/admin/users/{target.id}/block").status_code == 405
    assert admin_client.post("/admin/users").status_code == 405
    assert admin_client.post("/admin/audit").status_code == 405


# --- one account: blocking ----------------------------------------------------------------------


def test_block_until_a_date_and_unblock(
    app: Flask, admin_client: FlaskClient, admin: Any, target: Any
) -> None:
    day = next_city_day(7)
    response = admin_client.post(
        f"/admin/users/{target.id}/block",
        data={"block-duration": "until", "block-until": day.isoformat(), "block-reason": "Spam"},
    )
    assert response.status_code == 303
    user = reload(app, target.id)
    until = user.blocked_until.replace(tzinfo=dt.UTC).astimezone(ZoneInfo("Europe/Berlin"))
    assert (until.date(), until.time()) == (day + dt.timedelta(days=1), dt.time(0))
    assert user.is_blocked() and not user.is_blocked(until + dt.timedelta(seconds=1))
    with app.app_context():
        assert not permissions.is_resident(db.session.get(User, target.id))
    [entry] = audit_rows(app, "account.block")
    assert (entry.actor_id, entry.target_id, entry.reason) == (admin.id, target.id, "Spam")
    assert dt.datetime.fromisoformat(entry.details["until"]) == until
    html = admin_client.get(f"/admin/users/{target.id}").get_data(as_text=True)
    assert 'name="unblock-reason"' in html

    response = admin_client.post(
        f"/admin/users/{target.id}/unblock", data={"unblock-reason": "Einspruch berechtigt"}
    )
    assert response.status_code == 303
    assert reload(app, target.id).blocked_until is None
    [entry] = audit_rows(app, "account.unblock")
    assert entry.reason == "Einspruch berechtigt"


def test_permanent_block_is_far_in_the_future_and_shown_as_permanent(
    app: Flask, admin_client: FlaskClient, target: Any
) -> None:
    response = admin_client.post(
        f"/admin/users/{target.id}/block",
        data={"block-duration": "permanent", "block-until": "", "block-reason": "Hassrede"},
    )
    assert response.status_code == 303
    user = reload(app, target.id)
    assert user.blocked_until.year == 9999
    assert audit_rows(app, "account.block")[0].details == {"until": "permanent"}
    text = text_of(admin_client.get(f"/admin/users/{target.id}").get_data(as_text=True))
    assert "Blocked permanently" in text
    text = text_of(admin_client.get("/admin/users").get_data(as_text=True))
    assert "permanently" in text


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"block-duration": "until", "block-until": ""}, "block-until"),
        ({"block-duration": "until", "block-until": "31.12.2030"}, "block-until"),
        ({"block-duration": "until", "block-until": "2000-01-01"}, "block-until"),
        ({"block-duration": "until", "block-until": "9999-12-31"}, "block-until"),
        ({"block-duration": "until", "block-until": "2030-02-30"}, "block-until"),
        ({"block-duration": "forever"}, "block-duration"),
        ({"block-duration": ""}, "block-duration"),
        ({}, "block-duration"),
    ],
)
def test_block_form_rejects_bad_input_without_changing_anything(
    app: Flask, admin_client: FlaskClient, target: Any, data: dict[str, str], field: str
) -> None:
    response = admin_client.post(
        f"/admin/users/{target.id}/block", data={"block-reason": "Grund", **data}
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'href="#{field}"' in html
    assert "Grund" in html  # what was typed is kept
    assert reload(app, target.id).blocked_until is None
    assert audit_rows(app, "account.block") == []


@pytest.mark.parametrize(
    "reason",
    ["", "  ", "x" * 501],
)
def test_block_and_unblock_need_a_reasonable_reason(
    app: Flask, admin_client: FlaskClient, target: Any, reason: str
) -> None:
    response = admin_client.post(
        f"/admin/users/{target.id}/block",
        data={"block-duration": "permanent", "block-reason": reason},
    )
    assert response.status_code == 200 and 'href="#block-reason"' in response.get_data(as_text=True)
    assert reload(app, target.id).blocked_until is None
    with app.app_context():
        blocking.block_user(None, db.session.get(User, target.id), blocking.PERMANENT_BLOCK, "x")
    response = admin_client.post(
        f"/admin/users/{target.id}/unblock", data={"unblock-reason": reason}
    )
    assert response.status_code == 200
    assert 'href="#unblock-reason"' in response.get_data(as_text=True)
    assert reload(app, target.id).is_blocked()


def test_admins_cannot_block_themselves(app: Flask, admin_client: FlaskClient, admin: Any) -> None:
    html = admin_client.get(f"/admin/users/{admin.id}").get_data(as_text=True)
    assert 'name="block-reason"' not in html
    assert "You cannot block your own account." in html
    response = admin_client.post(
        f"/admin/users/{admin.id}/block",
        data={"block-duration": "permanent", "block-reason": "Test"},
    )
    assert response.status_code == 403
    assert reload(app, admin.id).blocked_until is None
    with app.app_context():
        me = db.session.get(User, admin.id)
        with pytest.raises(RuleViolation):
            blocking.block_user(me, me, blocking.PERMANENT_BLOCK, "Test")


def test_block_services_refuse_bad_states(app: Flask, admin: Any, target: Any) -> None:
    with app.app_context():
        actor = db.session.get(User, admin.id)
        user = db.session.get(User, target.id)
        with pytest.raises(RuleViolation):
            blocking.unblock_user(actor, user, "nicht gesperrt")
        with pytest.raises(RuleViolation):
            blocking.block_user(actor, user, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), "Vergangen")
        with pytest.raises(RuleViolation):
            blocking.block_user(actor, user, blocking.PERMANENT_BLOCK, "   ")
        personal_data.delete_account(user, PASSWORD)
        with pytest.raises(RuleViolation):
            blocking.block_user(actor, user, blocking.PERMANENT_BLOCK, "gelöscht")
    assert audit_rows(app, "account.block") == []


def test_a_blocked_person_still_sees_their_account(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    person = make_user(blocked_until=blocking.PERMANENT_BLOCK)
    client = app.test_client()
    login(client, person)
    assert client.get("/account").status_code == 200
    assert client.get("/account/data").status_code == 200


# --- audit log -------------------------------------------------------------------------------


def test_audit_log_lists_newest_first_with_actor_target_reason_details(
    app: Flask, admin_client: FlaskClient, admin: Any, target: Any
) -> None:
    with app.app_context():
        user = db.session.get(User, target.id)
        actor = db.session.get(User, admin.id)
        accounts.set_role(actor, user, Role.moderator, True, "Team <b>verstärken</b>")
        blocking.block_user(actor, user, blocking.PERMANENT_BLOCK, "Spam & Werbung")
    html = admin_client.get("/admin/audit").get_data(as_text=True)
    table = html[html.index("<table") :]
    assert table.index("account.block") < table.index("role.grant") < table.index("account.create")
    assert "Team &lt;b&gt;verstärken&lt;/b&gt;" in html  # escaped, never markup
    assert "Spam &amp; Werbung" in html
    assert f'<a class="kern-link" href="/admin/users/{admin.id}">Ada Admin</a>' in html
    assert f'href="/admin/users/{target.id}">Rita Resident</a>' in html
    assert "System" in html  # account.create came from no one
    assert "role:" in html and "moderator" in html


def test_audit_log_names_deleted_accounts_by_number_only(
    app: Flask, admin_client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    other = make_user(Role.admin, name="Otto Other", email="otto@example.org")
    with app.app_context():
        actor = db.session.get(User, other.id)
        accounts.set_role(actor, actor, Role.staff, True, "selbst")
        personal_data.delete_account(actor, PASSWORD)
    html = admin_client.get("/admin/audit").get_data(as_text=True)
    assert "Otto" not in html and "otto@" not in html
    assert f"deleted account #{other.id}" in html


def test_audit_log_filters_by_action_target_and_actor(
    app: Flask, admin_client: FlaskClient, admin: Any, target: Any, make_user: Callable[..., Any]
) -> None:
    other = make_user(name="Olga Other")
    with app.app_context():
        actor = db.session.get(User, admin.id)
        accounts.set_role(actor, db.session.get(User, target.id), Role.staff, True, "A")
        accounts.set_role(actor, db.session.get(User, other.id), Role.council, True, "B")
        blocking.block_user(actor, db.session.get(User, other.id), blocking.PERMANENT_BLOCK, "C")

    def reasons(query: str) -> list[str]:
        html = admin_client.get(f"/admin/audit?{query}").get_data(as_text=True)
        return re.findall(r'audit-table__reason">([^<]*)<', html)

    assert reasons("action=role.") == ["B", "A"]
    assert reasons("action=ROLE.GRANT") == ["B", "A"]
    assert reasons("action=account.block") == ["C"]
    assert reasons("action=%25") == []  # a literal percent sign
    assert reasons(f"target_type=user&target_id={other.id}") == ["C", "B", "–"]
    assert reasons(f"actor={admin.id}&action=role") == ["B", "A"]
    assert reasons("target_type=project") == []


def test_audit_log_links_projects_and_names_unknown_targets(
    app: Flask, admin_client: FlaskClient, admin: Any, make_project: Callable[..., Any]
) -> None:
    project = make_project("Handyparken")
    with app.app_context():
        actor = db.session.get(User, admin.id)
        accounts.audit(actor, "project.edit", "project", project.id, "Tippfehler")
        accounts.audit(actor, "project.edit", "project", 999_999, "verschwunden")
        accounts.audit(actor, "thing.do", "gadget", 7, "unbekannter Typ")
        db.session.commit()
    html = admin_client.get("/admin/audit").get_data(as_text=True)
    # The admin reads English; the project has no English title, so its German one is marked.
    assert f'href="/projects/{project.slug}"><span lang="de">Handyparken</span></a>' in html
    assert "<code>project</code> #999999" in html
    assert "<code>gadget</code> #7" in html


@pytest.mark.parametrize(
    "query",
    [
        "target_id=abc",
        "target_id=-1",
        f"target_id={10**30}",
        "actor=1e5",
        "page=0",
        "page=abc",
        f"page={10**40}",
        "action=" + "x" * 500,
        "target_type=<script>alert(1)</script>",
        "action=%F0%9F%98%80",
        "unknown=1",
    ],
)
def test_audit_log_handles_odd_filters_without_error(admin_client: FlaskClient, query: str) -> None:
    response = admin_client.get(f"/admin/audit?{query}")
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.get_data(as_text=True)


def test_audit_log_pages(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(ADMIN_PER_PAGE=4)
    with app.app_context():
        admin = create_accounts(10)  # 10 entries + 1 account.create
    client = app.test_client()
    login(client, admin)
    english(client)
    text = text_of(client.get("/admin/audit?action=role&page=2").get_data(as_text=True))
    assert "5 entries" in text and "page 2 of 2" in text


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entry SET reason = 'changed'",
        "UPDATE audit_entry SET actor_id = NULL",
        "DELETE FROM audit_entry",
    ],
)
def test_the_database_refuses_to_change_or_delete_audit_entries(
    app: Flask, admin: Any, statement: str
) -> None:
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count(AuditEntry.id)))
        assert before >= 1
        with pytest.raises(sa.exc.DatabaseError):
            db.session.execute(sa.text(statement))
            db.session.commit()
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count(AuditEntry.id))) == before
        assert db.session.scalar(sa.select(AuditEntry.reason).limit(1)) != "changed"


# --- CSRF -----------------------------------------------------------------------------------------


def csrf_login(client: FlaskClient, email: str) -> str:
    """Log in through the real form with its CSRF token; return a token for later posts."""
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303
    return token


def test_admin_posts_without_csrf_token_are_refused(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        admin = accounts.create_confirmed_user(
            email="ada@example.org", password=PASSWORD, display_name="Ada", roles=[Role.admin]
        )
        rita = accounts.create_confirmed_user(
            email="rita@example.org", password=PASSWORD, display_name="Rita", roles=[]
        )
        blocking.block_user(admin, rita, blocking.PERMANENT_BLOCK, "vorher")
        admin_id, rita_id = admin.id, rita.id
    client = app.test_client()
    token = csrf_login(client, "ada@example.org")
    client.get("/admin/codes")
    posts = {
        f"/admin/users/{rita_id}/roles": {
            "roles-admin": "y",
            "roles-expected": "1",
            "roles-reason": "x",
        },
        f"/admin/users/{rita_id}/block": {"block-duration": "permanent", "block-reason": "x"},
        f"/admin/users/{rita_id}/unblock": {"unblock-reason": "x"},
        "/admin/codes": {"count": "5", "batch": "B", "language": "de"},
    }
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count(AuditEntry.id)))
    for path, data in posts.items():
        response = client.post(path, data=data)
        assert response.status_code == 400, path
        assert "Das Formular war abgelaufen" in response.get_data(as_text=True)
        response = client.post(path, data={**data, "csrf_token": "forged"})
        assert response.status_code == 400, path
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(AuditEntry.id))) == before
        assert db.session.get(User, rita_id).roles == int(Role.resident)
        assert db.session.get(User, rita_id).is_blocked()
    # The same request with the page's token works.
    html = client.get(f"/admin/users/{rita_id}").get_data(as_text=True)
    token = re.search(
        r'id="unblock-csrf_token" name="unblock-csrf_token" type="hidden" value="([^"]+)"', html
    )
    assert token, "unblock form has its CSRF token"
    response = client.post(
        f"/admin/users/{rita_id}/unblock",
        data={"unblock-reason": "Einspruch", "unblock-csrf_token": token.group(1)},
    )
    assert response.status_code == 303
    assert admin_id != rita_id
