"""Kiosk mode: a city device at a counter, and residency codes handed out there.

Each rule of docs/security.md "Kiosk" has a test here: the device cookie only from a staff
POST with CSRF token, forged cookies refused, the idle timeout, the end after a ballot or a
survey, no remember-me, no-store, no autocomplete, no staff login, nothing in the page cache,
and the counter's codes stored with their channel and without a staff account.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer

from kldialog.auth import kiosk, residency
from kldialog.auth.models import RememberToken, ResidencyCode, Role, User
from kldialog.auth.sessions import REMEMBER_COOKIE
from kldialog.kernel.audit import AuditEntry
from kldialog.kernel.db import db
from kldialog.priorities.models import Ballot

from .conftest import PASSWORD, login
from .test_priorities import make_round, projects  # noqa: F401  (projects: a fixture)
from .test_surveys import answers, make_survey, staff  # noqa: F401  (fixtures)

GERMAN_DONE = "Fertig – Ihre Daten sind von diesem Gerät entfernt"


class Clock:
    """A settable clock for the kiosk's idle timeout and the session's absolute lifetime."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    from kldialog.auth import sessions, views

    frozen = Clock()
    for module in (kiosk, sessions, views):
        monkeypatch.setattr(module, "utcnow", frozen)
    return frozen


def kiosk_cookie(app: Flask) -> str:
    """Return a valid device marker (what the staff POST sets; tested on its own below)."""
    with app.test_request_context():
        return kiosk.new_cookie_value()


def kiosk_client(app: Flask) -> FlaskClient:
    """Return a browser on a kiosk device."""
    client = app.test_client()
    client.set_cookie(kiosk.KIOSK_COOKIE, kiosk_cookie(app))
    return client


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert match, page[:300]
    return match[1]


def logged_in(client: FlaskClient) -> bool:
    return client.get("/account").status_code == 200


# --- turning a device into a kiosk ---------------------------------------------------------


def test_only_staff_turn_a_device_into_a_kiosk_with_a_csrf_post(
    app_factory: Callable[..., Flask],
) -> None:
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        from kldialog.auth import services as accounts

        for role, email in ((Role.staff, "staff@example.org"), (Role.resident, "anna@example.org")):
            accounts.create_confirmed_user(
                email=email, password=PASSWORD, display_name=email.split("@")[0], roles=[role]
            )

    def log_in(client: FlaskClient, email: str) -> None:
        token = csrf_token(client.get("/login").get_data(as_text=True))
        response = client.post(
            "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 303

    anonymous = app.test_client()
    assert anonymous.get("/kiosk").status_code == 302  # to the login
    token = csrf_token(anonymous.get("/login").get_data(as_text=True))
    assert anonymous.post("/kiosk/enable", data={"csrf_token": token}).status_code == 403
    resident = app.test_client()
    log_in(resident, "anna@example.org")
    assert resident.get("/kiosk").status_code == 403
    token = csrf_token(resident.get("/account").get_data(as_text=True))
    assert resident.post("/kiosk/enable", data={"csrf_token": token}).status_code == 403
    assert resident.get_cookie(kiosk.KIOSK_COOKIE) is None

    member = app.test_client()
    log_in(member, "staff@example.org")
    page = member.get("/kiosk").get_data(as_text=True)
    assert "Kiosk-Modus" in page
    assert member.get("/kiosk/enable").status_code == 405  # never by a link
    refused = member.post("/kiosk/enable")  # no CSRF token
    assert refused.status_code == 400
    assert member.get_cookie(kiosk.KIOSK_COOKIE) is None
    response = member.post("/kiosk/enable", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 303
    header = next(h for h in response.headers.getlist("Set-Cookie") if "kldialog_kiosk=" in h)
    assert "HttpOnly" in header and "SameSite=Strict" in header
    assert f"Max-Age={365 * 86400}" in header
    assert not logged_in(member)  # the staff session ended with it
    start = member.get("/kiosk")
    assert start.status_code == 200 and "Hier mitmachen" in start.get_data(as_text=True)
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEntry.action)).all()
    assert actions.count("kiosk.enable") == 1


def test_a_forged_altered_or_foreign_kiosk_cookie_is_refused(app: Flask) -> None:
    with app.test_request_context():
        foreign = URLSafeTimedSerializer("another-secret-key", salt="kldialog-kiosk-device")
        forged = [
            "1",
            "kiosk",
            foreign.dumps({"kiosk": "abc"}),
            kiosk.new_cookie_value()[:-2] + "xx",
            URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="other").dumps({"kiosk": "a"}),
        ]
    for value in forged:
        client = app.test_client()
        client.set_cookie(kiosk.KIOSK_COOKIE, value)
        response = client.get("/kiosk")
        assert response.status_code == 302, value  # not a kiosk: the staff set-up asks to log in
        assert response.headers["Cache-Control"] != "no-store"
        assert "angemeldet bleiben" in client.get("/login").get_data(as_text=True)
    assert kiosk_client(app).get("/kiosk").status_code == 200


def test_an_expired_device_cookie_no_longer_makes_a_kiosk(app: Flask, clock: Clock) -> None:
    client = kiosk_client(app)
    assert client.get("/kiosk").status_code == 200
    from itsdangerous import timed

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=366)
    original = timed.TimestampSigner.get_timestamp
    timed.TimestampSigner.get_timestamp = lambda self: int(later.timestamp())  # type: ignore
    try:
        assert client.get("/kiosk").status_code == 302
    finally:
        timed.TimestampSigner.get_timestamp = original  # type: ignore


# --- the person's session ends by itself ---------------------------------------------------------


def test_an_idle_session_ends_on_the_next_request_and_its_cookie_is_dead(
    app: Flask, make_user: Callable[..., Any], clock: Clock
) -> None:
    person = make_user()
    client = kiosk_client(app)
    login(client, person)
    copied = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    clock.advance(170)
    assert logged_in(client)  # every request counts as activity
    clock.advance(170)
    assert logged_in(client)
    clock.advance(181)
    response = client.get("/account")
    assert response.status_code == 303
    assert response.headers["Location"] == "/kiosk/done?reason=timeout"
    assert client.get_cookie(app.config["SESSION_COOKIE_NAME"]) is None  # cookie cleared
    done = client.get("/kiosk/done?reason=timeout").get_data(as_text=True)
    assert GERMAN_DONE in done and "nach 3 Minuten ohne Eingabe" in done
    assert not logged_in(client)
    # A copy of the session cookie from before is dead: the session token was rotated.
    other = app.test_client()
    other.set_cookie(app.config["SESSION_COOKIE_NAME"], copied)
    assert other.get("/account").status_code == 302


def test_a_form_sent_after_the_idle_time_changes_nothing(
    app: Flask,
    make_user: Callable[..., Any],
    projects: list[Any],  # noqa: F811
    clock: Clock,
) -> None:
    round_id = make_round(app, projects)
    client = kiosk_client(app)
    login(client, make_user())
    clock.advance(181)
    response = client.post(f"/priorities/{round_id}", data={"project": [projects[0].id]})
    assert response.headers["Location"] == "/kiosk/done?reason=timeout"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ballot)) == 0


def test_a_keystroke_on_the_page_keeps_the_session_alive(
    app: Flask, make_user: Callable[..., Any], clock: Clock
) -> None:
    client = kiosk_client(app)
    login(client, make_user())
    for _minute in range(5):
        clock.advance(150)
        assert client.post("/kiosk/alive").status_code == 204
    assert logged_in(client)
    assert app.test_client().post("/kiosk/alive").status_code == 404  # kiosks only


def test_the_session_ends_after_a_ballot(
    app: Flask,
    make_user: Callable[..., Any],
    projects: list[Any],  # noqa: F811
) -> None:
    round_id = make_round(app, projects)
    voter = make_user()
    client = kiosk_client(app)
    login(client, voter)
    response = client.post(f"/priorities/{round_id}", data={"project": [projects[0].id]})
    assert response.status_code == 303
    assert response.headers["Location"] == "/kiosk/done?reason=ballot"
    with app.app_context():
        assert db.session.scalars(sa.select(Ballot.user_id)).all() == [voter.id]
    assert client.get_cookie(app.config["SESSION_COOKIE_NAME"]) is None
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert GERMAN_DONE in page and "Ihre Stimme ist gespeichert" in page
    assert not logged_in(client)
    # A ballot with a mistake keeps the person logged in to correct it.
    client = kiosk_client(app)
    login(client, make_user())
    too_many = [p.id for p in projects[:3]]
    assert client.post(f"/priorities/{round_id}", data={"project": too_many}).status_code == 400
    assert logged_in(client)
    # Not a kiosk: the ordinary browser stays logged in after voting.
    ordinary = app.test_client()
    login(ordinary, make_user())
    ordinary.post(f"/priorities/{round_id}", data={"project": [projects[1].id]})
    assert logged_in(ordinary)


def test_the_session_ends_after_a_survey_is_sent(
    app: Flask,
    make_user: Callable[..., Any],
    make_survey: Callable[..., int],  # noqa: F811
) -> None:
    survey_id = make_survey()
    client = kiosk_client(app)
    login(client, make_user())
    form = answers(app, survey_id)
    response = client.post(
        f"/surveys/{survey_id}", data={**form.to_dict(flat=False), "page": "1", "action": "send"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/kiosk/done?reason=survey"
    assert "Ihre Antworten sind gesendet" in client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    assert not logged_in(client)


def test_logging_out_or_ending_on_a_kiosk_shows_the_finished_page(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    client = kiosk_client(app)
    login(client, make_user())
    assert client.get("/kiosk/done").headers["Location"] == "/kiosk"  # still someone's session
    response = client.post("/logout")
    assert response.headers["Location"] == "/kiosk/done?reason=logout"
    assert not logged_in(client)
    login(client, make_user())
    client.post("/language", data={"lang": "en", "next": "/"})
    response = client.post("/kiosk/end")
    assert response.headers["Location"] == "/kiosk/done?reason=end"
    assert not logged_in(client)
    # The language went with the rest: the next person starts in German.
    assert GERMAN_DONE in client.get("/kiosk/done").get_data(as_text=True)


# --- what the device never keeps ----------------------------------------------------------


def test_no_remember_cookie_on_a_kiosk_even_if_posted(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    client = kiosk_client(app)
    assert 'name="remember"' not in client.get("/login").get_data(as_text=True)
    person = make_user()
    response = client.post(
        "/login", data={"email": person.email, "password": PASSWORD, "remember": "y"}
    )
    assert response.status_code == 303
    assert not any(REMEMBER_COOKIE in h for h in response.headers.getlist("Set-Cookie"))
    assert client.get_cookie(REMEMBER_COOKIE) is None
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RememberToken)) == 0
    # A remember-me cookie made elsewhere logs nobody in on a kiosk, and it is deleted.
    ordinary = app.test_client()
    ordinary.post("/login", data={"email": person.email, "password": PASSWORD, "remember": "y"})
    carried = kiosk_client(app)
    carried.set_cookie(REMEMBER_COOKIE, ordinary.get_cookie(REMEMBER_COOKIE).value)
    assert not logged_in(carried)
    assert carried.get_cookie(REMEMBER_COOKIE) is None


@pytest.mark.parametrize("path", ["/", "/kiosk", "/login", "/register", "/priorities", "/nope"])
def test_every_kiosk_answer_is_no_store_without_autocomplete(app: Flask, path: str) -> None:
    response = kiosk_client(app).get(path)
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert set(re.findall(r'autocomplete="([^"]*)"', page)) <= {"off"}
    forms = re.findall(r"<form\b[^>]*>", page)
    assert forms and all('autocomplete="off"' in form for form in forms)
    assert app.test_client().get(path).headers["Cache-Control"] == "private, no-cache"


def test_logged_in_kiosk_pages_and_redirects_are_no_store(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    client = kiosk_client(app)
    login(client, make_user())
    for path in ("/account", "/account/data", "/account/residency"):
        assert client.get(path).headers["Cache-Control"] == "no-store", path
    assert client.post("/kiosk/end").headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("roles", "may"),
    [
        ((), True),
        ((Role.council,), True),
        ((Role.staff,), False),
        ((Role.admin,), False),
        ((Role.moderator,), False),
    ],
)
def test_staff_admin_and_moderator_accounts_cannot_log_in_on_a_kiosk(
    app: Flask, make_user: Callable[..., Any], roles: tuple[Role, ...], may: bool
) -> None:
    person = make_user(*roles)
    client = kiosk_client(app)
    response = client.post("/login", data={"email": person.email, "password": PASSWORD})
    assert (response.status_code == 303) is may
    assert logged_in(client) is may
    if not may:
        assert "können sich an diesem Gerät nicht anmelden" in response.get_data(as_text=True)
        # A session started elsewhere and carried onto the kiosk is not logged in either.
        ordinary = app.test_client()
        login(ordinary, person)
        assert logged_in(ordinary)
        ordinary.set_cookie(kiosk.KIOSK_COOKIE, kiosk_cookie(app))
        assert not logged_in(ordinary)
        # Nor does a password reset link opened on the kiosk log the account in.
        from kldialog.auth import services as accounts

        with app.app_context():
            account = db.session.get(User, person.id)
            token = accounts.make_token("reset", account, account.password_hash)
        client = kiosk_client(app)
        response = client.post(
            f"/password/reset/{token}", data={"password": "a brand new passphrase"}
        )
        assert response.status_code == 303
        assert not logged_in(client)


def test_kiosk_pages_are_neither_served_from_nor_kept_in_the_page_cache(
    app_factory: Callable[..., Flask],
) -> None:
    app = app_factory(PAGE_CACHE_ENABLED=True)
    visitor = app.test_client()
    visitor.get("/priorities")
    assert visitor.get("/priorities").headers.get("X-Page-Cache") == "hit"
    device = kiosk_client(app)
    for _ in range(2):
        response = device.get("/priorities")
        assert "X-Page-Cache" not in response.headers
        assert "kiosk-bar" in response.get_data(as_text=True)
    cache = app.extensions["kldialog_pagecache"]
    for path in ("/kiosk/done", "/projects"):
        device.get(path)
    assert not any(
        b"kiosk-bar" in entry.body(None) or key[4] == "/kiosk/done"
        for key, entry in cache.store.entries.items()
    )
    assert "kiosk-bar" not in visitor.get("/priorities").get_data(as_text=True)


# --- switching it off ------------------------------------------------------------------------


def test_switching_kiosk_mode_off_needs_a_staff_accounts_credentials(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    member = make_user(Role.staff)
    resident = make_user()
    client = kiosk_client(app)
    assert app.test_client().get("/kiosk/disable").status_code == 302  # not a kiosk
    for email, password in (
        (member.email, "wrong password here"),
        (resident.email, PASSWORD),
        ("nobody@example.org", PASSWORD),
    ):
        response = client.post("/kiosk/disable", data={"email": email, "password": password})
        assert response.status_code == 200
        assert "keine Zugangsdaten eines Kontos der Verwaltung" in response.get_data(as_text=True)
        assert client.get("/kiosk").status_code == 200  # still a kiosk
    response = client.post("/kiosk/disable", data={"email": member.email, "password": PASSWORD})
    assert response.status_code == 303
    assert client.get_cookie(kiosk.KIOSK_COOKIE) is None
    assert not logged_in(client)  # switching off logs nobody in
    with app.app_context():
        entry = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "kiosk.disable")
        ).one()
        assert entry.actor_id == member.id


def test_switching_off_asks_for_the_code_of_an_account_with_a_second_factor(
    app_factory: Callable[..., Flask], make_user: Callable[..., Any]
) -> None:
    app = app_factory(MFA_REQUIRED_ROLES=("admin", "staff"))
    from kldialog.auth import mfa, services

    with app.app_context():
        member = services.create_confirmed_user(
            email="mfa@example.org", password=PASSWORD, display_name="Mfa", roles=[Role.staff]
        )
        secret = mfa.new_secret()
        mfa.enable(member, secret, mfa.code_at(secret, mfa.current_step()))
    client = kiosk_client(app)
    data = {"email": "mfa@example.org", "password": PASSWORD}
    assert client.post("/kiosk/disable", data={**data, "code": "000000"}).status_code == 200
    assert client.post("/kiosk/disable", data=data).status_code == 200
    with app.app_context():
        code = mfa.code_at(secret, mfa.current_step() + 1)  # the enrolment used this step
    response = client.post("/kiosk/disable", data={**data, "code": code})
    assert response.status_code == 303
    assert client.get_cookie(kiosk.KIOSK_COOKIE) is None


# --- residency codes at the counter --------------------------------------------------------------


def test_a_counter_code_is_stored_with_its_channel_and_without_a_staff_account(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    member = make_user(Role.staff)
    client = app.test_client()
    login(client, member)
    page = client.get("/staff/counter-code").get_data(as_text=True)
    once = re.search(r'name="once" type="hidden" value="([^"]+)"', page)[1]
    response = client.post("/staff/counter-code", data={"once": once})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    shown = re.search(r'code-sheet__code-text">([A-Z0-9-]+)<', response.get_data(as_text=True))[1]
    # A reload of the answer sends the same once-value: no second code.
    again = client.post("/staff/counter-code", data={"once": once})
    assert "bereits gesendet" in again.get_data(as_text=True)
    with app.app_context():
        rows = db.session.scalars(sa.select(ResidencyCode)).all()
        assert len(rows) == 1
        row = rows[0]
        assert (row.channel, row.batch, row.created_by_id) == ("counter", "counter", None)
        assert (row.created_at.hour, row.created_at.minute, row.created_at.second) == (0, 0, 0)
        assert row.code_hash == residency.hash_residency_code(
            residency.normalise_residency_code(shown)
        )
        entries = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "residency.counter")
        ).all()
        assert [(e.actor_id, e.details) for e in entries] == [
            (None, {"count": 1, "channel": "counter"})
        ]
        assert shown not in str(
            [(e.details, e.reason) for e in db.session.scalars(sa.select(AuditEntry))]
        )
    # The person redeems it like a code by letter.
    person = make_user()
    resident = app.test_client()
    login(resident, person)
    assert resident.post("/account/residency", data={"code": shown}).status_code == 303
    with app.app_context():
        assert db.session.get(User, person.id).is_verified
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ResidencyCode)) == 0


def test_only_staff_hand_out_counter_codes(app: Flask, make_user: Callable[..., Any]) -> None:
    for roles in ((), (Role.council,), (Role.moderator,)):
        client = app.test_client()
        login(client, make_user(*roles))
        assert client.get("/staff/counter-code").status_code == 403
        assert client.post("/staff/counter-code", data={"once": "x"}).status_code == 403
    assert app.test_client().get("/staff/counter-code").status_code == 302  # to the login
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ResidencyCode)) == 0


def test_the_letter_codes_keep_their_channel(app: Flask, make_user: Callable[..., Any]) -> None:
    member = make_user(Role.staff)
    with app.app_context():
        residency.generate_residency_codes(db.session.get(User, member.id), 3, "Brief Dezember")
        channels = db.session.scalars(sa.select(ResidencyCode.channel)).all()
        assert channels == ["letter"] * 3
        db.session.add(ResidencyCode(code_hash="a" * 64, batch="x", channel="phone"))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()


def test_a_form_of_the_previous_person_resent_from_the_history_is_refused(
    app: Flask,
    make_project: Callable[..., Any],
) -> None:
    # Back to a page that answered a form, and "send again": the CSRF token belonged to the
    # ended session, so the next person's session refuses it (here, even once they log in).
    app.config["WTF_CSRF_ENABLED"] = True  # read per request by Flask-WTF
    chosen = [make_project("Freies WLAN"), make_project("Open Data")]
    round_id = make_round(app, chosen)
    with app.app_context():
        from kldialog.auth import services as accounts

        for email in ("erste@example.org", "zweite@example.org"):
            accounts.create_confirmed_user(
                email=email, password=PASSWORD, display_name=email.split("@")[0], roles=[]
            )
    client = kiosk_client(app)

    def log_in(email: str) -> None:
        token = csrf_token(client.get("/login").get_data(as_text=True))
        response = client.post(
            "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 303

    log_in("erste@example.org")
    old = csrf_token(client.get(f"/priorities/{round_id}").get_data(as_text=True))
    client.post("/kiosk/end", data={"csrf_token": old})
    log_in("zweite@example.org")
    resent = client.post(
        f"/priorities/{round_id}", data={"project": [chosen[0].id], "csrf_token": old}
    )
    assert resent.status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ballot)) == 0


def test_templates_rendered_outside_a_request_know_no_kiosk(app: Flask) -> None:
    # Commands (the mail queue, `flask codes`) render templates without a request.
    from flask import render_template_string

    with app.app_context():
        assert render_template_string("{{ kiosk }} {{ kiosk_active }}") == "False False"
