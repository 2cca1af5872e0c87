"""The anonymous page cache: served again only while nothing was written, never personal."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, request, request_started
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from kldialog.auth.models import Role
from kldialog.kernel.db import db
from kldialog.projects.models import Project, Status

from .conftest import count_queries, login, page_cache_app
from .test_priorities import end_round, make_round


@pytest.fixture
def app(
    app_factory: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Flask:
    """Return an app with the cache on (a test may parametrise it with more settings)."""
    return page_cache_app(app_factory, tmp_path, monkeypatch, request)


@pytest.fixture
def cached(app: Flask) -> Flask:
    """Return the app with the cache on."""
    return app


def served(client: FlaskClient, path: str) -> tuple[str, str | None]:
    """Return a page's text and whether it came from the cache (hit, miss or None)."""
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True), response.headers.get("X-Page-Cache")


def test_a_second_anonymous_visit_runs_no_query(cached: Flask, make_project: Any) -> None:
    project = make_project("Freies WLAN")
    client = cached.test_client()
    assert served(client, f"/projects/{project.slug}")[1] == "miss"
    with cached.app_context(), count_queries() as statements:
        page, state = served(cached.test_client(), f"/projects/{project.slug}")
    assert state == "hit"
    assert statements == []
    assert "Freies WLAN" in page


def test_a_new_comment_appears_at_once(cached: Flask, make_project: Any, make_user: Any) -> None:
    project = make_project("Freies WLAN")
    visitor = cached.test_client()
    served(visitor, f"/projects/{project.slug}")
    assert served(visitor, f"/projects/{project.slug}")[1] == "hit"
    resident = cached.test_client()
    login(resident, make_user(Role.resident, name="Anna"))
    posted = resident.post(f"/projects/{project.slug}/comments", data={"body": "Endlich WLAN!"})
    assert posted.status_code == 303
    page, state = served(visitor, f"/projects/{project.slug}")
    assert state == "miss"
    assert "Endlich WLAN!" in page


def test_a_status_change_by_another_process_appears_at_once(
    cached: Flask, make_project: Any
) -> None:
    project = make_project("Glasfaser")
    visitor = cached.test_client()
    served(visitor, "/projects")
    assert served(visitor, "/projects")[1] == "hit"
    # A Core update on a connection of its own, as a cron job or another worker writes.
    with cached.app_context(), db.engine.begin() as connection:
        connection.execute(
            sa.update(Project).where(Project.id == project.id).values(status=Status.completed)
        )
    page, state = served(visitor, "/projects")
    assert state == "miss"
    assert "abgeschlossen" in page.lower()


def test_a_closed_round_appears_at_once(cached: Flask, make_project: Any) -> None:
    projects = [make_project(f"Projekt {n}") for n in range(3)]
    round_id = make_round(cached, projects)
    visitor = cached.test_client()
    first, _state = served(visitor, "/priorities")
    assert served(visitor, "/priorities")[1] == "hit"
    end_round(cached, round_id)
    result = cached.test_cli_runner().invoke(args=["rounds", "close-due"])
    assert result.exit_code == 0, result.output
    page, state = served(visitor, "/priorities")
    assert state == "miss"
    assert page != first


def test_the_language_switch_is_never_answered_from_the_other_language(
    cached: Flask, make_project: Any
) -> None:
    make_project("Freies WLAN")
    visitor = cached.test_client()
    german, _state = served(visitor, "/projects")
    assert served(visitor, "/projects")[1] == "hit"
    switched = visitor.post("/language", data={"lang": "en", "next": "/projects"})
    assert switched.status_code == 303
    english, state = served(visitor, "/projects")
    assert state == "miss"
    assert '<html lang="en"' in english
    assert '<html lang="de"' in german
    # Another visitor still gets the German page from the cache.
    other, state = served(cached.test_client(), "/projects")
    assert state == "hit"
    assert '<html lang="de"' in other


def test_logged_in_pages_never_come_from_the_visitors_cache(
    cached: Flask, make_project: Any, make_user: Any
) -> None:
    project = make_project("Freies WLAN")
    served(cached.test_client(), f"/projects/{project.slug}")  # stored for visitors
    resident = cached.test_client()
    login(resident, make_user(Role.resident, name="Annabelle Beispiel"))
    for expected in ("personal-miss", "personal-hit"):  # their own (tests/test_pagecache_personal)
        page, state = served(resident, f"/projects/{project.slug}")
        assert state == expected
        assert "Annabelle Beispiel" in page
    # Logging in wrote to the database, so the visitors' page is rendered again, then stored.
    visitor = cached.test_client()
    pages = [served(visitor, f"/projects/{project.slug}") for _ in range(2)]
    assert [state for _page, state in pages] == ["miss", "hit"]
    assert not any("Annabelle Beispiel" in page for page, _state in pages)


def test_a_page_with_a_flash_message_is_not_stored(
    cached: Flask, make_project: Any, make_user: Any
) -> None:
    make_project("Freies WLAN")
    visitor = cached.test_client()
    with visitor.session_transaction() as session:
        session["_flashes"] = [("info", "Nur für diesen Besuch")]
    page, state = served(visitor, "/projects")
    assert state is None
    assert "Nur für diesen Besuch" in page
    page, state = served(cached.test_client(), "/projects")
    assert state == "miss"
    assert "Nur für diesen Besuch" not in page


def test_every_visitor_gets_a_csrf_token_of_their_own(cached: Flask) -> None:
    cached.config["WTF_CSRF_ENABLED"] = True
    app = cached
    token = re.compile(r'name="csrf_token" value="([^"]+)"')
    first, second = app.test_client(), app.test_client()
    page_one, state_one = served(first, "/impressum")
    page_two, state_two = served(second, "/impressum")
    assert (state_one, state_two) == ("miss", "hit")
    [one], [two] = token.findall(page_one), token.findall(page_two)
    assert one != two
    assert "\x00" not in page_two
    # The token in the page from the cache is valid for this visitor: the switch works.
    switched = second.post("/language", data={"lang": "en", "next": "/", "csrf_token": two})
    assert switched.status_code == 303


def test_mailed_token_links_are_not_stored(cached: Flask, make_user: Any) -> None:
    from kldialog.auth import services as accounts
    from kldialog.auth.models import User

    user = make_user(Role.resident)
    with cached.app_context():
        person = db.session.get(User, user.id)
        token = accounts.make_token("reset", person, person.password_hash)
    client = cached.test_client()
    for _ in range(2):
        response = client.get(f"/password/reset/{token}")
        assert response.status_code == 200
        assert "X-Page-Cache" not in response.headers


def test_pages_go_stale_after_page_cache_seconds(cached: Flask, make_project: Any) -> None:
    cached.extensions["kldialog_pagecache"].seconds = 0
    app = cached
    make_project("Freies WLAN")
    client = app.test_client()
    assert served(client, "/projects")[1] == "miss"
    assert served(client, "/projects")[1] == "miss"


def test_a_rolled_back_write_keeps_the_cache(cached: Flask, make_project: Any) -> None:
    make_project("Freies WLAN")
    visitor = cached.test_client()
    served(visitor, "/projects")
    with cached.app_context():
        db.session.execute(sa.update(Project).values(title="Nie gespeichert"))
        db.session.rollback()
    page, state = served(visitor, "/projects")
    assert state == "hit"
    assert "Nie gespeichert" not in page


# --- the WSGI layer: hits without Flask ------------------------------------------------------

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def flask_requests(app: Flask) -> Iterator[list[str]]:
    """Collect the paths Flask itself handled (a hit of the WSGI layer never gets there)."""
    paths: list[str] = []

    def started(sender: Flask, **extra: Any) -> None:
        paths.append(request.path)

    with request_started.connected_to(started, app):
        yield paths


def same_for_everyone(response: TestResponse) -> tuple[Any, ...]:
    """Return a response without its per-visitor values (cookie value, CSRF token, label)."""
    headers = []
    for name, value in response.headers.items():
        if name == "Set-Cookie":
            cookie_name, _value, attributes = re.split(r"=([^;]*)", value, maxsplit=1)
            value = f"{cookie_name}=…{attributes}"
        elif name == "X-Page-Cache":
            continue
        headers.append((name, value))
    body = TOKEN.sub('name="csrf_token" value="…"', response.get_data(as_text=True))
    return response.status, sorted(headers), body


CSRF_ON = {"WTF_CSRF_ENABLED": True}


@pytest.mark.parametrize(
    "app",
    [CSRF_ON, {**CSRF_ON, "SESSION_COOKIE_SECURE": True}],
    ids=["http", "https"],
    indirect=True,
)
def test_a_hit_of_the_wsgi_layer_is_the_rendered_page(app: Flask, make_project: Any) -> None:
    secure = app.config["SESSION_COOKIE_SECURE"]
    project = make_project("Freies WLAN")
    base = "https://localhost" if secure else "http://localhost"
    for path in ("/", "/projects", f"/projects/{project.slug}", "/impressum", "/priorities"):
        rendered = app.test_client().get(path, base_url=base)
        assert rendered.headers["X-Page-Cache"] == "miss", path
        with flask_requests(app) as handled:
            hit = app.test_client().get(path, base_url=base)
            head = app.test_client().head(path, base_url=base)
        assert handled == [], path  # no request context: the layer answered
        assert hit.headers["X-Page-Cache"] == "hit"
        assert same_for_everyone(hit) == same_for_everyone(rendered), path
        # Both new visitors got a session cookie and a token of their own.
        assert hit.headers["Set-Cookie"] != rendered.headers["Set-Cookie"]
        assert TOKEN.findall(hit.get_data(as_text=True)) != TOKEN.findall(
            rendered.get_data(as_text=True)
        )
        assert head.get_data() == b""
        assert head.headers["Content-Length"] == hit.headers["Content-Length"]
    cookie = hit.headers["Set-Cookie"]
    if secure:
        assert cookie.startswith("__Host-kldialog_session=")
        assert "; Secure" in cookie and "; Path=/" in cookie and "Domain" not in cookie
        assert hit.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "; HttpOnly" in cookie and "; SameSite=Lax" in cookie


@pytest.mark.parametrize("app", [CSRF_ON], indirect=True)
def test_the_cookie_and_token_the_layer_mints_pass_the_csrf_check(
    app: Flask, make_project: Any
) -> None:
    make_project("Freies WLAN")
    served(app.test_client(), "/projects")
    visitor = app.test_client()
    with flask_requests(app) as handled:
        page, state = served(visitor, "/projects")
    assert (state, handled) == ("hit", [])
    [token] = TOKEN.findall(page)
    # Flask reads the minted cookie: the session holds the secret the form token was signed for.
    cookie = visitor.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    stored = app.session_interface.get_signing_serializer(app).loads(cookie.value)  # type: ignore[union-attr]
    assert set(stored) == {"csrf_token"}
    switched = visitor.post("/language", data={"lang": "en", "next": "/", "csrf_token": token})
    assert switched.status_code == 303
    # Someone else's token does not fit this visitor's cookie.
    other, _state = served(app.test_client(), "/projects")
    [foreign] = TOKEN.findall(other)
    refused = visitor.post("/language", data={"lang": "de", "next": "/", "csrf_token": foreign})
    assert refused.status_code == 400
    # The returning visitor (cookie with token and language) gets hits in English, no new cookie.
    assert served(visitor, "/projects")[1] == "miss"
    with flask_requests(app) as handled:
        response = visitor.get("/projects")
    assert (response.headers["X-Page-Cache"], handled) == ("hit", [])
    assert "Set-Cookie" not in response.headers
    assert '<html lang="en"' in response.get_data(as_text=True)
    [again] = TOKEN.findall(response.get_data(as_text=True))
    assert (
        visitor.post("/language", data={"lang": "de", "next": "/", "csrf_token": again}).status_code
        == 303
    )


def test_a_tampered_session_cookie_goes_to_flask(cached: Flask, make_project: Any) -> None:
    make_project("Freies WLAN")
    english = cached.test_client()
    english.post("/language", data={"lang": "en", "next": "/"})
    served(english, "/projects")
    served(cached.test_client(), "/projects")  # both languages are stored
    cookie = english.get_cookie(cached.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    payload, stamp, signature = cookie.value.split(".")
    session = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    session["lang"] = "de"
    forged = base64.urlsafe_b64encode(json.dumps(session).encode()).rstrip(b"=").decode()
    # A character inside the signature: the last one carries unused bits, so changing it may
    # leave the decoded signature as it was (the test then failed about once in a thousand).
    other = "A" if signature[5] != "A" else "B"
    broken = signature[:5] + other + signature[6:]
    for value in (f"{forged}.{stamp}.{signature}", f"{payload}.{stamp}.{broken}"):
        visitor = cached.test_client()
        visitor.set_cookie(cached.config["SESSION_COOKIE_NAME"], value)
        with flask_requests(cached) as handled:
            response = visitor.get("/projects")
        assert handled == ["/projects"]  # Flask opened the session: not the layer
        # Flask found the cookie invalid and began a new session (German, a cookie of its own).
        assert response.headers["X-Page-Cache"] == "hit"
        assert '<html lang="de"' in response.get_data(as_text=True)
        assert response.headers["Set-Cookie"].split(";")[0] != f"kldialog_session={value}"


def test_a_per_visitor_header_is_never_sent_again(cached: Flask) -> None:
    visits = iter(range(1, 100))

    def per_visitor(response: Any) -> Any:
        response.headers["X-Visit"] = str(next(visits))
        return response

    # Position 0 runs last, after the cache's own hook (as the rate limiter's headers do).
    cached.after_request_funcs.setdefault(None, []).insert(0, per_visitor)
    first = cached.test_client().get("/impressum")
    with flask_requests(cached) as handled:
        second = cached.test_client().get("/impressum")
    assert first.headers["X-Page-Cache"] == "miss"
    assert second.headers["X-Page-Cache"] == "hit"
    assert handled == ["/impressum"]  # through Flask's hooks, which gave it its own value
    assert (first.headers["X-Visit"], second.headers["X-Visit"]) == ("1", "2")


def test_a_cookie_set_after_the_cache_hook_is_never_stored(cached: Flask) -> None:
    def plant(response: Any) -> Any:
        response.set_cookie("tracking", "someone")
        return response

    cached.after_request_funcs.setdefault(None, []).insert(0, plant)
    for _ in range(2):
        response = cached.test_client().get("/impressum")
        assert "X-Page-Cache" not in response.headers


def test_conditional_api_requests_still_get_304(cached: Flask, make_project: Any) -> None:
    make_project("Freies WLAN")
    first = cached.test_client().get("/api/v1/projects")
    assert first.headers["X-Page-Cache"] == "miss"
    etag = first.headers["ETag"]
    with flask_requests(cached) as handled:
        again = cached.test_client().get("/api/v1/projects", headers={"If-None-Match": etag})
        plain = cached.test_client().get("/api/v1/projects")
    assert again.status_code == 304
    assert plain.status_code == 200 and plain.headers["X-Page-Cache"] == "hit"
    assert plain.get_data() == first.get_data()
    assert handled == ["/api/v1/projects"] * 2  # ETag and Date are made by Flask each time


@pytest.mark.parametrize("app", [{"PROXY_COUNT": 1}], indirect=True)
def test_behind_a_proxy_the_layer_keys_on_the_forwarded_host(app: Flask) -> None:

    def visit(host: str) -> TestResponse:
        return app.test_client().get("/impressum", headers={"X-Forwarded-Host": host})

    assert visit("a.example").headers["X-Page-Cache"] == "miss"
    with flask_requests(app) as handled:
        assert visit("a.example").headers["X-Page-Cache"] == "hit"
    assert handled == []
    assert visit("b.example").headers["X-Page-Cache"] == "miss"


def test_a_stored_page_is_not_sent_to_a_logged_in_visitor(
    cached: Flask, make_project: Any, make_user: Any
) -> None:
    make_project("Freies WLAN")
    resident = cached.test_client()
    login(resident, make_user(Role.resident, name="Annabelle Beispiel"))
    with resident.session_transaction() as session:
        session["csrf_token"] = "f" * 40  # as a login with CSRF on has one
    visitor = cached.test_client()
    assert [served(visitor, "/projects")[1] for _ in range(2)] == ["miss", "hit"]
    page, state = served(resident, "/projects")
    assert state == "personal-miss"  # rendered for them, not the visitors' page
    assert "Annabelle Beispiel" in page


def test_a_stored_page_is_not_sent_with_a_flash_message_due(
    cached: Flask, make_project: Any
) -> None:
    make_project("Freies WLAN")
    assert [served(cached.test_client(), "/projects")[1] for _ in range(2)] == ["miss", "hit"]
    visitor = cached.test_client()
    with visitor.session_transaction() as session:
        session["_flashes"] = [("info", "Nur für diesen Besuch")]
        session["csrf_token"] = "f" * 40
    page, state = served(visitor, "/projects")
    assert state is None
    assert "Nur für diesen Besuch" in page


def test_a_session_with_a_language_and_no_token_keeps_its_language(
    cached: Flask, make_project: Any
) -> None:
    make_project("Freies WLAN")
    english = cached.test_client()
    english.post("/language", data={"lang": "en", "next": "/"})
    assert served(english, "/projects")[1] == "miss"  # stored in English
    visitor = cached.test_client()
    visitor.post("/language", data={"lang": "en", "next": "/"})  # no CSRF token in the suite
    with visitor.session_transaction() as session:
        assert dict(session) == {"lang": "en"}
    for _ in range(2):
        page, state = served(visitor, "/projects")
        assert state == "hit"
        assert '<html lang="en"' in page


def test_a_session_under_another_cookie_name_is_not_read(cached: Flask) -> None:
    visitor = cached.test_client()
    served(visitor, "/impressum")
    cookie = visitor.get_cookie(cached.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    other = cached.test_client()
    other.set_cookie("kldialog_remember", cookie.value)
    response = other.get("/impressum")
    assert "X-Page-Cache" not in response.headers  # rendered: this visitor may be logged in


def test_a_memo_is_computed_once_per_data_version(
    cached: Flask, make_project: Any, make_user: Any
) -> None:
    from kldialog.moderation.services import monthly_report

    from .test_comments import make_comment

    project = make_project("Freies WLAN")
    author = make_user(Role.resident)
    make_comment(cached, author, project, "Erster Beitrag")

    def published() -> int:
        with cached.test_request_context():
            return sum(month.published for month in monthly_report())

    assert published() == 1
    with cached.app_context(), count_queries() as statements:
        assert published() == 1
    assert statements == []  # the second reader shares the first one's counts
    make_comment(cached, author, project, "Zweiter Beitrag")
    assert published() == 2  # a write, and the next reader counts again
    cached.extensions["kldialog_pagecache"].seconds = 0
    with cached.app_context(), count_queries() as statements:
        assert published() == 2
    assert statements  # older than PAGE_CACHE_SECONDS: counted again
