"""Priority rounds in Chromium: set-up, ballots (JS, no JS, keyboard), results, ratings, axe."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.kernel.db import db
from kldialog.priorities import services
from kldialog.priorities.models import Method, PriorityRound
from kldialog.windows.models import Eligibility

from .test_accounts import check_axe
from .test_pages import choose_language
from .test_staff import log_in, make_account

NAMES = itertools.count(1)
OPENED: list[int] = []  # rounds this file opened; closed again when it is done
PROJECT = "handyparken"  # a published project of the bundled roadmap
# Set KLDIALOG_SHOTS=/some/dir to keep screenshots of the ballot and results pages.
SHOTS = os.environ.get("KLDIALOG_SHOTS")


def unique(prefix: str) -> str:
    """Return a short name no other test (or language run) of this session uses."""
    return f"{prefix} {next(NAMES)}{uuid4().hex[:4]}"


def person(app: Flask, *roles: Role) -> str:
    """Create a confirmed account (always a resident) and return its e-mail address."""
    address = f"prio-{uuid4().hex[:10]}@example.org"
    make_account(app, address, unique("Prio"), *roles)
    return address


def make_round(app: Flask, method: Method, title: str, **fields: Any) -> int:
    """Create and publish an open round over four planned projects directly; return its id."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with app.app_context():
        staff = accounts.find_user_by_email(person(app, Role.staff))
        values: dict[str, Any] = {
            "title": title,
            "explanation": "",
            "method": method,
            "max_choices": 2,
            "budget": 5,
            "max_per_project": 3,
            "eligibility": Eligibility.resident,
            "show_running_totals": False,
            "opens_at": now - dt.timedelta(days=1),
            "closes_at": now + dt.timedelta(days=7),
            "project_ids": services.default_project_ids()[:4],
        }
        values.update(fields)
        round_ = services.create_round(staff, services.RoundFields(**values))
        services.publish_round(staff, round_)
        OPENED.append(round_.id)
        return round_.id


def end_round(app: Flask, round_id: int) -> None:
    """Move a round's window into the past and close it, as `flask rounds close-due` would."""
    now = dt.datetime.now(dt.UTC)
    with app.app_context():
        db.session.execute(
            sa.update(PriorityRound)
            .where(PriorityRound.id == round_id)
            .values(opens_at=now - dt.timedelta(days=10), closes_at=now - dt.timedelta(seconds=1))
        )
        db.session.commit()
        services.close_round(db.session.get(PriorityRound, round_id))


# KERN scrolls smoothly (html { scroll-behavior: smooth }): after every jump to an anchor
# Playwright would wait about a second for the buttons to stop moving.
INSTANT_SCROLL = (
    "document.addEventListener('DOMContentLoaded',"
    " () => { document.documentElement.style.scrollBehavior = 'auto'; })"
)


def new_page(browser: Browser, base_url: str, language: str, **options: Any) -> Page:
    """Return a page of a new browser context in the given interface language."""
    context = browser.new_context(base_url=base_url, **options)
    context.add_init_script(INSTANT_SCROLL)
    page = context.new_page()
    choose_language(page, language)
    return page


@pytest.fixture(scope="module", autouse=True)
def _close_rounds_afterwards(live_app: Flask) -> Iterator[None]:
    """Close this file's rounds at the end: project pages elsewhere need no ballot notices."""
    yield
    for round_id in OPENED:
        end_round(live_app, round_id)


def resident(browser: Browser, base_url: str, app: Flask, language: str, **options: Any) -> Page:
    """Return a page of a new context in which a new resident is logged in."""
    page = new_page(browser, base_url, language, **options)
    log_in(page, person(app))
    return page


def no_sideways_scroll(page: Page, label: str) -> None:
    """Fail if the page scrolls sideways at 360 px (tables scroll inside their own box)."""
    size = page.viewport_size
    page.set_viewport_size({"width": 360, "height": 740})
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{label} scrolls sideways by {overflow}px at 360 px"
    shot(page, f"{label}-360", full_page=False)
    if size:
        page.set_viewport_size(size)


def shot(page: Page, name: str, *, full_page: bool = True) -> None:
    """Keep a screenshot when KLDIALOG_SHOTS names a folder."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=f"{SHOTS}/{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png", full_page=full_page
        )


def local_input(moment: dt.datetime, app: Flask) -> str:
    """Return a moment as a datetime-local value in the site's time zone."""
    zone = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def counter_is(page: Page, language: str, english: str, *numbers: int) -> None:
    """Wait for the live counter: the exact English text, or (German) the numbers in order."""
    counter = page.locator("#ballot-counter")
    if language == "en":
        expect(counter).to_have_text(english)
    else:
        numbers_only = r"\D+".join(str(n) for n in numbers)
        expect(counter).to_have_text(re.compile(rf"^\D*{numbers_only}\D*$"))


def flash_success(page: Page, english: str, language: str) -> None:
    alert = page.locator(".flash-messages .kern-alert--success")
    expect(alert).to_be_visible()
    if language == "en":
        expect(alert).to_contain_text(english)


# --- 1. staff creates and publishes rounds, a resident votes with JavaScript ----------------


def create_round_in_browser(page: Page, app: Flask, title: str, method: Method) -> int:
    """Fill /staff/rounds/new as staff would, publish the round; return its id."""
    now = dt.datetime.now(dt.UTC)
    page.goto("/staff/rounds/new")
    page.locator("#title").fill(title)
    page.locator("#explanation").fill("Welche Projekte sind Ihnen am wichtigsten?")
    page.locator("#opens_at").fill(local_input(now - dt.timedelta(hours=1), app))
    page.locator("#closes_at").fill(local_input(now + dt.timedelta(days=14), app))
    page.locator(f"input[name=method][value={method.value}]").check()
    if method == Method.approval:
        page.locator("#max_choices").fill("2")
    else:
        page.locator("#budget").fill("5")
        page.locator("#max_per_project").fill("3")
    # The planned and in-progress projects are preselected; staff keeps them.
    assert page.locator("#projects input[type=checkbox]:checked").count() >= 2
    page.locator("main form.staff-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/staff/rounds/\d+$"))
    round_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator(".staff-actions .kern-badge--warning")).to_be_visible()  # a draft
    page.locator(".staff-actions form button[type=submit]").click()
    expect(page.locator(".staff-actions .kern-badge--success")).to_be_visible()  # open now
    expect(page.locator(".staff-actions form")).to_have_count(0)
    OPENED.append(round_id)
    return round_id


@pytest.mark.parametrize("language", ["de", "en"])
def test_staff_publishes_rounds_and_a_resident_votes(
    browser: Browser, base_url: str, live_app: Flask, language: str
) -> None:
    staff = new_page(browser, base_url, language)
    log_in(staff, person(live_app, Role.staff))
    staff.goto("/staff/rounds")
    check_axe(staff, f"staff rounds ({language})")
    staff.goto("/staff/rounds/new")
    check_axe(staff, f"new round ({language})")
    # A form with mistakes comes back with an error summary and keeps what was typed.
    staff.locator("#title").fill("")
    staff.locator("#explanation").fill("Bleibt stehen")
    staff.locator("main form.staff-form button[type=submit]").click()
    expect(staff.locator("#error-summary")).to_be_visible()
    expect(staff.locator("#explanation")).to_have_value("Bleibt stehen")
    assert "true" == staff.locator("#title").get_attribute("aria-invalid")
    if language == "de":  # error states once (axe is the slow part of this file)
        check_axe(staff, "new round with errors")

    approval_title = unique(f"Zustimmung {language}")
    points_title = unique(f"Punkte {language}")
    approval_id = create_round_in_browser(staff, live_app, approval_title, Method.approval)
    points_id = create_round_in_browser(staff, live_app, points_title, Method.points)
    staff.goto("/staff/rounds")
    expect(staff.locator("main table")).to_contain_text(approval_title)
    expect(staff.locator("main table")).to_contain_text(points_title)
    staff.context.close()

    page = resident(browser, base_url, live_app, language)
    page.goto("/priorities")
    check_axe(page, f"/priorities ({language})")

    # Approval: the counter appears once JavaScript runs and follows the ticks.
    page.get_by_role("link", name=approval_title).click()
    expect(page).to_have_url(re.compile(rf"/priorities/{approval_id}$"))
    counter = page.locator("#ballot-counter")
    expect(counter).to_be_visible()
    counter_is(page, language, "0 of 2 projects chosen.", 0, 2)
    check_axe(page, f"approval ballot ({language})")
    boxes = page.locator("#ballot input[name=project]")
    assert boxes.count() >= 3
    boxes.nth(0).check()
    counter_is(page, language, "1 of 2 projects chosen.", 1, 2)
    boxes.nth(1).check()
    boxes.nth(2).check()
    counter_is(page, language, "3 projects chosen: at most 2 are allowed.", 3, 2)
    expect(counter).to_have_class(re.compile("ballot__counter--over"))
    boxes.nth(2).uncheck()
    expect(counter).not_to_have_class(re.compile("ballot__counter--over"))
    chosen = [boxes.nth(i).get_attribute("value") for i in (0, 1)]
    page.locator("#ballot button[type=submit]").click()
    flash_success(page, "Your ballot is saved.", language)
    expect(page.locator("#my-ballot")).to_be_visible()
    for value in chosen:
        expect(page.locator(f"#project-{value}")).to_be_checked()
    counter_is(page, language, "2 of 2 projects chosen.", 2, 2)
    no_sideways_scroll(page, f"approval ballot {language}")

    # Change the ballot: the last one counts.
    page.locator(f"#project-{chosen[1]}").uncheck()
    page.locator("#ballot button[type=submit]").click()
    flash_success(page, "Your ballot is changed. The last ballot counts.", language)
    expect(page.locator(f"#project-{chosen[0]}")).to_be_checked()
    expect(page.locator(f"#project-{chosen[1]}")).not_to_be_checked()
    with live_app.app_context():
        assert services.get_round(approval_id).ballot_count == 1

    # Withdraw it.
    page.locator("#my-ballot form button[type=submit]").click()
    flash_success(page, "Your ballot is withdrawn.", language)
    expect(page.locator("#my-ballot")).to_have_count(0)
    expect(page.locator("#ballot input[name=project]:checked")).to_have_count(0)
    with live_app.app_context():
        assert services.get_round(approval_id).ballot_count == 0

    # Points: typing updates the counter; an over-budget ballot is refused, values kept.
    page.goto("/priorities")
    page.get_by_role("link", name=points_title).click()
    expect(page).to_have_url(re.compile(rf"/priorities/{points_id}$"))
    counter_is(page, language, "0 of 5 points given, 5 left.", 0, 5, 5)
    check_axe(page, f"points ballot ({language})")
    inputs = page.locator("#ballot input.ballot__points-input")
    first, second = (inputs.nth(i).get_attribute("id") for i in (0, 1))
    page.locator(f"#{first}").fill("3")
    counter_is(page, language, "3 of 5 points given, 2 left.", 3, 5, 2)
    page.locator(f"#{second}").fill("3")
    counter_is(page, language, "6 points given: 1 too many (you have 5).", 6, 1, 5)
    expect(counter).to_have_class(re.compile("ballot__counter--over"))
    shot(page, f"points ballot {language}")
    page.locator("#ballot button[type=submit]").click()  # submitted anyway
    expect(page).to_have_title(re.compile("^(Fehler|Error): "))
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator(f"#{first}")).to_have_value("3")
    expect(page.locator(f"#{second}")).to_have_value("3")
    counter_is(page, language, "6 points given: 1 too many (you have 5).", 6, 1, 5)
    if language == "de":
        check_axe(page, "points ballot refused")
    no_sideways_scroll(page, f"points ballot refused {language}")

    # More than the maximum on one project: the field itself says so.
    page.locator(f"#{first}").fill("4")
    page.locator(f"#{second}").fill("")
    page.locator("#ballot button[type=submit]").click()
    field = page.locator(f"#{first}")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", f"{first}-error")
    expect(page.locator(f"#{first}-error")).to_contain_text("3")
    expect(page.locator(f"#error-summary a[href='#{first}']")).to_be_visible()
    if language == "de":
        check_axe(page, "points ballot with a field error")

    page.locator(f"#{first}").fill("3")
    page.locator(f"#{second}").fill("2")
    page.locator("#ballot button[type=submit]").click()
    flash_success(page, "Your ballot is saved.", language)
    expect(page.locator(f"#{first}")).to_have_value("3")
    expect(page.locator(f"#{second}")).to_have_value("2")
    counter_is(page, language, "5 of 5 points given, 0 left.", 5, 5, 0)

    page.locator(f"#{second}").fill("1")
    page.locator("#ballot button[type=submit]").click()
    flash_success(page, "Your ballot is changed.", language)
    expect(page.locator(f"#{second}")).to_have_value("1")
    page.locator("#my-ballot form button[type=submit]").click()
    flash_success(page, "Your ballot is withdrawn.", language)
    expect(page.locator(f"#{first}")).to_have_value("")
    with live_app.app_context():
        assert services.get_round(points_id).ballot_count == 0
    page.context.close()


# --- 2. without JavaScript ---------------------------------------------------------------------


@pytest.mark.parametrize("language", ["de", "en"])
def test_voting_works_without_javascript(
    browser: Browser, base_url: str, live_app: Flask, language: str
) -> None:
    approval_id = make_round(live_app, Method.approval, unique(f"Ohne JS {language}"))
    points_id = make_round(live_app, Method.points, unique(f"Ohne JS Punkte {language}"))
    page = resident(browser, base_url, live_app, language, java_script_enabled=False)

    page.goto(f"/priorities/{approval_id}")
    expect(page.locator("#ballot-counter")).to_be_hidden()
    boxes = page.locator("#ballot input[name=project]")
    for i in range(3):
        boxes.nth(i).check()
    page.locator("#ballot button[type=submit]").click()  # three, only two allowed
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("#ballot input[name=project]:checked")).to_have_count(3)
    boxes.nth(2).uncheck()
    page.locator("#ballot button[type=submit]").click()
    flash_success(page, "Your ballot is saved.", language)
    expect(page.locator("#my-ballot")).to_be_visible()
    expect(page.locator("#ballot-counter")).to_be_hidden()
    expect(page.locator("#ballot input[name=project]:checked")).to_have_count(2)

    page.goto(f"/priorities/{points_id}")
    expect(page.locator("#ballot-counter")).to_be_hidden()
    inputs = page.locator("#ballot input.ballot__points-input")
    inputs.nth(0).fill("3")
    inputs.nth(1).fill("3")
    page.locator("#ballot button[type=submit]").click()
    expect(page.locator("#error-summary")).to_be_visible()
    if language == "en":
        expect(page.locator("#error-summary")).to_contain_text("5")
    expect(inputs.nth(0)).to_have_value("3")
    expect(inputs.nth(1)).to_have_value("3")
    inputs.nth(1).fill("1")
    page.locator("#ballot button[type=submit]").click()
    flash_success(page, "Your ballot is saved.", language)
    page.locator("#my-ballot form button[type=submit]").click()
    flash_success(page, "Your ballot is withdrawn.", language)
    page.context.close()


# --- 3. keyboard only --------------------------------------------------------------------------


def tab_to(page: Page, selector: str, limit: int = 120) -> None:
    """Press Tab until the focused element matches `selector`, checking each stop on the way.

    Every focused element must show its focus and must not hide behind the sticky counter.
    """
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """(() => {
              const el = document.activeElement, s = getComputedStyle(el);
              const a = el.getBoundingClientRect();
              const counter = document.getElementById('ballot-counter');
              const c = counter && !counter.hidden ? counter.getBoundingClientRect() : null;
              return {
                id: el.id || el.tagName,
                inBallot: !!el.closest('#ballot'),
                outline: s.outlineStyle !== 'none' || s.boxShadow !== 'none',
                hidden: c ? Math.max(0, Math.min(a.bottom, c.bottom) - Math.max(a.top, c.top)) : 0,
              };
            })()"""
        )
        if focused["inBallot"]:
            assert focused["outline"], f"no visible focus on {focused['id']}"
            assert focused["hidden"] == 0, f"{focused['id']} is behind the counter: {focused}"
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_a_ballot_can_be_filled_and_sent_by_keyboard(
    browser: Browser, base_url: str, live_app: Flask
) -> None:
    # The whole usual ballot on a phone: long enough for the counter to stick to the bottom.
    with live_app.app_context():
        everything = services.default_project_ids()
    approval_id = make_round(live_app, Method.approval, unique("Tastatur"), project_ids=everything)
    points_id = make_round(
        live_app, Method.points, unique("Tastatur Punkte"), project_ids=everything
    )
    page = resident(browser, base_url, live_app, "de", viewport={"width": 360, "height": 740})

    page.goto(f"/priorities/{approval_id}")
    tab_to(page, "#ballot input[name=project]")
    first = page.evaluate("document.activeElement.id")
    page.keyboard.press("Space")
    expect(page.locator(f"#{first}")).to_be_checked()
    counter_is(page, "de", "", 1, 2)
    tab_to(page, f"#ballot input[name=project]:not(#{first})")
    second = page.evaluate("document.activeElement.id")
    page.keyboard.press("Space")
    counter_is(page, "de", "", 2, 2)
    tab_to(page, "#ballot button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.locator(".flash-messages .kern-alert--success")).to_be_visible()
    expect(page.locator(f"#{first}")).to_be_checked()
    expect(page.locator(f"#{second}")).to_be_checked()

    page.goto(f"/priorities/{points_id}")
    tab_to(page, "#ballot input.ballot__points-input")
    first = page.evaluate("document.activeElement.id")
    page.keyboard.type("2")
    tab_to(page, f"#ballot input.ballot__points-input:not(#{first})")
    second = page.evaluate("document.activeElement.id")
    page.keyboard.type("3")
    counter_is(page, "de", "", 5, 5, 0)
    page.keyboard.press("Enter")  # implicit submission from a text field
    expect(page.locator(".flash-messages .kern-alert--success")).to_be_visible()
    expect(page.locator(f"#{first}")).to_have_value("2")
    expect(page.locator(f"#{second}")).to_have_value("3")
    page.context.close()


# --- 4. results of a closed round -----------------------------------------------------------


@pytest.fixture(scope="module")
def closed_round(live_app: Flask) -> int:
    """A points round with six ballots, closed (its window moved into the past)."""
    round_id = make_round(live_app, Method.points, unique("Ergebnis"))
    with live_app.app_context():
        round_ = services.get_round(round_id)
        ids = sorted(entry.project_id for entry in round_.entries)
        spreads = [
            {ids[0]: 3, ids[1]: 2},
            {ids[0]: 3, ids[2]: 1},
            {ids[0]: 2, ids[1]: 2, ids[3]: 1},
            {ids[1]: 3},
            {ids[0]: 3, ids[3]: 2},
            {ids[2]: 2, ids[0]: 1},
        ]
        for choices in spreads:
            voter = accounts.find_user_by_email(person(live_app))
            services.cast_ballot(voter, services.get_round(round_id), choices)
    end_round(live_app, round_id)
    return round_id


@pytest.mark.parametrize("language", ["de", "en"])
def test_results_page_shows_groups_tables_and_the_ballot_file_hash(
    page: Page, closed_round: int, language: str
) -> None:
    page.context.add_init_script(INSTANT_SCROLL)
    choose_language(page, language)
    page.goto(f"/priorities/{closed_round}")  # a closed round leads to its results
    expect(page).to_have_url(re.compile(rf"/priorities/{closed_round}/results$"))
    main = page.locator("main")
    expect(main.locator(".results-lead")).not_to_be_empty()
    expect(main.locator("#tier-1 .bar-list__row").first).to_be_visible()
    expect(main.locator("table")).to_have_count(3)  # projects, categories, days: collapsed
    for summary in main.locator("details > summary").all():
        summary.click()
    expect(main.locator("#table-projects-caption")).to_be_visible()
    expect(main.locator("table").first.locator("tbody tr")).to_have_count(4)
    for region in main.locator(".kern-table-responsive").all():
        assert region.get_attribute("tabindex") == "0"
    expect(main.locator(".honesty-note")).to_contain_text(re.compile(r"n = 6\b"))
    digest = main.locator("code.hash").inner_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", digest), digest
    check_axe(page, f"results ({language})")
    shot(page, f"results {language}")
    no_sideways_scroll(page, f"results {language}")

    with page.expect_download() as download:
        page.locator(f"a[href$='/priorities/{closed_round}/ballots.json']").click()
    data = Path(download.value.path()).read_bytes()
    assert hashlib.sha256(data).hexdigest() == digest
    assert data.count(b"\n") >= 6  # the header, then one line per ballot


# --- 5. the rating box on the project page ---------------------------------------------------


@pytest.mark.parametrize("language", ["de", "en"])
def test_a_resident_rates_a_project(
    browser: Browser, base_url: str, live_app: Flask, language: str
) -> None:
    page = resident(browser, base_url, live_app, language)
    page.goto(f"/projects/{PROJECT}")
    box = page.locator("#rating")
    expect(box.locator("fieldset")).to_have_count(2)
    check_axe(page, f"project page with the rating box ({language})")
    box.locator("label[for=benefit-4]").click()
    box.locator("label[for=data_care-2]").click()
    box.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"/projects/{PROJECT}#rating$"))
    flash_success(page, "Thank you, your rating is saved.", language)
    # The page jumps back to the box, far below that message: the box repeats it in view.
    expect(box.locator("#rating-saved")).to_be_in_viewport()
    expect(page.locator("#benefit-4")).to_be_checked()
    expect(page.locator("#data_care-2")).to_be_checked()
    if language == "en":
        expect(box.locator("h3")).to_have_text("Your rating")
    page.context.close()
