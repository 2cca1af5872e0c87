"""Kiosk mode in Chromium: staff set a device up, a resident votes, the next person sees nothing.

The next person uses the same browser context (the same cookies, cache and history), as at a
counter: Back, forward and every URL of the previous person's visit show nothing of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect
from playwright.sync_api import Error as PlaywrightError

from kldialog.auth.models import Role
from kldialog.priorities.models import Method

from .test_accounts import check_axe
from .test_priorities import make_round, person, unique
from .test_staff import PASSWORD, make_account

SIZES = ({"width": 1280, "height": 900}, {"width": 360, "height": 740})


def axe_at_both_sizes(page: Page, label: str) -> None:
    """Check the page with axe at desktop and phone width."""
    for size in SIZES:
        page.set_viewport_size(size)
        check_axe(page, f"{label} at {size['width']} px")
    page.set_viewport_size(SIZES[0])


def make_kiosk(context: BrowserContext, live_app: Flask, *, axe: bool = True) -> Page:
    """Turn the context's browser into a kiosk the way staff do: log in, press the button."""
    address = "e2e-kiosk-staff@example.org"
    make_account(live_app, address, "Kiosk Verwaltung", Role.staff)
    page = context.new_page()
    page.goto("/login?next=/kiosk")
    page.locator("#email").fill(address)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Kiosk-Modus")
    if axe:
        axe_at_both_sizes(page, "kiosk set-up")
    page.get_by_role("button", name="Dieses Gerät zum Kiosk machen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hier mitmachen")
    return page


@pytest.fixture
def kiosk_context(browser: Browser, base_url: str) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=base_url, locale="de-DE")
    yield context
    context.close()


def test_a_resident_votes_at_the_kiosk_and_the_next_person_sees_nothing(
    kiosk_context: BrowserContext, live_app: Flask
) -> None:
    page = make_kiosk(kiosk_context, live_app)
    axe_at_both_sizes(page, "kiosk start")
    title = unique("Kioskrunde")
    round_id = make_round(live_app, Method.approval, title)
    voter = person(live_app)
    # Staff cannot log in here (their session ended when they set the device up).
    page.goto("/login")
    expect(page.locator("#remember")).to_have_count(0)  # no "stay logged in" on a kiosk
    axe_at_both_sizes(page, "kiosk login")
    page.locator("#email").fill("e2e-kiosk-staff@example.org")
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator("#password-error, .kern-error").first).to_contain_text(
        "können sich an diesem Gerät nicht anmelden"
    )

    # The resident logs in, opens the round and votes.
    page.goto("/login?next=/kiosk")
    page.locator("#email").fill(voter)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_text("Sie sind angemeldet als")).to_be_visible()
    name = page.locator(".site-header__account").inner_text().split("–")[0].strip()
    page.goto(f"/priorities/{round_id}")
    assert name and name in page.locator("body").inner_text()  # what must not come back
    expect(page.locator("[data-kiosk-timer]")).to_contain_text("Verbleibende Zeit")
    axe_at_both_sizes(page, "kiosk ballot")
    page.locator("#ballot input[name=project]").nth(0).check()
    page.locator("#ballot button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/kiosk/done\?reason=ballot$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Fertig – Ihre Daten sind von diesem Gerät entfernt"
    )
    axe_at_both_sizes(page, "kiosk finished")
    visited = ["/kiosk", "/login?next=/kiosk", f"/priorities/{round_id}", "/account"]

    # The next person presses Back, again and again: nothing of the resident comes back.
    for _step in range(6):
        try:
            page.go_back()
        except PlaywrightError as error:
            # A page that answered a form (the login): with no-store, Chromium cannot show it
            # again without sending the form anew and shows its own error page instead.
            assert "ERR_CACHE_MISS" in str(error), error
        page.wait_for_load_state()
        body = page.locator("body").inner_text()
        assert name not in body, page.url
        assert voter not in page.content(), page.url
        if re.search(rf"/priorities/{round_id}$", page.url):
            expect(page.locator("#ballot input[name=project]:checked")).to_have_count(0)
    # And opens the previous person's URLs from the history.
    for path in visited:
        page.goto(path)
        assert name not in page.locator("body").inner_text(), path
    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto("/account/data")
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto(f"/priorities/{round_id}")
    expect(page.get_by_text("Anmelden").first).to_be_visible()
    expect(page.locator("#ballot input[name=project]:checked")).to_have_count(0)


@pytest.mark.parametrize("javascript", [True, False])
def test_an_idle_session_ends_by_itself_with_and_without_javascript(
    browser: Browser, base_url: str, live_app: Flask, javascript: bool
) -> None:
    context = browser.new_context(base_url=base_url, java_script_enabled=javascript)
    try:
        page = make_kiosk(context, live_app, axe=False)  # axe needs JavaScript
        voter = person(live_app)
        page.goto("/login?next=/kiosk")
        page.locator("#email").fill(voter)
        page.locator("#password").fill(PASSWORD)
        live_app.config["KIOSK_IDLE_SECONDS"] = 3  # the page's countdown reads it at render
        try:
            page.locator("main form button[type=submit]").click()
            expect(page.get_by_text("Sie sind angemeldet als")).to_be_visible()
            page.goto("/account")
            # JavaScript: the countdown sends "end session" at 0; without it the <noscript>
            # refresh opens the finished page a few seconds after the idle time.
            expect(page).to_have_url(re.compile(r"/kiosk/done\?reason=timeout$"), timeout=20_000)
        finally:
            live_app.config["KIOSK_IDLE_SECONDS"] = 180
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Fertig – Ihre Daten sind von diesem Gerät entfernt"
        )
        page.goto("/account")
        expect(page).to_have_url(re.compile(r"/login"))
    finally:
        context.close()


def test_keys_and_taps_keep_the_session_alive(
    kiosk_context: BrowserContext, live_app: Flask
) -> None:
    page = make_kiosk(kiosk_context, live_app, axe=False)
    voter = person(live_app)
    page.goto("/login?next=/kiosk")
    page.locator("#email").fill(voter)
    page.locator("#password").fill(PASSWORD)
    live_app.config["KIOSK_IDLE_SECONDS"] = 4
    try:
        page.locator("main form button[type=submit]").click()
        expect(page.get_by_text("Sie sind angemeldet als")).to_be_visible()
        # Typing for twice the idle time: the script tells the server (CSRF header) and the
        # session goes on, on the server too.
        for _second in range(8):
            page.keyboard.press("Shift")
            page.wait_for_timeout(1000)
        assert "/kiosk/done" not in page.url
        expect(page.get_by_text("Sie sind angemeldet als")).to_be_visible()
        page.goto("/account")
        expect(page).to_have_url(re.compile(r"/account$"))
        expect(page).to_have_url(re.compile(r"/kiosk/done\?reason=timeout$"), timeout=15_000)
    finally:
        live_app.config["KIOSK_IDLE_SECONDS"] = 180


def test_staff_hand_out_a_residency_code_at_the_counter(
    kiosk_context: BrowserContext, live_app: Flask
) -> None:
    address = "e2e-counter-staff@example.org"
    make_account(live_app, address, "Schalter Verwaltung", Role.staff)
    page = kiosk_context.new_page()  # the staff member's own device: no kiosk cookie
    page.goto("/login")
    page.locator("#email").fill(address)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.goto("/admin/")
    page.get_by_role("link", name="Wohnsitz-Code am Schalter").click()
    axe_at_both_sizes(page, "counter code form")
    page.get_by_role("button", name="Einen Wohnsitz-Code ausgeben").click()
    code = page.locator(".code-sheet__code-text").inner_text()
    assert re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}", code)
    axe_at_both_sizes(page, "counter code sheet")
