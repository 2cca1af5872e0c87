"""Participation beyond the screen, as one story: paper, a kiosk at the counter and an event.

The city offers its priority round on paper too, and a survey as a printed questionnaire.
Paula of the Bürgerbüro prints ballot sheets and the questionnaire. The sheets come back; she
types a stack of three, and her colleague Tom types the same stack again without seeing her
entry. They read one sheet differently: the page shows both readings side by side, Tom
settles it from the paper, and the batch counts. Meanwhile Karl votes at the counter's kiosk;
when he is done, the next person at the device finds nothing of him: not by Back, not in the
history, no remembered login. When the round has closed, anyone sees how many ballots came
online and how many on paper, downloads the ballot file and recounts it. Ella registers for
the city's information evening and puts it into her calendar (the ICS file, parsed here).

This walks the "Done when" of issue 15; the single steps are tested in depth (both widths,
keyboard, errors) in test_paper.py, test_kiosk.py and test_events.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, expect

from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.events.models import Event, EventState
from kldialog.kernel.db import db
from kldialog.priorities import services
from kldialog.priorities.models import Method, PriorityRound
from kldialog.surveys.models import Survey

from .participation import (
    FINISHED,
    begin_first_entry,
    check_event_ics,
    close_after_paper_deadline,
    fill_sheet,
    log_in_at_kiosk,
    make_kiosk,
    make_paper_survey,
    next_person_sees_nothing,
    print_ballots,
    recount,
)
from .test_accounts import check_axe
from .test_priorities import OPENED, make_round, new_page
from .test_staff import log_in, make_account

PAULA = ("paula.papier@example.org", "Paula Papier")
TOM = ("tom.zweitschrift@example.org", "Tom Zweitschrift")
KARL = ("karl.kiosk@example.org", "Karl Kiosk")
ELLA = ("ella.abend@example.org", "Ella Abend")
ROUND = "Prioritäten auf Papier (Geschichte der Teilhabe)"
SURVEY = "Leben im Stadtteil (Geschichte der Teilhabe)"
EVENT = "Infoabend: Digitale Stadt (Geschichte der Teilhabe)"
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def city(live_app: Flask) -> Iterator[dict[str, Any]]:
    """The people, a paper round with four online ballots, a survey and an event."""
    make_account(live_app, *PAULA, Role.staff)
    make_account(live_app, *TOM, Role.staff)
    make_account(live_app, *KARL, Role.resident)
    make_account(live_app, *ELLA, Role.resident)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    round_id = make_round(
        live_app, Method.approval, ROUND, paper_offered=True, paper_until=now + dt.timedelta(days=9)
    )
    survey = make_paper_survey(live_app, PAULA[0], SURVEY)
    start = dt.datetime.combine(dt.date.today() + dt.timedelta(days=20), dt.time(18, 0))
    with live_app.app_context():
        round_ = db.session.get(PriorityRound, round_id)
        entries = services.round_entries(round_)
        a, b, c = (entry.project_id for entry in entries[:3])
        for number, choice in enumerate([{a: 1}, {a: 1}, {b: 1, c: 1}, {b: 1, c: 1}]):
            address = f"story-online-{number}-{round_id}@example.org"
            make_account(live_app, address, f"Online {number} {round_id}", Role.resident)
            services.cast_ballot(accounts.find_user_by_email(address), round_, choice)
        begins = start.replace(tzinfo=BERLIN).astimezone(dt.UTC)
        event = Event(
            title=EVENT,
            description="Die Stadt erzählt, was aus den Prioritäten wird.",
            starts_at=begins,
            ends_at=begins + dt.timedelta(hours=2),
            place="Rathaus, Ratssaal",
            step_free=True,
            hearing_loop=True,
            capacity=40,
            state=EventState.published,
        )
        db.session.add(event)
        db.session.commit()
        story = {
            "round": round_id,
            "projects": (a, b, c),
            "titles": {e.project_id: e.project.title for e in entries},
            "slugs": {e.project_id: e.project.slug for e in entries},
            "survey": survey,
            "event": event.id,
            "start": start,
        }
    yield story
    with live_app.app_context():
        # Other browser tests count open surveys and upcoming events on the public pages.
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        db.session.execute(
            sa.update(Survey).where(Survey.id == survey["survey"]).values(closes_at=past)
        )
        db.session.execute(
            sa.update(Event).where(Event.id == event.id).values(state=EventState.draft)
        )
        db.session.commit()
        db.session.remove()


def test_paper_a_kiosk_and_an_event_bring_people_in(
    browser: Browser, base_url: str, live_app: Flask, city: dict[str, Any], tmp_path: Path
) -> None:
    round_id = city["round"]
    a, b, c = city["projects"]
    titles = city["titles"]

    # Paula prints three ballot sheets: the codes appear once, one sheet per printed page.
    paula = new_page(browser, base_url, "de")
    log_in(paula, PAULA[0])
    paula.goto(f"/staff/rounds/{round_id}")
    paula.get_by_role("link", name="Papier-Stimmzettel: Bögen drucken").click()
    check_axe(paula, "paper ballots")
    codes = print_ballots(paula, 3, "de")
    expect(paula.locator(".paper-ballot h2").first).to_contain_text("Stimmzettel")
    check_axe(paula, "printed ballots")
    paula.emulate_media(media="print")
    expect(paula.locator(".site-header")).to_be_hidden()
    paula.emulate_media(media="screen")

    # And the survey's questionnaire; the coin question explains the coin toss on paper.
    paula.goto(f"/staff/surveys/{city['survey']['survey']}")
    paula.get_by_role("link", name="Papier-Fragebögen: drucken").click()
    paula.get_by_role("link", name="Fragebogen auf Deutsch").click()
    expect(paula.locator(".paper-question")).to_have_count(6)
    expect(paula.locator(".paper-coin")).to_contain_text("Münze")
    check_axe(paula, "printed questionnaire")

    # Karl votes at the kiosk in the Bürgerbüro; the kiosk ends his session after the ballot.
    kiosk = browser.new_context(base_url=base_url, locale="de-DE")
    counter = make_kiosk(kiosk, live_app, axe=False)
    name = log_in_at_kiosk(counter, KARL[0])
    assert name == KARL[1]
    counter.goto(f"/priorities/{round_id}")
    counter.locator(f"#project-{a}").check()
    counter.locator("#ballot button[type=submit]").click()
    expect(counter).to_have_url(re.compile(r"/kiosk/done\?reason=ballot$"))
    expect(counter.get_by_role("heading", level=1)).to_have_text(FINISHED)
    check_axe(counter, "kiosk finished")
    # The next person at the device: nothing of Karl, however they look.
    next_person_sees_nothing(counter, KARL[1], KARL[0], round_id)
    kiosk.close()

    # The sheets come back. Paula types the stack first.
    begin_first_entry(paula, f"/staff/rounds/{round_id}/paper", "Bürgerbüro, Kasten 7", 3)
    fill_sheet(paula, 0, codes[0], [a])
    fill_sheet(paula, 1, codes[1], [a, c])
    fill_sheet(paula, 2, codes[2], [b])
    paula.get_by_role("button", name="Erste Eingabe speichern").click()
    expect(paula.locator(".flash-messages .kern-alert--success")).to_contain_text("erste Eingabe")
    paula.get_by_role("link", name="Bürgerbüro, Kasten 7").click()
    batch_url = paula.url

    # Tom types it again, blind, and reads the second sheet as a and b.
    tom = new_page(browser, base_url, "de")
    log_in(tom, TOM[0])
    tom.goto(batch_url)
    # Blind: nothing of Paula's entry is filled in for him.
    expect(tom.locator("main input[type=checkbox]:checked")).to_have_count(0)
    expect(tom.locator("#s1-code")).to_have_value("")
    fill_sheet(tom, 0, codes[0], [a])
    fill_sheet(tom, 1, codes[1], [a, b])
    fill_sheet(tom, 2, codes[2], [b])
    tom.get_by_role("button", name="Zweite Eingabe speichern").click()
    expect(tom.locator(".flash-messages .kern-alert--warning")).to_be_visible()
    # Side by side: sheet 2 as Paula read it, and as Tom read it.
    [row] = tom.locator("table").filter(has_text="Erste Eingabe").locator("tbody tr").all()
    expect(row.locator("th")).to_have_text("2")
    expect(row.locator("td").nth(0)).to_contain_text(titles[c])
    expect(row.locator("td").nth(0)).not_to_contain_text(titles[b])
    expect(row.locator("td").nth(1)).to_contain_text(titles[b])
    check_axe(tom, "differences side by side")
    # Tom takes the sheet from the stack: Paula was right.
    fill_sheet(tom, 1, codes[1], [a, c])
    tom.get_by_role("button", name="Klären und den Stapel zählen").click()
    expect(tom.locator(".flash-messages .kern-alert--success")).to_contain_text("gezählt")
    expect(tom.locator("main")).to_contain_text("3 gültige und 0 ungültige")

    # The round closes after the paper deadline: both channels, and a recount from the file.
    digest = close_after_paper_deadline(live_app, round_id)
    OPENED.remove(round_id)
    visitor = new_page(browser, base_url, "en")
    visitor.goto(f"/priorities/{round_id}/results")
    expect(visitor.locator(".results-channels")).to_contain_text("5 online and 3 on paper")
    expect(visitor.locator(".honesty-note")).to_contain_text("n = 8")
    expect(visitor.locator("code.hash")).to_have_text(digest)
    check_axe(visitor, "results with channels")
    with visitor.expect_download() as download:
        visitor.get_by_role("link", name=re.compile("All ballots")).click()
    ballot_file = Path(download.value.path()).read_bytes()
    assert hashlib.sha256(ballot_file).hexdigest() == digest
    counted = recount(live_app, ballot_file, digest, tmp_path)
    assert counted["channels"] == {"online": 5, "paper": 3} and counted["n"] == 8
    supporters = {p["key"]: p["supporters"] for p in counted["projects"]}
    slugs = city["slugs"]
    # Online a×2 (+ Karl's a), b+c×2; paper a, a+c, b.
    assert [supporters[slugs[p]] for p in (a, b, c)] == [5, 3, 3]

    # Ella registers for the information evening with one click and imports it.
    ella = new_page(browser, base_url, "de")
    log_in(ella, ELLA[0])
    event_id = city["event"]
    ella.goto(f"/events/{event_id}")
    ella.locator("#registration button[type=submit]").click()
    expect(ella.locator("#registration")).to_contain_text("Sie sind angemeldet.")
    check_axe(ella, "event, registered")
    with ella.expect_download() as download:
        ella.locator(f"main a[href='/events/{event_id}.ics']").first.click()
    check_event_ics(Path(download.value.path()).read_bytes(), EVENT, city["start"])

    for page in (paula, tom, visitor, ella):
        page.wait_for_load_state("networkidle")
        page.context.close()
