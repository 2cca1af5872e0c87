"""A council member's story: reading what residents said before a council session.

Members of the city council have one page on KL.dialog: "Übersicht für den Stadtrat". It leads
with what changed in the last 30 days – which rounds and surveys were closed, what is decided
(the projects that are ahead) and what is open now, with how many people have taken part so
far. Below are all priority rounds with their ballots and the projects ahead, the residents'
ratings of the projects on the council's two indicators (benefit for Kaiserslautern, careful
use of data) as means with their 95 % interval – only where at least five people rated and the
mean gives no one away – and the results of closed surveys. Every number comes from
self-selected participants, and the page says so.

Council members print the page for a session: the print leaves out the navigation and opens
what is collapsed on screen. They download the ratings as a spreadsheet that German Excel opens
as it is: semicolons, a byte order mark, German headings and decimal commas.

The story runs in German; the dashboard is also read in English. The dashboard passes axe
(WCAG 2.1 AA) at 1280 and 360 px.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from werkzeug.datastructures import MultiDict

from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.kernel.db import db
from kldialog.priorities import services as priorities
from kldialog.priorities.models import Indicator, Method, PriorityRound
from kldialog.projects import reading
from kldialog.surveys import answering, builder
from kldialog.surveys import services as surveys
from kldialog.surveys.models import QuestionKind, Survey
from kldialog.windows.models import Eligibility

from ..conftest import PASSWORD
from .test_accounts import check_axe
from .test_pages import choose_language

COUNCIL = ("clara.rat@example.org", "Clara Stadträtin")
ROUND = "Prioritäten Frühjahr (Geschichte des Stadtrats)"
SURVEY = "Bürgerbüro online (Geschichte des Stadtrats)"
RATED = "Smart Meter (Stadtwerke Kaiserslautern)"
RATED_SLUG = "smart-meter-stadtwerke-kaiserslautern"
FAVOURITE = "KLevere Infrastruktur"


def voter(number: int) -> Any:
    """Return one of the residents who took part before the story begins."""
    address = f"story-council-resident-{number}@example.org"
    return accounts.find_user_by_email(address) or accounts.create_confirmed_user(
        email=address, password=PASSWORD, display_name=f"Bürgerin Rat {number}", roles=[]
    )


@pytest.fixture(scope="module")
def what_residents_said(live_app: Flask) -> Iterator[dict[str, Any]]:
    """A closed round with ten ballots, fifteen varied ratings of one project, an open survey with six."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with live_app.test_request_context():
        if accounts.find_user_by_email(COUNCIL[0]) is None:
            accounts.create_confirmed_user(
                email=COUNCIL[0], password=PASSWORD, display_name=COUNCIL[1], roles=[Role.council]
            )
        staff = accounts.find_user_by_email("story-council-staff@example.org")
        staff = staff or accounts.create_confirmed_user(
            email="story-council-staff@example.org", password=PASSWORD,
            display_name="Stadt Team Rat", roles=[Role.staff],
        )  # fmt: skip
        ids = priorities.default_project_ids()
        round_ = priorities.create_round(
            staff,
            priorities.RoundFields(
                title=ROUND, explanation="", method=Method.approval, max_choices=2, budget=10,
                max_per_project=3, eligibility=Eligibility.resident, show_running_totals=False,
                opens_at=now - dt.timedelta(days=1), closes_at=now + dt.timedelta(days=7),
                project_ids=ids,
            ),
        )  # fmt: skip
        priorities.publish_round(staff, round_)
        favourite = reading.get_project_by_slug("klevere-infrastruktur").id
        for number in range(10):
            picks = [favourite] if number % 4 else [favourite, ids[number % len(ids)]]
            priorities.cast_ballot(voter(number), round_, dict.fromkeys(picks, 1))
        # The round's window ends; the regular job closes it and publishes the result.
        db.session.execute(
            sa.update(PriorityRound)
            .where(PriorityRound.id == round_.id)
            .values(opens_at=now - dt.timedelta(days=8), closes_at=now - dt.timedelta(seconds=1))
        )
        db.session.commit()
        priorities.close_round(db.session.get(PriorityRound, round_.id))
        rated = reading.get_project_by_slug(RATED_SLUG)
        # Fifteen ratings, varied enough that the means pin nobody down (kernel.disclosure).
        benefits = [4] * 9 + [5] * 6  # mean 4.4
        data_care = [1, 2, 3] * 5  # mean 2.0
        for number, (benefit, care) in enumerate(zip(benefits, data_care, strict=True)):
            scores = {Indicator.benefit: benefit, Indicator.data_care: care}
            priorities.rate_project(voter(number), rated, scores)
        survey = builder.create_survey(
            staff, title=SURVEY, intro="", opens_at=now - dt.timedelta(days=1),
            closes_at=now + dt.timedelta(days=10), eligibility=Eligibility.resident,
        )  # fmt: skip
        question = builder.save_question(
            staff, survey, None, section_id=survey.sections[0].id, kind=QuestionKind.yes_no,
            text="Haben Sie schon einen Antrag online gestellt?", is_required=True,
        )  # fmt: skip
        builder.publish_survey(staff, survey)
        for number in range(6):
            answering.parse_and_submit(
                voter(number), surveys.get_survey(survey.id), MultiDict({question.field: "1"})
            )
        made = {"survey": survey.id}
        db.session.remove()
    yield made
    with live_app.app_context():  # other browser tests count the open surveys
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        db.session.execute(
            sa.update(Survey).where(Survey.id == made["survey"]).values(closes_at=past)
        )
        db.session.commit()
        db.session.remove()


def log_in(page: Page, address: str) -> None:
    """Log in through the form."""
    page.goto("/login")
    page.get_by_label(re.compile("^(E-Mail-Adresse|E-mail address)$")).fill(address)
    page.get_by_label(re.compile("^(Passwort|Password)$")).fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name=re.compile("^(Anmelden|Log in)$")).click()
    expect(page).to_have_url(re.compile("/account$"))


def test_a_council_member_reads_prints_and_downloads(
    browser: Browser, base_url: str, what_residents_said: dict[str, Any]
) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()

    # First in English: the dashboard is one link in the main navigation.
    choose_language(page, "en")
    log_in(page, COUNCIL[0])
    page.get_by_role("navigation", name="Main navigation").get_by_role(
        "link", name="Council"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Council dashboard")
    check_axe(page, "council dashboard (en)")

    # In German. It leads with what changed: the closed round and what it decided.
    page.get_by_role("button", name="Deutsch").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Übersicht für den Stadtrat")
    news = page.get_by_role("region", name="Neu in den letzten 30 Tagen")
    expect(news.get_by_text(f"Die Prioritätenrunde „{ROUND}“")).to_be_visible()
    expect(news.get_by_role("listitem").filter(has_text=f"{ROUND}: ")).to_contain_text(FAVOURITE)
    # What is open now, with how many have taken part so far.
    expect(news.get_by_role("listitem").filter(has_text=SURVEY)).to_contain_text(
        "bisher 6 Teilnehmende"
    )

    # Every round with its ballots and the projects ahead.
    rounds = page.get_by_role(
        "table", name="Runden mit Beteiligung und den Projekten, die vorn liegen"
    )
    row = rounds.get_by_role("row").filter(has=page.get_by_role("rowheader", name=ROUND))
    expect(row.get_by_role("cell").nth(1)).to_have_text("10")
    expect(row.get_by_role("cell").nth(2)).to_contain_text(FAVOURITE)

    # The ratings on both indicators: the rated project shows its means, with n.
    ratings = page.get_by_role("region", name="Bewertungen nach den Indikatoren des Stadtrats")
    for indicator, mean in [
        ("Mehrwert für Kaiserslautern und seine Bürger", "4,4"),
        ("Sparsamer und verantwortlicher Umgang mit Daten", "2,0"),
    ]:
        chart = ratings.get_by_role("list", name=re.compile(f"^{indicator}"))
        expect(chart.get_by_role("listitem").filter(has_text=RATED)).to_contain_text(mean)
    table = ratings.get_by_role("table")
    rated_row = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name=RATED))
    expect(rated_row).to_contain_text("4,4")
    expect(rated_row).to_contain_text("n = 15")
    expect(page.get_by_role("main")).to_contain_text(
        "Selbst ausgewählte Teilnehmende, keine repräsentative Umfrage."
    )
    check_axe(page, "Übersicht für den Stadtrat")

    # On a phone the page fits the screen; wide tables scroll in their own box.
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    check_axe(page, "Übersicht für den Stadtrat, 360 px")
    page.set_viewport_size({"width": 1280, "height": 800})

    # Printed for the session: every fact is on paper, collapsed lists open, no navigation.
    few = ratings.get_by_role("group").filter(has_text="mit weniger als 5 Bewertungen")
    assert few.locator("li").count() > 0
    expect(few.locator("li").first).to_be_hidden()  # collapsed on screen
    page.emulate_media(media="print")
    on_paper = page.get_by_role("main").inner_text()
    for fact in (ROUND, FAVOURITE, SURVEY, "bisher 6 Teilnehmende", RATED, "n = 15", "4,4"):
        assert fact in on_paper, f"{fact!r} is missing from the printed dashboard"
    expect(page.get_by_role("navigation", name="Hauptnavigation")).to_be_hidden()
    hidden_in_print = page.evaluate(
        """() => [...document.querySelectorAll('main h2, main h3, main table, main details')]
                 .filter(e => getComputedStyle(e).display === 'none'
                              || e.getBoundingClientRect().height === 0)
                 .map(e => e.tagName + ': ' + e.textContent.trim().slice(0, 60))"""
    )
    assert hidden_in_print == []
    # The list of projects with too few ratings is part of the printout.
    expect(few.locator("li").first).to_be_visible()
    page.emulate_media(media="screen")

    # The spreadsheet opens in German Excel as it is.
    with page.expect_download() as download:
        page.get_by_role("link", name="Bewertungen als Tabelle (CSV für Excel)").click()
    raw = Path(download.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "no byte order mark: Excel would misread umlauts"
    lines = list(csv.reader(io.StringIO(raw[3:].decode("utf-8")), delimiter=";"))
    assert lines[0][:2] == ["Projekt", "Kategorie"]
    assert len(lines[0]) == 10  # two indicators, four columns each
    rated_line = next(line for line in lines if line[0] == RATED)
    assert rated_line[2:4] == ["15", "4,400"]
    assert rated_line[6:8] == ["15", "2,000"]
    # Rated projects first, then the rest.
    assert lines.index(rated_line) < next(
        i for i, line in enumerate(lines) if line[2].startswith("weniger als")
    )
    context.close()
