"""Existence leaks: a draft project (and its comments) answers exactly like one that is missing.

Anyone who may not see drafts gets the same status, body and redirect for a draft's slug or
comment as for a slug or id that never existed; archived projects stay public.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from kldialog.auth.models import Role, User
from kldialog.comments import services as comments
from kldialog.kernel.db import db
from kldialog.projects.models import Project, Visibility

from .conftest import login

MISSING_SLUG = "gibt-es-nicht"
MISSING_ID = 987654
CSRF_TOKEN = re.compile(r'name="csrf_token" value="[^"]*"')
# (method, address, needs a login): every route that takes a project slug or a comment id.
PROJECT_ROUTES = [
    ("GET", "/projects/{slug}", False),
    ("POST", "/projects/{slug}/follow", False),
    ("POST", "/projects/{slug}/unfollow", True),
    ("POST", "/projects/{slug}/rating", True),
    ("POST", "/projects/{slug}/comments", True),
    ("POST", "/projects/{slug}/discussion/close", True),
    ("POST", "/projects/{slug}/discussion/open", True),
]
COMMENT_ROUTES = [
    ("GET", "/comments/{cid}", False),
    ("GET", "/comments/{cid}/reply", True),
    ("POST", "/comments/{cid}/reply", True),
    ("GET", "/comments/{cid}/edit", True),
    ("POST", "/comments/{cid}/edit", True),
    ("GET", "/comments/{cid}/delete", True),
    ("POST", "/comments/{cid}/delete", True),
    ("POST", "/comments/{cid}/support", True),
    ("POST", "/comments/{cid}/unsupport", True),
    ("GET", "/comments/{cid}/report", True),
    ("POST", "/comments/{cid}/report", True),
    ("POST", "/account/moderation/{cid}/appeal", True),
]
PEOPLE = ("anonymous", "resident", "verified", "blocked", "moderator", "council")


class Site(NamedTuple):
    """Slugs and comment ids of a draft, an archived and a published project, and people."""

    draft: str
    archived: str
    published: str
    draft_comment: int
    archived_comment: int
    published_comment: int
    people: dict[str, Any]


@pytest.fixture
def site(app: Flask, make_user: Callable[..., Any], make_project: Callable[..., Any]) -> Site:
    """Three projects with a discussion and one comment each, by an author nobody else is."""
    author = make_user(name="Anna Autorin")
    people: dict[str, Any] = {
        "anonymous": None,
        "resident": make_user(name="Rudi Resident"),
        "verified": make_user(name="Vera Verifiziert", is_verified=True),
        "blocked": make_user(name="Bernd Gesperrt"),
        "moderator": make_user(Role.moderator, name="Mira Moderatorin"),
        "council": make_user(Role.council, name="Carla Rat"),
    }
    made = {}
    for state in (Visibility.draft, Visibility.archived, Visibility.published):
        project = make_project(f"Projekt {state.value}")  # published while the comment is written
        with app.test_request_context():
            row = db.session.get(Project, project.id)
            row.thread = comments.open_thread("project")
            db.session.commit()
            comment = comments.post_comment(
                db.session.get(User, author.id), row.thread, f"Kommentar zu {state.value}."
            )
            row = db.session.get(Project, project.id)
            row.state = state
            db.session.commit()
            made[state] = (row.slug, comment.id)
    with app.app_context():
        from kldialog.auth.blocking import PERMANENT_BLOCK

        db.session.get(User, people["blocked"].id).blocked_until = PERMANENT_BLOCK
        db.session.commit()
    return Site(
        made[Visibility.draft][0],
        made[Visibility.archived][0],
        made[Visibility.published][0],
        made[Visibility.draft][1],
        made[Visibility.archived][1],
        made[Visibility.published][1],
        people,
    )


def client_for(app: Flask, site: Site, who: str) -> FlaskClient:
    client = app.test_client()
    if site.people[who] is not None:
        login(client, site.people[who])
    client.post("/language", data={"lang": "de"})
    return client


def answer(client: FlaskClient, method: str, url: str) -> tuple[int, str, str]:
    """Return status, body and redirect target, with the requested address as a placeholder.

    The pages repeat their own address (language switch, login "next"), and a CSRF token
    carries the second it was signed in; nothing else may differ.
    """
    response = client.open(url, method=method, data={})
    body, location = response.get_data(as_text=True), response.location or ""
    for spelling in (url, quote(url, safe="")):
        body, location = body.replace(spelling, "<URL>"), location.replace(spelling, "<URL>")
    body = CSRF_TOKEN.sub('name="csrf_token" value="<TOKEN>"', body)
    return response.status_code, body, location


def differences(one: tuple[int, str, str], other: tuple[int, str, str]) -> str:
    """Return the differing lines of two answers, for the failure message."""
    lines = difflib.unified_diff(
        [str(one[0]), one[2], *one[1].splitlines()],
        [str(other[0]), other[2], *other[1].splitlines()],
        lineterm="",
        n=0,
    )
    return "\n".join(lines)


@pytest.mark.parametrize("who", PEOPLE)
@pytest.mark.parametrize(("method", "route", "login_needed"), PROJECT_ROUTES)
def test_a_draft_slug_answers_like_a_missing_one(
    app: Flask, site: Site, who: str, method: str, route: str, login_needed: bool
) -> None:
    client = client_for(app, site, who)
    draft = answer(client, method, route.format(slug=site.draft))
    missing = answer(client, method, route.format(slug=MISSING_SLUG))
    assert draft == missing, differences(draft, missing)
    expected = 302 if who == "anonymous" and login_needed else 404
    assert draft[0] == expected


@pytest.mark.parametrize("who", PEOPLE)
@pytest.mark.parametrize(("method", "route", "login_needed"), COMMENT_ROUTES)
def test_a_comment_on_a_draft_answers_like_a_missing_one(
    app: Flask, site: Site, who: str, method: str, route: str, login_needed: bool
) -> None:
    client = client_for(app, site, who)
    draft = answer(client, method, route.format(cid=site.draft_comment))
    missing = answer(client, method, route.format(cid=MISSING_ID))
    assert draft == missing, differences(draft, missing)
    expected = 302 if who == "anonymous" and login_needed else 404
    assert draft[0] == expected


# What a resident (not the author) gets on an archived project: the same as on a published
# one, except that archived projects take no ratings. Written out per route.
ARCHIVED_PROJECT = {
    ("GET", "/projects/{slug}"): (200, 200),
    ("POST", "/projects/{slug}/follow"): (303, 303),
    ("POST", "/projects/{slug}/unfollow"): (303, 303),
    ("POST", "/projects/{slug}/rating"): (403, 303),
    ("POST", "/projects/{slug}/comments"): (422, 422),
    ("POST", "/projects/{slug}/discussion/close"): (403, 403),
    ("POST", "/projects/{slug}/discussion/open"): (403, 403),
}
ARCHIVED_COMMENT = {
    ("GET", "/comments/{cid}"): (200, 200),
    ("GET", "/comments/{cid}/reply"): (200, 200),
    ("POST", "/comments/{cid}/reply"): (422, 422),
    ("GET", "/comments/{cid}/edit"): (403, 403),
    ("POST", "/comments/{cid}/edit"): (403, 403),
    ("GET", "/comments/{cid}/delete"): (403, 403),
    ("POST", "/comments/{cid}/delete"): (403, 403),
    ("POST", "/comments/{cid}/support"): (303, 303),
    ("POST", "/comments/{cid}/unsupport"): (303, 303),
    ("GET", "/comments/{cid}/report"): (200, 200),
    ("POST", "/comments/{cid}/report"): (422, 422),
    ("POST", "/account/moderation/{cid}/appeal"): (404, 404),  # not the resident's comment
}


def test_every_route_is_in_the_archived_tables() -> None:
    assert set(ARCHIVED_PROJECT) == {(m, r) for m, r, _login in PROJECT_ROUTES}
    assert set(ARCHIVED_COMMENT) == {(m, r) for m, r, _login in COMMENT_ROUTES}


@pytest.mark.parametrize(("method", "route"), list(ARCHIVED_PROJECT))
def test_archived_projects_stay_public(app: Flask, site: Site, method: str, route: str) -> None:
    client = client_for(app, site, "resident")
    archived = client.open(route.format(slug=site.archived), method=method, data={})
    published = client.open(route.format(slug=site.published), method=method, data={})
    assert (archived.status_code, published.status_code) == ARCHIVED_PROJECT[(method, route)]


@pytest.mark.parametrize(("method", "route"), list(ARCHIVED_COMMENT))
def test_comments_on_archived_projects_stay_public(
    app: Flask, site: Site, method: str, route: str
) -> None:
    client = client_for(app, site, "resident")
    archived = client.open(route.format(cid=site.archived_comment), method=method, data={})
    published = client.open(route.format(cid=site.published_comment), method=method, data={})
    assert (archived.status_code, published.status_code) == ARCHIVED_COMMENT[(method, route)]
