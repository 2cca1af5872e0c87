"""Paper ballots in Chromium: print, double entry with a mismatch, both channels, recount."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.kernel.db import db
from kldialog.priorities import services
from kldialog.priorities.models import Method, PriorityRound

from .participation import (
    axe_both_widths,
    begin_first_entry,
    close_after_paper_deadline,
    fill_sheet,
    make_paper_survey,
    print_ballots,
    recount,
)
from .test_priorities import OPENED, make_round, new_page, person
from .test_staff import log_in

__all__ = ["OPENED"]


def test_paper_ballots_from_print_to_recount(
    browser: Browser, base_url: str, live_app: Flask, tmp_path: Path
) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    round_id = make_round(
        live_app, Method.approval, "Papier und online", paper_offered=True,
        paper_until=now + dt.timedelta(days=9),
    )  # fmt: skip
    with live_app.app_context():
        round_ = db.session.get(PriorityRound, round_id)
        entries = services.round_entries(round_)
        a, b, c = (entry.project_id for entry in entries[:3])
        slugs = {entry.project_id: entry.project.slug for entry in entries}
        for choice in [{a: 1}] * 4 + [{b: 1, c: 1}] * 2:
            voter = accounts.find_user_by_email(person(live_app))
            services.cast_ballot(voter, round_, choice)

    first = new_page(browser, base_url, "de")
    log_in(first, person(live_app, Role.staff))
    first.goto(f"/staff/rounds/{round_id}")
    first.get_by_role("link", name="Papier-Stimmzettel: Bögen drucken").click()
    expect(first.locator("h1")).to_contain_text("Papier-Stimmzettel")
    axe_both_widths(first, "paper overview")

    # Print five sheets in English: the codes are shown once, in large type, one per page.
    codes = print_ballots(first, 5, "en")
    expect(first.locator(".paper-ballot h2").first).to_contain_text("Ballot paper")
    axe_both_widths(first, "printed ballots")
    first.emulate_media(media="print")
    expect(first.locator(".site-header")).to_be_hidden()
    expect(first.locator(".code-sheet__intro")).to_be_hidden()
    first.emulate_media(media="screen")

    # First entry of a batch of four sheets; the fourth has no readable code.
    begin_first_entry(first, f"/staff/rounds/{round_id}/paper", "Bürgerbüro Kasten 1", 4)
    expect(first.locator("fieldset.paper-sheet")).to_have_count(4)
    axe_both_widths(first, "first entry")
    fill_sheet(first, 0, codes[0], [a])
    fill_sheet(first, 1, codes[1].lower(), [a, c])  # case and dashes do not matter
    fill_sheet(first, 2, codes[2], [b])
    fill_sheet(first, 3, "", [], reason="no_code")
    first.get_by_role("button", name="Erste Eingabe speichern").click()
    expect(first.locator(".flash-messages .kern-alert--success")).to_contain_text("erste Eingabe")
    batch_link = first.get_by_role("link", name="Bürgerbüro Kasten 1")
    batch_link.click()
    expect(first.locator("main")).to_contain_text("Sie haben die erste Eingabe dieses Stapels")
    batch_url = first.url

    # A second staff member types the stack again and reads sheet 2 differently.
    second = new_page(browser, base_url, "de")
    log_in(second, person(live_app, Role.staff))
    second.goto(batch_url)
    axe_both_widths(second, "second entry")
    fill_sheet(second, 0, codes[0], [a])
    fill_sheet(second, 1, codes[1], [a, b])
    fill_sheet(second, 2, codes[2], [b])
    fill_sheet(second, 3, "", [], reason="no_code")
    second.get_by_role("button", name="Zweite Eingabe speichern").click()
    expect(second.locator(".flash-messages .kern-alert--warning")).to_be_visible()
    table = second.locator("table").filter(has_text="Erste Eingabe")
    expect(table.locator("tbody tr")).to_have_count(1)
    axe_both_widths(second, "differences")
    # Read from the paper: sheet 2 supports a and c, as the first entry had it.
    fill_sheet(second, 1, codes[1], [a, c])
    second.get_by_role("button", name="Klären und den Stapel zählen").click()
    expect(second.locator(".flash-messages .kern-alert--success")).to_contain_text("gezählt")
    expect(second.locator("main")).to_contain_text("3 gültige und 1 ungültige")

    # The round closes after the paper deadline; results show both channels.
    digest = close_after_paper_deadline(live_app, round_id)
    OPENED.remove(round_id)
    visitor = new_page(browser, base_url, "en")
    visitor.goto(f"/priorities/{round_id}/results")
    expect(visitor.locator(".results-channels")).to_contain_text("6 online and 3 on paper")
    expect(visitor.locator(".honesty-note")).to_contain_text("n = 9")
    axe_both_widths(visitor, "results with channels")
    download = visitor.request.get(f"/priorities/{round_id}/ballots.json")
    assert hashlib.sha256(download.body()).hexdigest() == digest
    document = json.loads(download.body())
    assert document["channels"] == {"online": 6, "paper": 3}
    counted = recount(live_app, download.body(), digest, tmp_path)
    assert counted["channels"] == {"online": 6, "paper": 3} and counted["n"] == 9
    supporters = {p["key"]: p["supporters"] for p in counted["projects"]}
    # Online a×4, b+c×2; paper a, a+c, b.
    assert (supporters[slugs[a]], supporters[slugs[b]], supporters[slugs[c]]) == (6, 3, 3)


def test_paper_questionnaires_from_print_to_the_staged_answers(
    browser: Browser, base_url: str, live_app: Flask
) -> None:
    from kldialog.surveys.models import Channel, StagedResponse, SurveyResponse

    owner = person(live_app, Role.staff)
    ids = make_paper_survey(live_app, owner, "Papier: Leben in der Stadt")
    survey_id = ids["survey"]

    first = new_page(browser, base_url, "de")
    log_in(first, owner)
    first.goto(f"/staff/surveys/{survey_id}")
    first.get_by_role("link", name="Papier-Fragebögen: drucken").click()
    axe_both_widths(first, "questionnaire overview")
    first.get_by_role("link", name="Fragebogen auf Deutsch").click()
    expect(first.locator(".paper-question")).to_have_count(6)
    expect(first.locator(".paper-coin")).to_contain_text("Münze")
    axe_both_widths(first, "printed questionnaire")
    first.emulate_media(media="print")
    expect(first.locator(".site-header")).to_be_hidden()
    first.emulate_media(media="screen")

    begin_first_entry(first, f"/staff/surveys/{survey_id}/paper", "Bibliothek 1", 6)
    axe_both_widths(first, "questionnaire first entry")

    def fill(page: Page, satisfaction: str, *, whole_stack: bool = True) -> None:
        """Type sheet 1 (its satisfaction as given), and the rest of the stack unless settling."""
        for index in range(5) if whole_stack else [0]:
            level = satisfaction if index == 0 else "3"
            page.locator(f"#s{index}-q{ids['single'][0]}-{ids['single'][1]}").check()
            page.locator(f"#s{index}-q{ids['multiple'][0]}-{ids['multiple'][1][1]}").check()
            page.locator(f"#s{index}-q{ids['scale']}-{level}").check()
            page.locator(f"#s{index}-q{ids['ranking'][0]}_o{ids['ranking'][1][0]}").fill("2")
            page.locator(f"#s{index}-q{ids['ranking'][0]}_o{ids['ranking'][1][1]}").fill("1")
            page.locator(f"#s{index}-q{ids['coin']}-1").check()
        if whole_stack:
            page.locator("#s5-unusable").check()

    fill(first, "4")
    first.get_by_role("button", name="Erste Eingabe speichern").click()
    expect(first.locator(".flash-messages .kern-alert--success")).to_be_visible()
    first.get_by_role("link", name="Bibliothek 1").click()
    batch_url = first.url

    second = new_page(browser, base_url, "de")
    log_in(second, person(live_app, Role.staff))
    second.goto(batch_url)
    axe_both_widths(second, "questionnaire second entry")
    fill(second, "5")  # reads the scale differently
    second.get_by_role("button", name="Zweite Eingabe speichern").click()
    table = second.locator("table").filter(has_text="Erste Eingabe")
    expect(table).to_contain_text("Wie zufrieden?: 4")
    expect(table).to_contain_text("Wie zufrieden?: 5")
    axe_both_widths(second, "questionnaire differences")
    expect(second.locator("#s5-unusable")).to_have_count(0)  # only the differing sheet
    fill(second, "4", whole_stack=False)  # as on the paper
    second.get_by_role("button", name="Klären und den Stapel zählen").click()
    expect(second.locator(".flash-messages .kern-alert--success")).to_contain_text("gezählt")
    row = second.locator("tr", has_text="Bibliothek 1")
    expect(row.locator("td")).to_have_text(["Bibliothek 1", "6", "gezählt", "5", "1"])
    with live_app.app_context():
        # Five answer sets: a full batch, moved at once into the answer tables, all paper.
        assert not db.session.scalars(
            sa.select(StagedResponse.sealed).where(StagedResponse.survey_id == survey_id)
        ).all()
        channels = db.session.scalars(
            sa.select(SurveyResponse.channel).where(SurveyResponse.survey_id == survey_id)
        ).all()
        assert channels == [Channel.paper] * 5
