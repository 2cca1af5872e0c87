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
from kldialog.priorities.models import Method, PriorityRound, RoundResult

from .test_accounts import check_axe
from .test_priorities import OPENED, make_round, new_page, person
from .test_staff import log_in

__all__ = ["OPENED"]


def axe_both_widths(page: Page, label: str) -> None:
    """Check axe at 1280 px and at 360 px, and that nothing scrolls sideways at 360 px."""
    page.set_viewport_size({"width": 1280, "height": 900})
    check_axe(page, f"{label} 1280")
    page.set_viewport_size({"width": 360, "height": 740})
    check_axe(page, f"{label} 360")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{label} scrolls sideways by {overflow}px at 360 px"
    page.set_viewport_size({"width": 1280, "height": 900})


def fill_sheet(page: Page, index: int, code: str, marks: list[int], reason: str = "") -> None:
    """Type one sheet as it is marked on the paper."""
    page.locator(f"#s{index}-code").fill(code)
    if reason:
        page.locator(f"#s{index}-invalid").select_option(reason)
    for project_id in marks:
        page.locator(f"#s{index}-mark-{project_id}").check()


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
    first.locator("#count").fill("5")
    first.locator("#language").select_option("en")
    first.locator("main form button[type=submit]").first.click()
    expect(first.locator(".paper-ballot")).to_have_count(5)
    expect(first.locator(".paper-ballot h2").first).to_contain_text("Ballot paper")
    codes = first.locator(".code-sheet__code-text").all_inner_texts()
    assert len(set(codes)) == 5
    axe_both_widths(first, "printed ballots")
    first.emulate_media(media="print")
    expect(first.locator(".site-header")).to_be_hidden()
    expect(first.locator(".code-sheet__intro")).to_be_hidden()
    first.emulate_media(media="screen")

    # First entry of a batch of four sheets; the fourth has no readable code.
    first.goto(f"/staff/rounds/{round_id}/paper")
    first.locator("#label").fill("Bürgerbüro Kasten 1")
    first.locator("#sheets").fill("4")
    first.get_by_role("button", name="Erste Eingabe beginnen").click()
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
    with live_app.app_context():
        db.session.execute(
            sa.update(PriorityRound).where(PriorityRound.id == round_id).values(
                opens_at=now - dt.timedelta(days=10), closes_at=now - dt.timedelta(seconds=2),
                paper_until=now - dt.timedelta(seconds=1),
            )
        )  # fmt: skip
        db.session.commit()
        services.close_round(db.session.get(PriorityRound, round_id))
        digest = db.session.get(RoundResult, round_id).ballot_sha256
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
    path = tmp_path / "ballots.json"
    path.write_bytes(download.body())
    recount = live_app.test_cli_runner().invoke(
        args=["rounds", "recount", str(path), "--expect", digest, "--json"]
    )
    assert recount.exit_code == 0, recount.output
    counted = json.loads(recount.output)
    assert counted["channels"] == {"online": 6, "paper": 3} and counted["n"] == 9
    supporters = {p["key"]: p["supporters"] for p in counted["projects"]}
    # Online a×4, b+c×2; paper a, a+c, b.
    assert (supporters[slugs[a]], supporters[slugs[b]], supporters[slugs[c]]) == (6, 3, 3)


def test_paper_questionnaires_from_print_to_the_staged_answers(
    browser: Browser, base_url: str, live_app: Flask
) -> None:
    from kldialog.kernel.time import utcnow
    from kldialog.surveys import builder
    from kldialog.surveys.models import Channel, QuestionKind, StagedResponse, SurveyResponse
    from kldialog.windows.models import Eligibility

    with live_app.app_context():
        owner = accounts.find_user_by_email(person(live_app, Role.staff))
        now = utcnow()
        survey = builder.create_survey(
            owner, title="Papier: Leben in der Stadt", intro="Ihre Meinung zählt.",
            opens_at=now - dt.timedelta(days=1), closes_at=now + dt.timedelta(days=5),
            eligibility=Eligibility.resident,
        )  # fmt: skip
        section = survey.sections[0].id
        ask = {"actor": owner, "survey": survey, "question": None, "section_id": section}
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
        survey_id = survey.id
        ids = {
            "single": (single.id, single.options[0].id), "multiple": (multiple.id, multiple.options),
            "scale": scale.id, "ranking": (ranking.id, ranking.options), "coin": coin.id,
        }  # fmt: skip
        multiple_ids = [o.id for o in multiple.options]
        ranking_ids = [o.id for o in ranking.options]

    first = new_page(browser, base_url, "de")
    log_in(first, person(live_app, Role.staff))
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

    first.goto(f"/staff/surveys/{survey_id}/paper")
    first.locator("#label").fill("Bibliothek 1")
    first.locator("#sheets").fill("6")
    first.get_by_role("button", name="Erste Eingabe beginnen").click()
    axe_both_widths(first, "questionnaire first entry")

    def fill(page: Page, satisfaction: str, *, whole_stack: bool = True) -> None:
        """Type sheet 1 (its satisfaction as given), and the rest of the stack unless settling."""
        for index in range(5) if whole_stack else [0]:
            level = satisfaction if index == 0 else "3"
            page.locator(f"#s{index}-q{ids['single'][0]}-{ids['single'][1]}").check()
            page.locator(f"#s{index}-q{ids['multiple'][0]}-{multiple_ids[1]}").check()
            page.locator(f"#s{index}-q{ids['scale']}-{level}").check()
            page.locator(f"#s{index}-q{ids['ranking'][0]}_o{ranking_ids[0]}").fill("2")
            page.locator(f"#s{index}-q{ids['ranking'][0]}_o{ranking_ids[1]}").fill("1")
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
