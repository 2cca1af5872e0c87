"""Server behaviour behind issue 13's usability fixes (links that work, messages that arrive)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask

from kldialog.auth.models import Role
from kldialog.comments.models import Comment, CommentStatus
from kldialog.kernel.db import db

from .conftest import login
from .test_auth import REGISTRATION, link_in
from .test_comments import make_comment


def _reply_links(page: str) -> list[str]:
    return re.findall(r'href="(/comments/\d+/reply)"', page)


def test_every_reply_link_leads_to_a_page_that_works(
    app: Flask, client: Any, make_user: Any, make_project: Any
) -> None:
    """Under a reply whose comment was hidden there is no reply link that ends in 403."""
    project = make_project("Radweg")
    author = make_user(Role.resident)
    hidden_id = make_comment(app, author, project, "Frage")
    make_comment(app, author, project, "Antwort", parent=hidden_id)
    open_id = make_comment(app, author, project, "Andere Frage")
    make_comment(app, author, project, "Andere Antwort", parent=open_id)
    with app.app_context():
        comment = db.session.get(Comment, hidden_id)
        comment.status = CommentStatus.hidden
        comment.hidden_reason = "Beleidigung"
        db.session.commit()
    login(client, make_user(Role.resident))
    links: set[str] = set()
    for path in (f"/projects/{project.slug}", f"/comments/{hidden_id}", f"/comments/{open_id}"):
        links.update(_reply_links(client.get(path).get_data(as_text=True)))
    assert links, "the open comment and its reply must still offer a reply link"
    for link in sorted(links):
        assert client.get(link).status_code == 200, link
    hidden_page = client.get(f"/comments/{hidden_id}").get_data(as_text=True)
    assert _reply_links(hidden_page) == []


def test_after_confirming_the_address_the_new_user_sees_confirmed_and_a_next_step(
    app_factory: Callable[..., Flask], outbox: Callable[[], list[Any]]
) -> None:
    """The login after confirmation starts a fresh session: message and next step survive it."""
    client = app_factory().test_client()
    client.post("/register", data=REGISTRATION)
    url = link_in(outbox()[-1], "/confirm/")
    response = client.post(url)
    assert response.headers["Location"] == "/account"
    page = client.get("/account").get_data(as_text=True)
    assert "Vielen Dank: Ihre E-Mail-Adresse ist bestätigt." in page
    assert 'id="welcome-title"' in page
    assert 'href="/account/residency"' in page.split('id="welcome-title"')[1].split("</section>")[0]
    again = client.get("/account").get_data(as_text=True)
    assert "ist bestätigt." not in again
    assert 'id="welcome-title"' not in again
