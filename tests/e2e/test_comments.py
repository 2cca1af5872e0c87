"""Comments in the browser: two residents discuss, XSS payloads stay text, counter, axe."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.kernel.db import db

from .test_accounts import check_axe
from .test_pages import choose_language

PASSWORD = "sieben lange Wörter hier"
PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "javascript:alert(1)",
    '"><svg onload=alert(1)>',
]


def resident(live_app: Flask, email: str, name: str) -> None:
    with live_app.app_context():
        try:
            accounts.create_confirmed_user(
                email=email, password=PASSWORD, display_name=name, roles=[Role.resident]
            )
        except Exception:  # noqa: BLE001  (already there from the other language's run)
            db.session.rollback()


def log_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).not_to_have_url(re.compile("/login"))


@pytest.mark.parametrize("language", ["de", "en"])
def test_two_residents_discuss(
    browser: Browser, base_url: str, live_app: Flask, language: str
) -> None:
    resident(live_app, f"anna-{language}@example.org", f"Anna {language}")
    resident(live_app, f"bert-{language}@example.org", f"Bert {language}")
    dialogs: list[str] = []
    anna = browser.new_page(base_url=base_url)
    anna.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    choose_language(anna, language)
    log_in(anna, f"anna-{language}@example.org")
    anna.goto("/projects")
    anna.locator("main a[href^='/projects/']").first.click()
    project_url = anna.url.split("#")[0].split("?")[0]

    # The counter counts with JavaScript and warns when over the limit.
    box = anna.locator("#comment-body")
    box.fill("a" * 2005)
    expect(anna.locator("#comment-body-counter")).to_contain_text(re.compile("5"))
    expect(anna.locator("#comment-body-counter")).to_have_class(re.compile("comment-counter--over"))
    anna.locator("#discussion form.comment-form button[type=submit]").click()
    expect(anna.locator("#error-summary")).to_be_visible()
    expect(anna.locator("#comment-body")).to_have_value("a" * 2005)
    check_axe(anna, "comment too long")

    anna.goto(project_url)
    for payload in PAYLOADS:
        anna.locator("#comment-body").fill(f"Anna sagt: {payload}")
        anna.locator("#discussion form.comment-form button[type=submit]").click()
        expect(anna.locator("#discussion")).to_contain_text(f"Anna sagt: {payload}")
    assert anna.locator("#discussion script, #discussion img, #discussion svg").count() == 0
    assert anna.locator("#discussion a[href^='javascript']").count() == 0
    check_axe(anna, "project page with comments")
    comment_id = anna.locator("#discussion article.comment").first.get_attribute("id").split("-")[1]

    anna.goto(f"/comments/{comment_id}/edit")
    check_axe(anna, "edit")
    anna.locator("#edit-body").fill("Anna sagt: geändert")
    anna.locator("main form.comment-form button[type=submit]").click()
    expect(anna.locator(f"#comment-{comment_id}")).to_contain_text("geändert")

    bert = browser.new_page(base_url=base_url)
    bert.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    choose_language(bert, language)
    log_in(bert, f"bert-{language}@example.org")
    bert.goto(f"/comments/{comment_id}/reply")
    check_axe(bert, "reply")
    bert.locator("#reply-body").fill("Bert antwortet <b>fett</b>")
    bert.locator("main form.comment-form button[type=submit]").click()
    expect(bert.locator("main")).to_contain_text("Bert antwortet <b>fett</b>")
    bert.goto(project_url)
    bert.locator(f"#comment-{comment_id} form[action$='/support'] button").click()
    expect(
        bert.locator(f"#comment-{comment_id} form[action$='/unsupport'] button")
    ).to_contain_text("1")
    bert.goto(f"/comments/{comment_id}/report")
    check_axe(bert, "report")
    bert.locator("#reason").check()
    bert.locator("main form button[type=submit]").click()
    expect(bert).to_have_url(re.compile(rf"#comment-{comment_id}$"))

    anna.goto(f"/comments/{comment_id}/delete")
    check_axe(anna, "delete")
    anna.locator("main form button[type=submit]").click()
    expect(anna.locator(f"#comment-{comment_id}")).not_to_contain_text("geändert")
    anna.goto(f"/comments/{comment_id}")
    check_axe(anna, "comment page")
    assert dialogs == []
