"""Logged-in pages kept for their own session: never another person's, never stale."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, Flask, Response, session
from flask.testing import FlaskClient

from kldialog.auth import sessions
from kldialog.auth.models import Role, User
from kldialog.kernel import pagecache
from kldialog.kernel.db import db

from .conftest import PASSWORD, count_queries, login, page_cache_app
from .test_comments import make_comment
from .test_kiosk import kiosk_client

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(
    app_factory: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Flask:
    """Return an app with the page cache on (a test may parametrise it with more settings)."""
    return page_cache_app(app_factory, tmp_path, monkeypatch, request)


def served(client: FlaskClient, path: str) -> tuple[str, str | None]:
    """Return a page's text and how the cache answered (personal-hit, personal-miss, None)."""
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True), response.headers.get("X-Page-Cache")


def person(app: Flask, make_user: Any, name: str, *roles: Role) -> FlaskClient:
    """Return a browser logged in as a new account with this name."""
    client = app.test_client()
    login(client, make_user(Role.resident, *roles, name=name))
    return client


def kept_projects(app: Flask, make_project: Any, make_user: Any) -> FlaskClient:
    """Return a resident's browser whose project list is kept (the second view was a hit)."""
    make_project("Freies WLAN")
    resident = person(app, make_user, "Annabelle Beispiel")
    served(resident, "/projects")
    assert served(resident, "/projects")[1] == "personal-hit"
    return resident


def test_a_second_view_is_the_same_page_without_a_query_for_it(
    app: Flask, make_project: Any, make_user: Any
) -> None:
    project = make_project("Freies WLAN")
    resident = person(app, make_user, "Annabelle Beispiel")
    path = f"/projects/{project.slug}"
    rendered, state = served(resident, path)
    assert state == "personal-miss"
    with app.app_context(), count_queries() as statements:
        again, state = served(resident, path)
    assert state == "personal-hit"
    assert statements == []  # not even the account: kept for this session under this version
    assert TOKEN.sub("", again) == TOKEN.sub("", rendered)
    assert "Annabelle Beispiel" in again


def test_nobody_gets_another_persons_page(app: Flask, make_project: Any, make_user: Any) -> None:
    project = make_project("Freies WLAN")
    path = f"/projects/{project.slug}"
    first = person(app, make_user, "Annabelle Beispiel")
    second = person(app, make_user, "Bertram Muster")
    served(first, path)
    assert served(first, path)[1] == "personal-hit"
    page, state = served(second, path)
    assert state == "personal-miss"
    assert "Bertram Muster" in page and "Annabelle Beispiel" not in page
    # The same browser after a logout and another login: that account's own page.
    assert first.post("/logout").status_code in (302, 303)
    login(first, make_user(Role.resident, name="Carla Probe"))
    page, state = served(first, path)
    assert state == "personal-miss"
    assert "Carla Probe" in page and "Annabelle Beispiel" not in page
    # Logged out, the same browser gets the visitors' page (after the goodbye message).
    first.post("/logout")
    pages = [served(first, path) for _ in range(2)]
    assert pages[1][1] in ("miss", "hit")
    assert not any("Carla Probe" in page for page, _state in pages)


def test_a_write_by_anyone_ends_the_stored_pages(
    app: Flask, make_project: Any, make_user: Any
) -> None:
    project = make_project("Freies WLAN")
    path = f"/projects/{project.slug}"
    resident = person(app, make_user, "Annabelle Beispiel")
    served(resident, path)
    assert served(resident, path)[1] == "personal-hit"
    make_comment(app, make_user(Role.resident), project, "Bitte auch am Bahnhof")
    page, state = served(resident, path)
    assert state == "personal-miss"
    assert "Bitte auch am Bahnhof" in page
    # Their own follow shows at once: the follow wrote to the database.
    followed = resident.post(f"/projects/{project.slug}/follow")
    assert followed.status_code == 303
    resident.get(path)  # shows the confirmation (a flash message): never kept
    page, state = served(resident, path)
    assert state == "personal-miss"
    assert "Unfollow" in page or "Nicht mehr folgen" in page


def test_a_role_given_shows_at_once(app: Flask, make_project: Any, make_user: Any) -> None:
    make_project("Freies WLAN")
    user = make_user(Role.resident, name="Annabelle Beispiel")
    client = app.test_client()
    login(client, user)
    page, _state = served(client, "/projects")
    assert served(client, "/projects")[1] == "personal-hit"
    assert 'href="/moderation"' not in page
    with app.app_context():
        account = db.session.get(User, user.id)
        account.roles = account.roles | Role.moderator
        db.session.commit()
    page, state = served(client, "/projects")
    assert state == "personal-miss"
    assert 'href="/moderation"' in page


def test_a_page_with_a_flash_message_is_neither_kept_nor_skipped(
    app: Flask, make_project: Any, make_user: Any
) -> None:
    make_project("Freies WLAN")
    resident = person(app, make_user, "Annabelle Beispiel")
    served(resident, "/projects")
    with resident.session_transaction() as session:
        session["_flashes"] = [("info", "Nur für diesen Besuch")]
    page, state = served(resident, "/projects")
    assert state is None
    assert "Nur für diesen Besuch" in page
    page, state = served(resident, "/projects")
    assert "Nur für diesen Besuch" not in page
    assert state == "personal-hit"  # the page kept before the message, the session as it was


def test_a_view_that_changes_the_session_is_not_kept(app: Flask, make_user: Any) -> None:
    probe = Blueprint("probe", __name__)

    @probe.get("/probe")
    def counting() -> str:
        session["seen"] = session.get("seen", 0) + 1
        return f"<html><body>{session['seen']}</body></html>"

    app.register_blueprint(probe)
    cache = app.extensions["kldialog_pagecache"]
    cache.personal_blueprints = cache.personal_blueprints | {"probe"}
    resident = person(app, make_user, "Annabelle Beispiel")
    answers = [resident.get("/probe") for _ in range(3)]
    assert [a.headers.get("X-Page-Cache") for a in answers] == [None, None, None]
    assert [a.get_data(as_text=True) for a in answers] == [
        f"<html><body>{n}</body></html>" for n in (1, 2, 3)
    ]


def test_only_plain_html_pages_are_kept(app: Flask, make_user: Any) -> None:
    probe = Blueprint("probe", __name__)

    @probe.get("/probe/codes")
    def codes() -> Response:
        return Response("<p>one-time</p>", headers={"Cache-Control": "no-store"})

    @probe.get("/probe/cookie")
    def cookie() -> Response:
        response = Response("<p>with a cookie</p>")
        response.set_cookie("seen", "1")
        return response

    @probe.get("/probe/data")
    def data() -> Response:
        return Response('{"mine": 1}', mimetype="application/json")

    @probe.get("/probe/gone")
    def gone() -> tuple[str, int]:
        return "<p>not here</p>", 404

    app.register_blueprint(probe)
    cache = app.extensions["kldialog_pagecache"]
    cache.personal_blueprints = cache.personal_blueprints | {"probe"}
    resident = person(app, make_user, "Annabelle Beispiel")
    for path in ("/probe/codes", "/probe/cookie", "/probe/data", "/probe/gone"):
        for _ in range(2):
            assert "X-Page-Cache" not in resident.get(path).headers, path


def test_a_request_bypassing_the_cache_is_neither_answered_nor_kept(
    app: Flask, make_user: Any
) -> None:
    probe = Blueprint("probe", __name__)
    when: dict[str, bool] = {"before": False, "during": False}

    @probe.before_request
    def guard() -> None:
        if when["before"]:
            pagecache.bypass()

    @probe.get("/probe")
    def page() -> str:
        if when["during"]:
            pagecache.bypass()
        return "<p>probe</p>"

    app.register_blueprint(probe)
    cache = app.extensions["kldialog_pagecache"]
    cache.personal_blueprints = cache.personal_blueprints | {"probe"}
    resident = person(app, make_user, "Annabelle Beispiel")
    when["during"] = True
    assert [resident.get("/probe").headers.get("X-Page-Cache") for _ in range(2)] == [None, None]
    when["during"] = False
    assert resident.get("/probe").headers["X-Page-Cache"] == "personal-miss"
    when["before"] = True  # e.g. the kiosk rules, decided before the view
    assert "X-Page-Cache" not in resident.get("/probe").headers


def test_nothing_of_a_kiosk_is_kept(app: Flask, make_project: Any, make_user: Any) -> None:
    make_project("Freies WLAN")
    client = kiosk_client(app)
    login(client, make_user(Role.resident, name="Annabelle Beispiel"))
    for _ in range(2):
        response = client.get("/projects")
        assert response.status_code == 200
        assert "X-Page-Cache" not in response.headers


def test_the_token_in_a_kept_page_is_this_sessions_own(
    app: Flask, make_project: Any, make_user: Any
) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    project = make_project("Freies WLAN")
    path = f"/projects/{project.slug}"
    browsers = []
    for name in ("Annabelle Beispiel", "Bertram Muster"):
        client = app.test_client()
        [token] = TOKEN.findall(client.get("/login").get_data(as_text=True))
        form = {"email": make_user(Role.resident, name=name).email, "password": PASSWORD}
        assert client.post("/login", data={**form, "csrf_token": token}).status_code == 303
        browsers.append(client)
    one, two = browsers
    served(one, path)
    page_one, state_one = served(one, path)
    page_two, _state = served(two, path)
    assert state_one == "personal-hit"
    [token_one] = set(TOKEN.findall(page_one))
    [token_two] = set(TOKEN.findall(page_two))
    assert token_one != token_two
    # The token in the kept page works in its own session, and in no other.
    follow = f"/projects/{project.slug}/follow"
    assert two.post(follow, data={"csrf_token": token_one}).status_code == 400
    assert one.post(follow, data={"csrf_token": token_one}).status_code == 303


def test_a_login_elsewhere_ends_the_kept_pages_of_this_session(
    app: Flask, make_project: Any, make_user: Any
) -> None:
    make_project("Freies WLAN")
    user = make_user(Role.resident, name="Annabelle Beispiel")
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, user)
    served(laptop, "/projects")
    assert served(laptop, "/projects")[1] == "personal-hit"
    login(phone, user)  # a new login rotates the account's session token
    page, state = served(laptop, "/projects")
    assert state != "personal-hit"
    assert "Annabelle Beispiel" not in page


def test_the_login_checks_run_before_a_kept_page(
    app: Flask, make_project: Any, make_user: Any
) -> None:
    resident = kept_projects(app, make_project, make_user)
    # A session past its absolute lifetime is logged out, even with its page in the cache.
    with resident.session_transaction() as session:
        session[sessions.LOGIN_AT] = 0
    page, state = served(resident, "/projects")
    assert "Annabelle Beispiel" not in page
    assert state != "personal-hit"


def test_a_login_past_its_lifetime_gets_no_kept_page(
    app: Flask, make_project: Any, make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    resident = kept_projects(app, make_project, make_user)
    hours = app.config["SESSION_ABSOLUTE_HOURS"]
    later = sessions.utcnow() + dt.timedelta(hours=hours, minutes=1)
    monkeypatch.setattr(sessions, "utcnow", lambda: later)  # nothing written meanwhile
    page, state = served(resident, "/projects")
    assert state is None
    assert "Annabelle Beispiel" not in page


def test_account_pages_are_never_kept(app: Flask, make_user: Any) -> None:
    resident = person(app, make_user, "Annabelle Beispiel")
    for path in ("/account", "/account/data"):
        for _ in range(2):
            response = resident.get(path)
            assert response.status_code == 200, path
            assert "X-Page-Cache" not in response.headers, path


def test_pages_go_stale_after_page_cache_seconds(
    app: Flask, make_project: Any, make_user: Any
) -> None:
    resident = kept_projects(app, make_project, make_user)
    app.extensions["kldialog_pagecache"].seconds = 0
    assert served(resident, "/projects")[1] == "personal-miss"


def test_the_query_and_the_language_are_part_of_the_key(
    app: Flask, make_project: Any, make_user: Any
) -> None:
    make_project("Freies WLAN")
    make_project("Bürgerportal")
    resident = person(app, make_user, "Annabelle Beispiel")
    served(resident, "/projects")
    page, state = served(resident, "/projects?q=portal")
    assert state == "personal-miss"
    assert "Freies WLAN" not in page
    assert resident.post("/language", data={"lang": "en", "next": "/"}).status_code == 303
    page, state = served(resident, "/projects")
    assert state == "personal-miss"
    assert '<html lang="en"' in page


@pytest.mark.parametrize("app", [{"PAGE_CACHE_PERSONAL": False}], indirect=True)
def test_switched_off_nothing_is_kept(app: Flask, make_project: Any, make_user: Any) -> None:
    make_project("Freies WLAN")
    resident = person(app, make_user, "Annabelle Beispiel")
    for _ in range(2):
        assert served(resident, "/projects")[1] is None


def test_the_kept_pages_stay_within_their_byte_budget(
    app: Flask, make_project: Any, make_user: Any
) -> None:
    make_project("Freies WLAN")
    resident = person(app, make_user, "Annabelle Beispiel")
    store = app.extensions["kldialog_pagecache"].personal
    served(resident, "/projects")
    store.max_bytes = store.bytes + 100  # room for this page and nothing of another
    assert served(resident, "/projects")[1] == "personal-hit"
    served(resident, "/impressum")
    assert store.bytes <= store.max_bytes
    assert len(store.entries) == 1
    assert served(resident, "/projects")[1] == "personal-miss"  # the older page made room
