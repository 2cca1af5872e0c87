"""Kiosk mode in Chromium: staff set a device up, a resident votes, the next person sees nothing.

The next person uses the same browser context (the same cookies, cache and history), as at a
counter: Back, forward and every URL of the previous person's visit show nothing of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, expect

from kldialog.auth.models import Role
from kldialog.priorities.models import Method

from .participation import (
    FINISHED,
    KIOSK_STAFF,
    axe_both_widths,
    log_in_at_kiosk,
    make_kiosk,
    next_person_sees_nothing,
)
from .test_priorities import make_round, person, unique
from .test_staff import PASSWORD, make_account


@pytest.fixture
def kiosk_context(browser: Browser, base_url: str) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=base_url, locale="de-DE")
    yield context
    context.close()


def test_a_resident_votes_at_the_kiosk_and_the_next_person_sees_nothing(
    kiosk_context: BrowserContext, live_app: Flask
) -> None:
    page = make_kiosk(kiosk_context, live_app)
    axe_both_widths(page, "kiosk start")
    title = unique("Kioskrunde")
    round_id = make_round(live_app, Method.approval, title)
    voter = person(live_app)
    # Staff cannot log in here (their session ended when they set the device up).
    page.goto("/login")
    expect(page.locator("#remember")).to_have_count(0)  # no "stay logged in" on a kiosk
    axe_both_widths(page, "kiosk login")
    page.locator("#email").fill(KIOSK_STAFF)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator("#password-error, .kern-error").first).to_contain_text(
        "können sich an diesem Gerät nicht anmelden"
    )

    # The resident logs in, opens the round and votes.
    name = log_in_at_kiosk(page, voter)
    page.goto(f"/priorities/{round_id}")
    assert name and name in page.locator("body").inner_text()  # what must not come back
    expect(page.locator("[data-kiosk-timer]")).to_contain_text("Verbleibende Zeit")
    axe_both_widths(page, "kiosk ballot")
    page.locator("#ballot input[name=project]").nth(0).check()
    page.locator("#ballot button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/kiosk/done\?reason=ballot$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(FINISHED)
    axe_both_widths(page, "kiosk finished")

    # The next person presses Back, again and again, and opens the URLs from the history.
    next_person_sees_nothing(page, name, voter, round_id)


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
    axe_both_widths(page, "counter code form")
    page.get_by_role("button", name="Einen Wohnsitz-Code ausgeben").click()
    code = page.locator(".code-sheet__code-text").inner_text()
    assert re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}", code)
    axe_both_widths(page, "counter code sheet")
