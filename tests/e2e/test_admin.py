"""Admin area and residency codes in Chromium: the whole flow, axe on every page, print layout."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from kldialog.auth import services as accounts
from kldialog.auth.models import Role

from ..conftest import PASSWORD
from .conftest import run_axe
from .test_pages import choose_language

CODE = re.compile(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}")


@pytest.fixture(scope="module")
def people(live_app: Flask) -> dict[str, Any]:
    """Create an admin, a staff member and two residents in the live app's database."""
    made = {}
    with live_app.app_context():
        for key, name, roles in [
            ("admin", "Erika Admin", [Role.admin]),
            ("staff", "Sven Verwaltung", [Role.staff]),
            ("resident", "Rolf Einwohner", []),
            ("newcomer", "Nora Neu", []),
        ]:
            email = f"e2e-{key}@example.org"
            user = accounts.find_user_by_email(email) or accounts.create_confirmed_user(
                email=email, password=PASSWORD, display_name=name, roles=roles
            )
            made[key] = {"id": user.id, "email": email, "name": name}
    return made


def log_in(page: Page, email: str) -> None:
    """Log in through the form, as a person would (CSRF is on in the live app)."""
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/account$"))


def assert_accessible(page: Page, label: str) -> None:
    """Run axe (WCAG 2.1 AA) and the page rules every page must meet."""
    results = run_axe(page)
    assert results.violations_count == 0, f"{label}:\n{results.generate_report()}"
    assert page.locator("h1").count() == 1, label
    assert page.locator("nav.breadcrumbs").count() == 1, label
    assert page.title().endswith("– KL.dialog"), label


def test_admin_grants_a_role_reads_the_audit_log_and_a_resident_redeems_a_code(
    browser: Browser, base_url: str, people: dict[str, Any]
) -> None:
    admin = browser.new_context(base_url=base_url)
    page = admin.new_page()
    log_in(page, people["admin"]["email"])

    # Find the resident and grant a role with a reason.
    page.goto("/admin/")
    assert_accessible(page, "/admin/")
    page.locator("main a[href='/admin/users']").click()
    assert_accessible(page, "/admin/users")
    page.fill("input[name=q]", "rolf einw")
    page.locator("form[role=search] button[type=submit]").click()
    expect(page.locator("#result-count")).to_contain_text("1")
    page.get_by_role("link", name=people["resident"]["name"]).click()
    expect(page.locator("h1")).to_have_text(people["resident"]["name"])
    assert_accessible(page, "/admin/users/<id>")

    # Without a reason the form says what is missing and changes nothing.
    page.locator("#roles-council").check()
    page.locator("form[action$='/roles'] button[type=submit]").click()
    expect(page.locator("#error-summary")).to_be_visible()
    assert page.title().startswith("Fehler: ")
    expect(page.locator("#roles-council")).to_be_checked()  # the choice is kept
    assert_accessible(page, "/admin/users/<id> with errors")
    page.fill("#roles-reason", "Mitglied des Stadtrats seit 2024")
    page.locator("form[action$='/roles'] button[type=submit]").click()
    expect(page.locator(".flash-messages .kern-alert--success")).to_be_visible()
    expect(page.locator(".kern-description-list")).to_contain_text("Ratsmitglied")

    # Block until a date, then the audit log tells who did what and why.
    page.locator("#block-until").fill("2099-12-31")
    page.fill("#block-reason", "Test der Sperre")
    page.locator("form[action$='/block'] button[type=submit]").click()
    expect(page.locator(".flash-messages .kern-alert--success")).to_be_visible()
    assert_accessible(page, "/admin/users/<id> blocked")
    page.fill("#unblock-reason", "Test beendet")
    page.locator("form[action$='/unblock'] button[type=submit]").click()
    expect(page.locator(".flash-messages .kern-alert--success")).to_be_visible()

    page.goto("/admin/audit")
    assert_accessible(page, "/admin/audit")
    table = page.locator("table.audit-table")
    expect(table).to_contain_text("role.grant")
    expect(table).to_contain_text("Mitglied des Stadtrats seit 2024")
    expect(table).to_contain_text("account.unblock")
    page.fill("input[name=action]", "account.")
    page.locator("form[role=search] button[type=submit]").click()
    expect(table).not_to_contain_text("role.grant")
    expect(table).to_contain_text("Test der Sperre")
    assert_accessible(page, "/admin/audit filtered")

    # Generate codes: the answer is the printable sheet, one letter per printed page.
    page.goto("/admin/codes")
    assert_accessible(page, "/admin/codes")
    page.fill("#count", "2")
    page.fill("#batch", "E2E-Test")
    page.locator("main form button[type=submit]").click()
    letters = page.locator(".code-sheet__letter")
    expect(letters).to_have_count(2)
    assert_accessible(page, "code sheet")
    codes = CODE.findall(page.locator(".code-sheet__list").inner_text())
    assert len(codes) == 2
    page.emulate_media(media="print")
    assert page.evaluate("getComputedStyle(document.querySelector('.site-header')).display") == (
        "none"
    )
    assert (
        page.evaluate("getComputedStyle(document.querySelector('.code-sheet__intro')).display")
        == "none"
    )
    assert (
        page.evaluate("getComputedStyle(document.querySelector('.code-sheet__letter')).breakAfter")
        == "page"
    )
    page.emulate_media(media="screen")
    page.goto("/admin/codes")
    expect(page.locator("main table")).to_contain_text("E2E-Test")
    admin.close()

    # A resident redeems one code, typed the lazy way.
    resident = browser.new_context(base_url=base_url)
    page = resident.new_page()
    log_in(page, people["newcomer"]["email"])
    page.locator("main a[href='/account/residency']").click()
    assert_accessible(page, "/account/residency")
    page.fill("input[name=code]", "ABCD-EFGH-JKMN")
    page.locator("main form button[type=submit]").click()
    expect(page.locator("#error-summary")).to_be_visible()
    assert_accessible(page, "/account/residency with errors")
    page.fill("input[name=code]", codes[0].lower().replace("-", " "))
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator(".flash-messages .kern-alert--success")).to_be_visible()
    page.goto("/account/residency")
    expect(page.locator("main .kern-alert--success")).to_be_visible()
    assert_accessible(page, "/account/residency verified")
    resident.close()


@pytest.mark.parametrize("language", ["de", "en"])
def test_every_admin_page_has_no_axe_violations(
    browser: Browser, base_url: str, people: dict[str, Any], language: str
) -> None:
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    log_in(page, people["admin"]["email"])
    choose_language(page, language)
    for path in [
        "/admin/",
        "/admin/users",
        "/admin/users?q=zzz-nobody",
        "/admin/users?role=nonsense&page=x",
        f"/admin/users/{people['resident']['id']}",
        f"/admin/users/{people['admin']['id']}",
        "/admin/audit",
        "/admin/audit?target_id=abc&action=role.",
        "/admin/codes",
    ]:
        page.goto(path)
        expect(page.locator("html")).to_have_attribute("lang", language)
        assert_accessible(page, f"{path} ({language})")
    context.close()


def test_staff_see_codes_but_not_accounts(
    browser: Browser, base_url: str, people: dict[str, Any]
) -> None:
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    log_in(page, people["staff"]["email"])
    page.goto("/admin/")
    assert_accessible(page, "/admin/ as staff")
    expect(page.locator("main a[href='/admin/codes']")).to_be_visible()
    expect(page.locator("main a[href='/admin/users']")).to_have_count(0)
    response = page.goto("/admin/users")
    assert response is not None and response.status == 403
    context.close()


@pytest.mark.parametrize("path", ["/admin/users", "/admin/audit", "/admin/codes"])
def test_admin_tables_fit_a_phone_without_sideways_scrolling(
    browser: Browser, base_url: str, people: dict[str, Any], path: str
) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, base_url=base_url)
    page = context.new_page()
    log_in(page, people["admin"]["email"])
    page.goto(path)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
    context.close()
