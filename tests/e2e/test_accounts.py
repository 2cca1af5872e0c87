"""Accounts in the browser: register, confirm by mail, log in, my data, delete; axe everywhere."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from .conftest import run_axe
from .test_pages import choose_language


def check_axe(page: Page, label: str) -> None:
    """Fail with axe's report if the page has any WCAG 2.1 AA violation."""
    results = run_axe(page)
    assert results.violations_count == 0, f"{label}:\n{results.generate_report()}"


def last_link(outbox: Path, to: str, path: str) -> str:
    """Return the newest link to `path` mailed to `to`."""
    for file in sorted(outbox.glob("*.eml"), key=lambda f: f.stat().st_mtime_ns, reverse=True):
        message = email.message_from_bytes(file.read_bytes(), policy=policy.default)
        if message["To"] == to:
            match = re.search(rf"http://[^/\s]+({re.escape(path)}\S+)", message.get_content())
            if match:
                return match.group(1)
    raise AssertionError(f"no mail to {to} with {path}")


@pytest.mark.parametrize("language", ["de", "en"])
def test_account_life_cycle_in_the_browser(page: Page, live_outbox: Path, language: str) -> None:
    address = f"browser-{language}@example.org"
    choose_language(page, language)
    for path in ("/login", "/password/forgot", "/confirm", "/register"):
        page.goto(path)
        check_axe(page, path)

    # Errors are listed on top, tied to their fields, and what was typed stays.
    page.get_by_label(re.compile("E-Mail-Adresse|E-mail address")).fill(address)
    page.get_by_label(re.compile("Anzeigename|Display name")).fill("B")
    page.get_by_label(re.compile("^(Passwort|Password)")).fill("kurz")
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_title(re.compile("^(Fehler|Error): "))
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.get_by_label(re.compile("E-Mail-Adresse|E-mail address"))).to_have_value(address)
    described = page.locator("#display_name").get_attribute("aria-describedby")
    assert "display_name-error-1" in described
    check_axe(page, "register with errors")

    page.get_by_label(re.compile("Anzeigename|Display name")).fill(f"Browser {language.upper()}")
    page.get_by_label(re.compile("^(Passwort|Password)")).fill("sieben lange Wörter hier")
    page.locator("#accept_terms").check()
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile("/register/check-mail$"))
    check_axe(page, "check mail")

    page.goto(last_link(live_outbox, address, "/confirm/"))
    check_axe(page, "confirm")
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile("/account$"))
    expect(page.locator("h1")).to_have_text(re.compile("Mein Konto|My account"))
    check_axe(page, "account")

    for path in ("/account/data", "/account/password", "/account/email", "/account/terms"):
        page.goto(path)
        check_axe(page, path)
    with page.expect_download() as download:
        page.goto("/account")
        page.locator("a[href='/account/data.json']").first.click()
    assert address in Path(download.value.path()).read_text("utf-8")

    page.goto("/account/delete")
    check_axe(page, "delete")
    page.get_by_label(re.compile("^(Passwort|Password)")).fill("sieben lange Wörter hier")
    page.locator("#confirm").check()
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile("/$"))
    page.goto("/login")
    page.get_by_label(re.compile("E-Mail-Adresse|E-mail address")).fill(address)
    page.get_by_label(re.compile("^(Passwort|Password)")).fill("sieben lange Wörter hier")
    page.locator("main form button[type=submit]").click()
    expect(page.locator(".kern-error")).to_contain_text(re.compile("nicht korrekt|not correct"))
    check_axe(page, "login failed")


def test_broken_link_page_is_accessible(page: Page) -> None:
    page.goto("/password/reset/not-a-token")
    expect(page.locator("h1")).to_have_text("Dieser Link funktioniert nicht")
    check_axe(page, "link problem")
