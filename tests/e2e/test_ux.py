"""Issue 13 in Chromium: the moderation queue and decision form at 1280 and 360 px, de and en."""

from __future__ import annotations

import os
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, expect

from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.comments import services as comments
from kldialog.comments.models import ReportReason, Thread
from kldialog.kernel.db import db
from kldialog.projects.models import Project

from ..conftest import PASSWORD
from .conftest import run_axe

# Elements sticking out to the right of the screen (outside any scroll box).
WIDER_THAN_SCREEN = """() => [...document.querySelectorAll('body *')].filter(e => {
  const r = e.getBoundingClientRect();
  return r.right > window.innerWidth + 1 && !e.closest('.kern-table-responsive, .site-nav__list');
}).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""
SHOTS = os.environ.get("KLDIALOG_SHOTS")  # a folder: save screenshots there to look at them


@pytest.fixture(scope="module")
def queue(live_app: Flask) -> dict[str, Any]:
    """Two reported comments and a moderator."""
    with live_app.test_request_context():
        people = {}
        for key, roles in [("mod", [Role.moderator]), *[(f"r{i}", []) for i in range(3)]]:
            email = f"e2e-ux-{key}@example.org"
            people[key] = accounts.find_user_by_email(email) or accounts.create_confirmed_user(
                email=email, password=PASSWORD, display_name=f"UX {key}", roles=roles
            )
        project = db.session.scalar(sa.select(Project).order_by(Project.id.desc()))
        if project.thread is None:
            project.thread = comments.open_thread("project")
            db.session.commit()
        thread = db.session.get(Thread, project.thread_id)
        ids = []
        for text in ("Erster Kommentar zum Prüfen", "Zweiter Kommentar zum Prüfen"):
            comment = comments.post_comment(people["r0"], thread, text)
            for i in (1, 2):
                comments.report_comment(people[f"r{i}"], comment, ReportReason.offensive, "grob")
            ids.append(comment.id)
        return {"email": "e2e-ux-mod@example.org", "ids": ids}


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width", [1280, 360])
@pytest.mark.parametrize("language", ["de", "en"])
def test_moderation_queue_and_decision_form_on_desk_and_phone(
    browser: Browser, base_url: str, queue: dict[str, Any], width: int, language: str
) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": width, "height": 780})
    page = context.new_page()
    page.goto("/")
    if page.locator("html").get_attribute("lang") != language:
        page.locator(f"form.language-switch button[value='{language}']").click()
    page.goto("/login")
    page.fill("input[name=email]", queue["email"])
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.goto("/moderation")
    expect(page.locator("html")).to_have_attribute("lang", language)
    results = run_axe(page)
    assert results.violations_count == 0, results.generate_report()
    # Nothing wider than the screen; on a phone each comment is a card, not a squeezed row.
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    row = page.locator(".moderation-table tbody tr").first
    if width == 360:
        assert row.evaluate("r => getComputedStyle(r).display") == "block"
        assert row.bounding_box()["width"] >= 300
    _shot(page, f"queue-{language}-{width}")

    first = queue["ids"][0]
    page.goto(f"/moderation/comments/{first}")
    results = run_axe(page)
    assert results.violations_count == 0, results.generate_report()
    reason = page.locator("#reason")
    expect(reason).to_be_hidden()  # decision fields wait until an action is chosen
    _shot(page, f"item-before-{language}-{width}")
    page.locator("input[name=action][value=hide]").check()
    expect(reason).to_be_visible()
    expect(page.locator("#block_days")).to_be_hidden()  # only for blocks
    page.locator("#preset").select_option("spam")
    label = page.locator("#preset option[value=spam]").inner_text()
    expect(reason).to_have_value(label)
    reason.fill(label + " – bitte keine Werbung")
    results = run_axe(page)
    assert results.violations_count == 0, results.generate_report()
    _shot(page, f"item-after-{language}-{width}")
    # Reopen the first comment instead of deciding: the run for the next width/language reuses it.
    context.close()


@pytest.fixture(scope="module")
def staff_email(live_app: Flask) -> str:
    """A staff account with one survey that has two questions."""
    import datetime as dt

    from kldialog.kernel.time import utcnow
    from kldialog.surveys import builder
    from kldialog.surveys.models import QuestionKind
    from kldialog.windows.models import Eligibility

    email = "e2e-ux-staff@example.org"
    with live_app.test_request_context():
        staff = accounts.find_user_by_email(email) or accounts.create_confirmed_user(
            email=email, password=PASSWORD, display_name="UX Verwaltung", roles=[Role.staff]
        )
        now = utcnow()
        survey = builder.create_survey(
            staff, title="Umfrage zur Verkehrslenkung in der Innenstadt", intro="Bitte antworten.",
            opens_at=now + dt.timedelta(days=1), closes_at=now + dt.timedelta(days=9),
            eligibility=Eligibility.resident, project_ids=(),
        )  # fmt: skip
        for text in ("Wie oft fahren Sie in die Innenstadt?", "Womit fahren Sie meistens?"):
            builder.save_question(
                staff, survey, None, section_id=survey.sections[0].id, kind=QuestionKind.single,
                text=text, is_required=True, has_other=False, options=["oft", "selten"],
            )  # fmt: skip
    return email


@pytest.mark.parametrize("language", ["de", "en"])
def test_staff_survey_pages_and_round_form_fit_a_phone(
    browser: Browser, base_url: str, staff_email: str, language: str
) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": 360, "height": 780})
    page = context.new_page()
    page.goto("/")
    if page.locator("html").get_attribute("lang") != language:
        page.locator(f"form.language-switch button[value='{language}']").click()
    page.goto("/login")
    page.fill("input[name=email]", staff_email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.goto("/staff/surveys")
    assert page.locator('.site-nav a[href="/staff/surveys"]').count() == 1
    results = run_axe(page)
    assert results.violations_count == 0, results.generate_report()
    assert page.evaluate(WIDER_THAN_SCREEN) == []
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360
    _shot(page, f"staff-surveys-{language}-360")
    page.locator("main table a").first.click()
    move = page.locator(".staff-row-actions .kern-btn").first
    box = move.bounding_box()
    assert box["height"] < 40, "the up/down button must not wrap onto two lines"
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360
    _shot(page, f"staff-survey-form-{language}-360")
    page.goto("/staff/rounds/new")
    page.locator("input[name=method][value=approval]").check()
    expect(page.locator("#budget")).to_be_hidden()
    expect(page.locator("#max_per_project")).to_be_hidden()
    expect(page.locator("#max_choices")).to_be_visible()
    page.locator("input[name=method][value=points]").check()
    expect(page.locator("#budget")).to_be_visible()
    expect(page.locator("#max_choices")).to_be_hidden()
    results = run_axe(page)
    assert results.violations_count == 0, results.generate_report()
    _shot(page, f"round-form-{language}-360")
    context.close()
