"""Two-factor login in the browser: enrolment, recovery codes, the second step; axe everywhere."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from kldialog.auth import services as accounts
from kldialog.auth.models import Role

from ..conftest import PASSWORD
from .conftest import run_axe
from .test_pages import choose_language


@pytest.fixture
def required(live_app: Flask) -> Iterator[None]:
    """Require the second factor for staff and admins, as production does, for this test."""
    before = live_app.config["MFA_REQUIRED_ROLES"]
    live_app.config["MFA_REQUIRED_ROLES"] = ("admin", "staff")
    yield
    live_app.config["MFA_REQUIRED_ROLES"] = before


def check(page: Page, label: str, width: int) -> None:
    """Fail on any axe violation or on sideways scrolling."""
    results = run_axe(page)
    assert results.violations_count == 0, f"{label} at {width}px:\n{results.generate_report()}"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{label} scrolls sideways by {overflow}px at {width}px"


def password_step(page: Page, email: str) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").click()


@pytest.mark.parametrize("width", [1280, 360])
@pytest.mark.parametrize("language", ["de", "en"])
def test_staff_sets_up_two_factor_login_and_logs_in_with_a_code(
    page: Page, live_app: Flask, required: None, language: str, width: int
) -> None:
    email = f"e2e-mfa-{language}-{width}@example.org"
    with live_app.app_context():
        if accounts.find_user_by_email(email) is None:
            accounts.create_confirmed_user(
                email=email,
                password=PASSWORD,
                display_name=f"MFA {language} {width}",
                roles=[Role.staff],
            )
    page.set_viewport_size({"width": width, "height": 900})
    choose_language(page, language)

    # The staff role needs the second factor: the login leads to setting it up.
    password_step(page, email)
    expect(page).to_have_url(re.compile(r"/account/two-factor$"))
    expect(page.locator("main svg title")).to_have_count(1)
    check(page, "setup", width)
    secret = page.locator("#mfa-secret").inner_text().replace(" ", "")
    totp = pyotp.TOTP(secret)

    page.get_by_label(re.compile("^(Code aus der App|Code from the app)")).fill("000000")
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_title(re.compile("^(Fehler|Error): "))
    check(page, "setup with error", width)

    page.get_by_label(re.compile("^(Code aus der App|Code from the app)")).fill(totp.now())
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/account/two-factor/recovery-codes$"))
    expect(page.locator("ul.mfa-codes li")).to_have_count(10)
    check(page, "recovery codes", width)
    page.goto("/account/two-factor")
    check(page, "status", width)

    page.goto("/account")
    page.locator("form[action='/logout'] button").first.click()
    password_step(page, email)
    expect(page).to_have_url(re.compile(r"/login/code$"))
    check(page, "second step", width)
    page.get_by_label(re.compile("^Code")).fill("123")
    page.locator("main form button[type=submit]").click()
    expect(page.locator(".kern-error")).to_contain_text(re.compile("nicht richtig|not correct"))
    check(page, "second step with error", width)
    # The code of the next 30-second step: the enrolment code of this step is used up.
    page.get_by_label(re.compile("^Code")).fill(totp.at(time.time() + 30))
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    page.goto("/staff/projects")
    expect(page.locator("h1")).to_have_count(1)
    assert "/account/two-factor" not in page.url
