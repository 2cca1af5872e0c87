"""The anonymous page cache: served again only while nothing was written, never personal."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from kldialog.auth.models import Role
from kldialog.kernel.db import db
from kldialog.projects.models import Project, Status

from .conftest import count_queries, login
from .test_priorities import end_round, make_round

CACHE = {"PAGE_CACHE_ENABLED": True}


@pytest.fixture
def app(app_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """Return an app with the cache on and a data-version file of its own (for all fixtures)."""
    monkeypatch.setenv("KLDIALOG_INSTANCE_PATH", str(tmp_path / "instance"))
    return app_factory(**CACHE)


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


def test_logged_in_pages_never_come_from_the_cache(
    cached: Flask, make_project: Any, make_user: Any
) -> None:
    project = make_project("Freies WLAN")
    served(cached.test_client(), f"/projects/{project.slug}")  # stored for visitors
    resident = cached.test_client()
    login(resident, make_user(Role.resident, name="Annabelle Beispiel"))
    for _ in range(2):
        page, state = served(resident, f"/projects/{project.slug}")
        assert state is None
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
