"""The council dashboard in the browser: content, keyboard order, axe in both languages."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Browser, expect

from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.kernel.db import db

from .test_accounts import check_axe
from .test_comments import PASSWORD, log_in
from .test_pages import choose_language


@pytest.mark.parametrize("language", ["de", "en"])
def test_council_member_reads_the_dashboard(
    browser: Browser, base_url: str, live_app: Flask, language: str
) -> None:
    email = f"stadtrat-{language}@example.org"
    with live_app.app_context():
        if accounts.find_user_by_email(email) is None:
            accounts.create_confirmed_user(
                email=email, password=PASSWORD, display_name=f"Rat {language}", roles=[Role.council]
            )
        db.session.remove()
    page = browser.new_page(base_url=base_url)
    choose_language(page, language)
    log_in(page, email)
    page.locator("nav.site-nav a[href='/council']").click()
    expect(page.locator("h1")).to_have_text(
        "Übersicht für den Stadtrat" if language == "de" else "Council dashboard"
    )
    expect(page.locator("#council-ratings-caption")).to_be_visible()
    expect(page.locator("a[href='/council/ratings.csv']")).to_be_visible()
    check_axe(page, f"council dashboard ({language})")
    # Narrow screens: the tables scroll in their own box, the page does not.
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.close()
