"""Browser helpers shared by the paper, kiosk, event and participation-story tests."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import icalendar
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect
from playwright.sync_api import Error as PlaywrightError

from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.kernel.db import db
from kldialog.priorities import services
from kldialog.priorities.models import PriorityRound, RoundResult

from ..conftest import PASSWORD
from .test_accounts import check_axe
from .test_staff import make_account

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}
KIOSK_STAFF = "e2e-kiosk-staff@example.org"
FINISHED = "Fertig – Ihre Daten sind von diesem Gerät entfernt"


def axe_both_widths(page: Page, label: str) -> None:
    """Check axe at 1280 px and at 360 px, and that nothing scrolls sideways at 360 px."""
    page.set_viewport_size(DESKTOP)
    check_axe(page, f"{label} 1280")
    page.set_viewport_size(PHONE)
    check_axe(page, f"{label} 360")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{label} scrolls sideways by {overflow}px at 360 px"
    page.set_viewport_size(DESKTOP)


# --- paper ballots -------------------------------------------------------------------------------


def print_ballots(page: Page, count: int, language: str) -> list[str]:
    """Print `count` sheets from a round's paper page; return the codes shown once on them."""
    page.locator("#count").fill(str(count))
    page.locator("#language").select_option(language)
    page.locator("main form button[type=submit]").first.click()
    expect(page.locator(".paper-ballot")).to_have_count(count)
    codes = page.locator(".code-sheet__code-text").all_inner_texts()
    assert len(set(codes)) == count
    return codes


def begin_first_entry(page: Page, path: str, label: str, sheets: int) -> None:
    """Open a paper page (a round's or a survey's) and begin the first entry of a batch."""
    page.goto(path)
    page.locator("#label").fill(label)
    page.locator("#sheets").fill(str(sheets))
    page.get_by_role("button", name="Erste Eingabe beginnen").click()


def fill_sheet(page: Page, index: int, code: str, marks: list[int], reason: str = "") -> None:
    """Type one sheet as it is marked on the paper."""
    page.locator(f"#s{index}-code").fill(code)
    if reason:
        page.locator(f"#s{index}-invalid").select_option(reason)
    for project_id in marks:
        page.locator(f"#s{index}-mark-{project_id}").check()


def close_after_paper_deadline(app: Flask, round_id: int) -> str:
    """Move a paper round's window and deadline into the past, close it; return the file hash."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with app.app_context():
        db.session.execute(
            sa.update(PriorityRound).where(PriorityRound.id == round_id).values(
                opens_at=now - dt.timedelta(days=10), closes_at=now - dt.timedelta(seconds=2),
                paper_until=now - dt.timedelta(seconds=1),
            )
        )  # fmt: skip
        db.session.commit()
        services.close_round(db.session.get(PriorityRound, round_id))
        return db.session.get(RoundResult, round_id).ballot_sha256


def recount(app: Flask, ballot_file: bytes, digest: str, folder: Path) -> dict[str, Any]:
    """Recount a downloaded ballot file with `flask rounds recount`, checking its hash."""
    path = folder / "ballots.json"
    path.write_bytes(ballot_file)
    result = app.test_cli_runner().invoke(
        args=["rounds", "recount", str(path), "--expect", digest, "--json"]
    )
    assert result.exit_code == 0, result.output
    counted: dict[str, Any] = json.loads(result.output)
    return counted


# --- paper questionnaires ------------------------------------------------------------------------


def make_paper_survey(app: Flask, owner_address: str, title: str) -> dict[str, Any]:
    """Publish an open survey with every question type; return its id and the ids a sheet needs."""
    from kldialog.kernel.time import utcnow
    from kldialog.surveys import builder
    from kldialog.surveys.models import QuestionKind
    from kldialog.windows.models import Eligibility

    with app.app_context():
        owner = accounts.find_user_by_email(owner_address)
        now = utcnow()
        survey = builder.create_survey(
            owner, title=title, intro="Ihre Meinung zählt.",
            opens_at=now - dt.timedelta(days=1), closes_at=now + dt.timedelta(days=5),
            eligibility=Eligibility.resident,
        )  # fmt: skip
        ask = {"actor": owner, "survey": survey, "question": None,
               "section_id": survey.sections[0].id}  # fmt: skip
        single = builder.save_question(**ask, kind=QuestionKind.single, text="Wie wohnen Sie?",
                                       options=["Miete", "Eigentum"], has_other=True)  # fmt: skip
        multiple = builder.save_question(**ask, kind=QuestionKind.multiple, max_choices=2,
                                         text="Was nutzen Sie?", options=["Bus", "Rad", "Auto"])  # fmt: skip
        scale = builder.save_question(**ask, kind=QuestionKind.scale, text="Wie zufrieden?",
                                      is_required=True)  # fmt: skip
        ranking = builder.save_question(**ask, kind=QuestionKind.ranking, text="Was zuerst?",
                                        options=["Schule", "Straße"])  # fmt: skip
        coin = builder.save_question(**ask, kind=QuestionKind.yes_no, is_randomised=True,
                                     text="Haben Sie je schwarzgeparkt?")  # fmt: skip
        builder.save_question(**ask, kind=QuestionKind.long_text, text="Was noch?")
        builder.publish_survey(owner, survey)
        return {
            "survey": survey.id,
            "single": (single.id, single.options[0].id),
            "multiple": (multiple.id, [o.id for o in multiple.options]),
            "scale": scale.id,
            "ranking": (ranking.id, [o.id for o in ranking.options]),
            "coin": coin.id,
        }


# --- kiosk ---------------------------------------------------------------------------------------


def make_kiosk(context: BrowserContext, live_app: Flask, *, axe: bool = True) -> Page:
    """Turn the context's browser into a kiosk the way staff do: log in, press the button."""
    make_account(live_app, KIOSK_STAFF, "Kiosk Verwaltung", Role.staff)
    page = context.new_page()
    page.goto("/login?next=/kiosk")
    page.locator("#email").fill(KIOSK_STAFF)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Kiosk-Modus")
    if axe:
        axe_both_widths(page, "kiosk set-up")
    page.get_by_role("button", name="Dieses Gerät zum Kiosk machen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hier mitmachen")
    return page


def log_in_at_kiosk(page: Page, address: str) -> str:
    """Log a resident in at the kiosk (no "stay logged in" offered); return their shown name."""
    page.goto("/login?next=/kiosk")
    expect(page.locator("#remember")).to_have_count(0)
    page.locator("#email").fill(address)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_text("Sie sind angemeldet als")).to_be_visible()
    return page.locator(".site-header__account").inner_text().split("–")[0].strip()


def next_person_sees_nothing(page: Page, name: str, address: str, round_id: int) -> None:
    """Press Back again and again, then open the previous person's URLs: nothing of them shows."""
    for _step in range(6):
        try:
            page.go_back()
        except PlaywrightError as error:
            # A page that answered a form (the login): with no-store, Chromium cannot show it
            # again without sending the form anew and shows its own error page instead.
            assert "ERR_CACHE_MISS" in str(error), error
        page.wait_for_load_state()
        assert name not in page.locator("body").inner_text(), page.url
        assert address not in page.content(), page.url
        if re.search(rf"/priorities/{round_id}$", page.url):
            expect(page.locator("#ballot input[name=project]:checked")).to_have_count(0)
    for path in ["/kiosk", "/login?next=/kiosk", f"/priorities/{round_id}", "/account"]:
        page.goto(path)
        assert name not in page.locator("body").inner_text(), path
    for private in ("/account", "/account/data"):
        page.goto(private)
        expect(page).to_have_url(re.compile(r"/login"))
    page.goto(f"/priorities/{round_id}")
    expect(page.get_by_text("Anmelden").first).to_be_visible()
    expect(page.locator("#ballot input[name=project]:checked")).to_have_count(0)


# --- events --------------------------------------------------------------------------------------


def check_event_ics(body: bytes, title: str, start: dt.datetime, hours: int = 2) -> None:
    """Parse one event's ICS as a calendar would; check its times are local Berlin time."""
    calendar = icalendar.Calendar.from_ical(body)
    [item] = calendar.walk("VEVENT")
    assert str(item["SUMMARY"]) == title
    begins = item.decoded("DTSTART")
    assert str(begins.tzinfo) == "Europe/Berlin" and begins.replace(tzinfo=None) == start
    assert item.decoded("DTEND").replace(tzinfo=None) == start + dt.timedelta(hours=hours)
    assert [str(zone["TZID"]) for zone in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert str(item["STATUS"]) == "CONFIRMED"
    assert item["UID"] and item["DTSTAMP"]
