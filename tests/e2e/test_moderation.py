"""Moderation in Chromium: report, hide with a reason, the author appeals, the public report."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, expect

from kldialog.auth import services as accounts
from kldialog.auth.models import Role, User
from kldialog.comments import services as comments
from kldialog.comments.models import Comment, ReportReason, Thread
from kldialog.kernel.db import db
from kldialog.projects.models import Project

from ..conftest import PASSWORD
from .test_admin import assert_accessible, log_in
from .test_pages import choose_language

BODY = "Der Radweg ist eine Zumutung, <script>alert(1)</script> wer plant sowas?"
REASON = "Persönlicher Angriff auf andere Teilnehmende"


@pytest.fixture(scope="module")
def scene(live_app: Flask) -> dict[str, Any]:
    """A resident's comment on a project, reported by three other residents."""
    made: dict[str, Any] = {}
    with live_app.test_request_context():
        people = {}
        for key, name, roles in [
            ("author", "Karl Kommentar", []),
            ("moderator", "Mia Moderation", [Role.moderator]),
            *[(f"reporter{i}", f"Rosa Meldung {i}", []) for i in range(3)],
        ]:
            email = f"e2e-mod-{key}@example.org"
            user = accounts.find_user_by_email(email) or accounts.create_confirmed_user(
                email=email, password=PASSWORD, display_name=name, roles=roles
            )
            people[key] = user
            made[key] = {"id": user.id, "email": email, "name": name}
        project = db.session.scalar(sa.select(Project).order_by(Project.id))
        if project.thread is None:
            project.thread = comments.open_thread("project")
            db.session.commit()
        thread = db.session.get(Thread, project.thread_id)
        comment = comments.post_comment(people["author"], thread, BODY)
        for i in range(3):
            comments.report_comment(
                people[f"reporter{i}"], comment, ReportReason.offensive, f"Angriff {i}"
            )
        made["comment_id"] = comment.id
        made["project"] = project.title
    return made


def test_moderator_hides_author_appeals_report_counts(
    browser: Browser, base_url: str, live_app: Flask, scene: dict[str, Any]
) -> None:
    cid = scene["comment_id"]
    moderator = browser.new_context(base_url=base_url)
    page = moderator.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    log_in(page, scene["moderator"]["email"])

    for language in ["de", "en"]:
        choose_language(page, language)
        page.goto("/moderation")
        assert_accessible(page, f"/moderation ({language})")
        page.goto("/moderation/keywords")
        assert_accessible(page, f"/moderation/keywords ({language})")
        page.goto(f"/moderation/comments/{cid}")
        assert_accessible(page, f"/moderation/comments ({language})")

    # The queue shows the reported comment; open it.
    page.goto("/moderation?filter=reported")
    page.locator(f"main a[href='/moderation/comments/{cid}']").click()
    expect(page.locator("h1")).to_contain_text(str(cid))
    expect(page.locator("main")).to_contain_text("Angriff 2")
    expect(page.locator("main")).to_contain_text(scene["project"])

    # Without a reason nothing happens; with one the comment is hidden.
    page.locator("input[name=action][value=hide]").check()
    page.locator("main form button[type=submit]").last.click()
    expect(page.locator("#error-summary")).to_be_visible()
    page.locator("input[name=action][value=hide]").check()
    page.fill("textarea[name=reason]", REASON)
    page.locator("main form button[type=submit]").last.click()
    # A decision leads on to the next comment in the queue (or the empty queue).
    expect(page).not_to_have_url(re.compile(rf"/moderation/comments/{cid}$"))
    page.goto(f"/moderation/comments/{cid}")
    expect(page.locator("main")).to_contain_text(REASON)
    with live_app.app_context():
        assert db.session.get(Comment, cid).status.value == "hidden"
    page.goto("/moderation/log")
    expect(page.locator("main table")).to_contain_text(REASON)
    for language in ["de", "en"]:
        choose_language(page, language)
        page.goto("/moderation/log")
        assert_accessible(page, f"/moderation/log ({language})")

    # The author sees why and appeals once.
    author = browser.new_context(base_url=base_url).new_page()
    author.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    log_in(author, scene["author"]["email"])
    author.locator("main a[href='/account/moderation']").click()
    expect(author.locator("main")).to_contain_text(REASON)
    expect(author.locator("main")).to_contain_text("<script>alert(1)</script>")
    for language in ["de", "en"]:
        choose_language(author, language)
        author.goto("/account/moderation")
        assert_accessible(author, f"/account/moderation ({language})")
    author.fill(f"textarea[name='appeal-{cid}-text']", "Das war Kritik am Projekt, kein Angriff.")
    author.locator(f"form[action='/account/moderation/{cid}/appeal'] button").click()
    expect(author.locator(f"form[action='/account/moderation/{cid}/appeal']")).to_have_count(0)
    assert_accessible(author, "/account/moderation after appeal")

    # The appeal lands in the moderator's queue.
    page.goto("/moderation?filter=appeals")
    expect(page.locator(f"main a[href='/moderation/comments/{cid}']")).to_be_visible()

    # The public report counts it, without names, in both languages.
    anonymous = browser.new_context(base_url=base_url).new_page()
    for language in ["de", "en"]:
        choose_language(anonymous, language)
        anonymous.locator("footer a[href='/moderationsbericht']").click()
        assert_accessible(anonymous, f"/moderationsbericht ({language})")
        text = anonymous.locator("main").inner_text()
        for person in ["Karl", "Mia", "Rosa"]:
            assert person not in text
    data = json.loads(anonymous.request.get(f"{base_url}/moderationsbericht.json").text())
    latest = data[0]
    assert latest["hidden"] >= 1 and latest["reported"] >= 1 and latest["appeals"] >= 1
    assert latest["report_reasons"]["offensive"] >= 3
    assert not dialogs
    with live_app.app_context():
        assert db.session.get(User, scene["author"]["id"]).blocked_until is None
    assert re.search(r"/moderationsbericht$", anonymous.url)


def test_moderation_pages_fit_a_phone_without_sideways_scrolling(
    browser: Browser, base_url: str, scene: dict[str, Any]
) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, base_url=base_url)
    page = context.new_page()
    log_in(page, scene["moderator"]["email"])
    for path in (
        "/moderation",
        f"/moderation/comments/{scene['comment_id']}",
        "/moderation/log",
        "/moderation/keywords",
        "/moderationsbericht",
    ):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
    context.close()
