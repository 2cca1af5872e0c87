"""Events in Chromium: staff create one, people register (by keyboard), axe, phones, the ICS file."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from kldialog.auth.models import Role

from .participation import check_event_ics
from .test_accounts import last_link
from .test_pages import choose_language
from .test_priorities import tab_to
from .test_staff import check_axe, log_in, make_account

SCREENSHOTS = os.environ.get("KLDIALOG_SCREENSHOTS")  # a folder: save screenshots there
BERLIN = ZoneInfo("Europe/Berlin")
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 360, "height": 740}}


def shot(page: Page, name: str) -> None:
    """Save a full-page screenshot when KLDIALOG_SCREENSHOTS names a folder."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def no_sideways_scrolling(page: Page, label: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{label} scrolls sideways by {overflow}px"


def close(page: Page) -> None:
    """Close a page's context once nothing is loading (an aborted static file leaks a handle)."""
    page.wait_for_load_state("networkidle")
    page.context.close()


def create_event_in_browser(page: Page, title: str, start: dt.datetime) -> int:
    """Create and publish an event through the staff pages; return its id."""
    page.goto("/events")
    page.locator("main a[href='/staff/events']").click()
    page.locator("main a[href='/staff/events/new']").click()
    check_axe(page, "new event")
    # Sent empty: the errors are listed on top and tied to their fields.
    page.locator("main form.staff-form button[type=submit]").click()
    expect(page).to_have_title(re.compile("^(Fehler|Error): "))
    expect(page.locator("#error-summary")).to_be_visible()
    assert page.locator("#title").get_attribute("aria-invalid") == "true"
    check_axe(page, "new event with errors")
    page.locator("#error-summary a[href='#title']").click()
    expect(page.locator("#title")).to_be_focused()
    page.keyboard.type(title)
    page.locator("#description").fill("Die Stadt stellt den Stand vor. Danach ist Zeit für Fragen.")
    page.locator("#starts_at").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.locator("#ends_at").fill((start + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.locator("#place").fill("Stadtbibliothek Kaiserslautern, Veranstaltungsraum")
    page.locator("#step_free").check()
    page.locator("#hearing_loop").check()
    page.locator("#sign_language").check()
    page.locator("#capacity").fill("1")
    page.get_by_label("Handyparken").check()
    shot(page, "staff-event-form")
    page.locator("main form.staff-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/staff/events/\d+$"))
    event_id = int(page.url.rsplit("/", 1)[1])
    page.locator(f"form[action='/staff/events/{event_id}/publish'] button").click()
    expect(page.locator(".flash-messages .kern-alert--success")).to_be_visible()
    check_axe(page, "staff event page")
    return event_id


def test_staff_create_an_event_people_register_and_import_it_into_a_calendar(
    browser: Browser, base_url: str, live_app: Flask, live_outbox: Path
) -> None:
    make_account(live_app, "events-staff@example.org", "Team Veranstaltungen", Role.staff)
    make_account(live_app, "events-rita@example.org", "Rita Termin", Role.resident)
    day = dt.datetime.now(BERLIN).date() + dt.timedelta(days=30)
    start = dt.datetime.combine(day, dt.time(18, 30))  # local time, as staff type it
    title = "Bürgerdialog Handyparken"

    staff = browser.new_context(base_url=base_url, viewport=VIEWPORTS["desktop"]).new_page()
    choose_language(staff, "de")
    log_in(staff, "events-staff@example.org")
    event_id = create_event_in_browser(staff, title, start)

    # A resident registers by keyboard alone: Tab to the button, Enter.
    rita = browser.new_context(base_url=base_url, viewport=VIEWPORTS["phone"]).new_page()
    choose_language(rita, "de")
    log_in(rita, "events-rita@example.org")
    rita.goto("/events")
    rita.get_by_role("link", name=title).click()
    expect(rita).to_have_url(re.compile(rf"/events/{event_id}$"))
    tab_to(rita, "#registration button[type=submit]")
    rita.keyboard.press("Enter")
    expect(rita.locator(".flash-messages .kern-alert--success")).to_contain_text(
        "Sie sind angemeldet."
    )
    expect(rita.locator("#registration")).to_contain_text("Sie sind angemeldet.")
    check_axe(rita, "event page, registered")
    no_sideways_scrolling(rita, "event page on a phone")
    shot(rita, "event-registered-phone")

    # A visitor without an account: the only place is taken, so the waiting list, by e-mail.
    visitor = browser.new_context(base_url=base_url, viewport=VIEWPORTS["desktop"]).new_page()
    choose_language(visitor, "en")
    visitor.goto(f"/events/{event_id}")
    expect(visitor.locator("#registration")).to_contain_text("All places are taken")
    visitor.locator("#email").focus()
    visitor.keyboard.type("not-an-address")
    visitor.keyboard.press("Enter")
    expect(visitor).to_have_title(re.compile("^Error: "))
    expect(visitor.locator("#email")).to_have_value("not-an-address")
    assert "email-error-1" in (visitor.locator("#email").get_attribute("aria-describedby") or "")
    check_axe(visitor, "event page, address refused")
    visitor.locator("#email").fill("events-visitor@example.org")
    visitor.keyboard.press("Enter")
    expect(visitor).to_have_url(re.compile(rf"/events/{event_id}/check-mail$"))
    check_axe(visitor, "check mail")
    visitor.goto(last_link(live_outbox, "events-visitor@example.org", "/events/confirm/"))
    check_axe(visitor, "confirm registration")
    tab_to(visitor, "main form button[type=submit]")
    visitor.keyboard.press("Enter")
    expect(visitor).to_have_url(re.compile("/events/registration/"))
    expect(visitor.locator("main")).to_contain_text("number 1 on the waiting list")
    check_axe(visitor, "registration page")
    shot(visitor, "event-registration-en")

    # Rita gives her place up: the visitor moves up and hears of it by mail.
    rita.goto(f"/events/{event_id}")
    rita.locator("#registration button[type=submit]").click()
    expect(rita.locator(".flash-messages .kern-alert--success")).to_be_visible()
    cancel_path = last_link(live_outbox, "events-visitor@example.org", "/events/registration/")
    visitor.goto(cancel_path)
    expect(visitor.locator("main")).to_contain_text("You are registered.")

    # The calendar file: downloaded from the event page and parsed back.
    visitor.goto(f"/events/{event_id}")
    with visitor.expect_download() as download:
        visitor.locator(f"main a[href='/events/{event_id}.ics']").first.click()
    check_event_ics(Path(download.value.path()).read_bytes(), title, start)
    feed = visitor.request.get("/events.ics")
    assert feed.headers["content-type"].startswith("text/calendar")
    titles = [str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(feed.body()).walk("VEVENT")]
    assert title in titles

    # The project page shows the event.
    visitor.goto("/projects/handyparken")
    expect(visitor.locator(".project-events")).to_contain_text(title)
    check_axe(visitor, "project page with an event")
    for page in (staff, rita, visitor):
        close(page)


def test_event_list_and_page_pass_axe_in_both_languages_on_desktop_and_phone(
    browser: Browser, base_url: str, live_app: Flask
) -> None:
    from kldialog.events.models import Event, EventState
    from kldialog.kernel.db import db

    with live_app.app_context():
        start = dt.datetime.now(dt.UTC) + dt.timedelta(days=12)
        event = Event(
            title="Offene Sprechstunde Digitalisierung",
            description="Kommen Sie vorbei und fragen Sie.",
            starts_at=start,
            ends_at=start + dt.timedelta(hours=3),
            place="Rathaus, Bürgerbüro",
            online_url="https://meet.example.org/sprechstunde",
            step_free=True,
            accessibility_note="Eingang über den Hof, mit Rampe.",
            capacity=30,
            state=EventState.published,
        )
        past = Event(
            title="Werkstatt: Daten der Stadt",
            starts_at=start - dt.timedelta(days=40),
            ends_at=start - dt.timedelta(days=40) + dt.timedelta(hours=2),
            place="Rathaus",
            language="en",
            state=EventState.published,
            summary="Zwölf Teilnehmende, drei Wünsche an die Stadt.",
            summary_published_at=start - dt.timedelta(days=38),
        )
        db.session.add_all([event, past])
        db.session.commit()
        event_id, past_id = event.id, past.id
    for language in ("de", "en"):
        for name, viewport in VIEWPORTS.items():
            context = browser.new_context(base_url=base_url, viewport=viewport)
            page = context.new_page()
            choose_language(page, language)
            for path in (
                "/events",
                "/events?when=past",
                f"/events/{event_id}",
                f"/events/{past_id}",
            ):
                page.goto(path)
                expect(page.locator("html")).to_have_attribute("lang", language)
                check_axe(page, f"{path} ({language}, {name})")
                no_sideways_scrolling(page, f"{path} ({language}, {name})")
            page.goto("/events")
            shot(page, f"events-{language}-{name}")
            page.goto(f"/events/{event_id}")
            shot(page, f"event-{language}-{name}")
            close(page)
