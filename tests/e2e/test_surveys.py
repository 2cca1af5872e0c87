"""Surveys in Chromium: staff build one, residents answer with and without JavaScript; axe."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from werkzeug.datastructures import MultiDict

from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.kernel.db import db
from kldialog.kernel.time import utcnow
from kldialog.surveys import (
    answering,
    builder,
    results,
    sealing,
    services,
)
from kldialog.surveys.models import StagedResponse, Survey, SurveyAnswer, SurveyParticipation

from ..conftest import PASSWORD
from .test_pages import choose_language
from .test_staff import check_axe, log_in, make_account

SCREENSHOTS = os.environ.get("KLDIALOG_SCREENSHOTS")  # a folder: save screenshots there


def shot(page: Page, name: str) -> None:
    """Save a full-page screenshot when KLDIALOG_SCREENSHOTS names a folder."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def build_in_browser(page: Page, title: str) -> int:
    """Create a two-page survey through the staff forms and publish it; return its id."""
    page.goto("/staff/surveys/new")
    page.locator("#title").fill(title)
    page.locator("#intro").fill("Die Stadt möchte wissen, wie Sie die Verkehrslenkung sehen.")
    page.locator("#opens_at").fill("2026-01-01T09:00")
    page.locator("#closes_at").fill("2099-12-31T18:00")
    page.get_by_label("Intelligente Verkehrslenkung").check()
    page.locator("main form.staff-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/staff/surveys/\d+$"))
    survey_id = int(page.url.rsplit("/", 1)[1])

    def add_question(kind: str, text: str, options: str = "", *, required: bool = False,
                     randomised: bool = False, page_number: int = 1) -> None:  # fmt: skip
        page.goto(f"/staff/surveys/{survey_id}")
        page.locator("main a[href*='/questions/new?section=']").nth(page_number - 1).click()
        page.locator("#text").fill(text)
        page.locator(f"input[name=kind][value={kind}]").check()
        if options:
            page.locator("#options").fill(options)
        if required:
            page.locator("#is_required").check()
        if randomised:
            page.locator("#is_randomised").check()
        page.locator("main form.staff-form button[type=submit]").click()
        expect(page).to_have_url(re.compile(rf"/staff/surveys/{survey_id}#questions$"))

    add_question("single", "Wie kommen Sie in die Stadt?", "zu Fuß\nmit dem Rad\nmit dem Auto",
                 required=True)  # fmt: skip
    add_question("scale", "Wie zufrieden sind Sie?", required=True)
    check_axe(page, "survey builder")
    shot(page, "survey-builder")
    page.locator("#section-title").fill("Sensible Fragen")
    page.locator("form[action$='/sections'] button[type=submit]").click()
    add_question(
        "yes_no", "Sind Sie schon einmal bei Rot gefahren?", randomised=True, page_number=2
    )
    add_question("long_text", "Was möchten Sie noch sagen?", page_number=2)
    page.goto(f"/staff/surveys/{survey_id}/preview")
    expect(page.locator("main")).to_contain_text("Wie kommen Sie in die Stadt?")
    check_axe(page, "survey preview")
    page.goto(f"/staff/surveys/{survey_id}")
    page.locator(f"form[action$='/staff/surveys/{survey_id}/publish'] button").click()
    expect(page.locator(".flash-messages")).to_be_visible()
    return survey_id


@pytest.mark.parametrize("language", ["de", "en"])
def test_staff_build_and_residents_answer_with_and_without_javascript(
    browser: Browser, base_url: str, live_app: Flask, language: str
) -> None:
    make_account(live_app, "survey-staff@example.org", "Umfrage Team", Role.resident, Role.staff)
    make_account(
        live_app, f"anna-survey-{language}@example.org", f"Anna S {language}", Role.resident
    )
    make_account(
        live_app, f"bert-survey-{language}@example.org", f"Bert S {language}", Role.resident
    )
    staff = browser.new_context(base_url=base_url).new_page()
    choose_language(staff, language)
    log_in(staff, "survey-staff@example.org")
    survey_id = build_in_browser(staff, f"Verkehr in Kaiserslautern ({language})")

    # Anna, with JavaScript: the coin-tossed question is shown, the true answer never sent.
    anna = browser.new_context(base_url=base_url).new_page()
    choose_language(anna, language)
    log_in(anna, f"anna-survey-{language}@example.org")
    anna.goto(f"/surveys/{survey_id}")
    expect(anna.locator(".survey-privacy")).to_be_visible()
    check_axe(anna, "survey page 1")
    shot(anna, f"survey-page-1-{language}")
    # Send page 1 empty: errors on top, tied to the fields.
    anna.locator("button[name=action][value=next]").click()
    expect(anna.locator("#error-summary")).to_be_visible()
    assert anna.locator("#error-summary a").count() == 2
    assert anna.title().startswith(("Fehler", "Error"))
    check_axe(anna, "survey errors")
    anna.locator("#error-summary a").first.click()
    anna.locator("main input[type=radio]").first.check()
    anna.locator("label", has_text=re.compile(r"^4$")).click()
    anna.locator("button[name=action][value=next]").click()
    expect(anna.locator(".survey-progress")).to_contain_text("2")
    expect(anna.locator(".survey-rr__question")).to_be_visible()
    expect(anna.locator(".survey-rr__nojs")).to_be_hidden()
    anna.locator(".survey-rr__question input[data-rr-value='1']").check()
    reported = anna.locator("input.survey-rr__reported").input_value()
    assert reported in ("0", "1")
    # The true-answer radios belong to no form, so the browser never sends them.
    assert anna.evaluate(
        "[...document.querySelectorAll('.survey-rr__question input')].every(i => i.form === null)"
    )
    sent: list[str] = []
    anna.on("request", lambda request: sent.append(request.post_data or ""))
    check_axe(anna, "survey page 2 with randomised response")
    shot(anna, f"survey-page-2-{language}")
    anna.locator("textarea").fill("Mehr Grünphasen für Fußgänger.")
    anna.locator("button[name=action][value=send]").click()
    expect(anna).to_have_url(re.compile(rf"/surveys/{survey_id}/thanks$"))
    assert any("action=send" in body for body in sent)
    assert not any("rr-truth" in body for body in sent)
    check_axe(anna, "survey thanks")

    # Bert, without JavaScript: the question is skipped and the page says so.
    context = browser.new_context(base_url=base_url, java_script_enabled=False)
    bert = context.new_page()
    choose_language(bert, language)
    log_in(bert, f"bert-survey-{language}@example.org")
    bert.goto(f"/surveys/{survey_id}")
    bert.locator("main input[type=radio]").nth(1).check()
    bert.locator("label", has_text=re.compile(r"^2$")).click()
    bert.locator("button[name=action][value=next]").click()
    expect(bert.locator(".survey-rr__nojs")).to_be_visible()
    expect(bert.locator(".survey-rr__question")).to_be_hidden()
    bert.locator("button[name=action][value=back]").click()
    expect(bert.locator("main input[type=radio]").nth(1)).to_be_checked()
    bert.locator("button[name=action][value=next]").click()
    bert.locator("button[name=action][value=send]").click()
    expect(bert).to_have_url(re.compile(rf"/surveys/{survey_id}/thanks$"))

    with live_app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(SurveyParticipation)
                .where(SurveyParticipation.survey_id == survey_id)
            )
            == 2
        )
        sealed = db.session.scalars(
            sa.select(StagedResponse.sealed).where(StagedResponse.survey_id == survey_id)
        ).all()
        assert len(sealed) == 2  # waiting for a batch of k, encrypted
        payloads = [sealing.unseal(survey_id, item)["a"] for item in sealed]
        survey = services.get_survey(survey_id)
        rr_id = next(q.id for q in survey.questions() if q.is_randomised)
        rr_answers = [r for payload in payloads for r in payload if r["q"] == rr_id]
        assert len(rr_answers) == 1  # Anna's report only; Bert skipped it
        assert rr_answers[0]["n"] == int(reported)


def test_results_page_with_charts_and_tables_is_accessible(
    browser: Browser, base_url: str, live_app: Flask
) -> None:
    make_account(live_app, "survey-staff@example.org", "Umfrage Team", Role.resident, Role.staff)
    with live_app.app_context():
        staff = accounts.find_user_by_email("survey-staff@example.org")
        now = utcnow()
        from kldialog.surveys.models import QuestionKind
        from kldialog.windows.models import Eligibility

        survey = builder.create_survey(
            staff, title="Ergebnisse: Parken in der Innenstadt", intro="",
            opens_at=now - dt.timedelta(days=3), closes_at=now + dt.timedelta(days=1),
            eligibility=Eligibility.resident,
        )  # fmt: skip
        section = survey.sections[0].id
        single = builder.save_question(
            staff, survey, None, section_id=section, kind=QuestionKind.single,
            text="Wie parken Sie?", options=["Parkhaus", "Straße", "gar nicht"], is_required=True,
        )  # fmt: skip
        scale = builder.save_question(
            staff, survey, None, section_id=section, kind=QuestionKind.scale,
            text="Wie zufrieden?", is_required=True,
        )  # fmt: skip
        builder.publish_survey(staff, survey)
        options = [o.id for o in single.options]
        for number in range(23):
            person = accounts.create_confirmed_user(
                email=f"result-{number}@example.org", password=PASSWORD,
                display_name=f"Ergebnis {number}", roles=[Role.resident],
            )  # fmt: skip
            answering.parse_and_submit(
                person,
                services.get_survey(survey.id),
                MultiDict(
                    [
                        (
                            f"q{single.id}",
                            str(options[0 if number < 12 else 1 if number < 20 else 2]),
                        ),
                        (f"q{scale.id}", str(1 + number % 5)),
                    ]
                ),
            )
        survey = db.session.get(Survey, survey.id)
        survey.closes_at = utcnow() - dt.timedelta(minutes=1)
        db.session.commit()
        results.close_survey(survey)  # as the cron would: no page view closes a survey
        survey_id = survey.id
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyAnswer)) >= 20
    for language in ("de", "en"):
        page = browser.new_context(base_url=base_url).new_page()
        choose_language(page, language)
        page.goto(f"/surveys/{survey_id}/results")
        expect(page.locator("figure.chart .bar-list").first).to_be_visible()
        expect(page.locator("main")).to_contain_text("23")
        check_axe(page, f"results {language}")
        # On a phone the chart labels keep the page's text size and nothing scrolls sideways.
        page.set_viewport_size({"width": 360, "height": 740})
        sizes = page.locator("figure.chart .bar-list__label").evaluate_all(
            "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))"
        )
        assert sizes and min(sizes) >= 16, sizes
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        check_axe(page, f"results at 360 px {language}")
        shot(page, f"survey-results-360-{language}")
        page.set_viewport_size({"width": 1280, "height": 800})
        first, second = (q for q in page.locator("#first option").all_inner_texts()[:2])
        page.locator("#first").select_option(label=first)
        page.locator("#second").select_option(label=second)
        page.locator("#crosstab button[type=submit]").click()
        expect(page.locator("#crosstab table")).to_be_visible()
        check_axe(page, f"results with cross-tab {language}")
        shot(page, f"survey-results-{language}")
        page.goto("/surveys")
        check_axe(page, f"survey list {language}")
        shot(page, f"survey-list-{language}")


def test_staff_close_an_ended_survey_and_its_public_page_says_preparing(
    browser: Browser, base_url: str, live_app: Flask
) -> None:
    """The close button of an ended survey (axe, de and en), and "being prepared" before it."""
    make_account(live_app, "survey-staff@example.org", "Umfrage Team", Role.resident, Role.staff)
    with live_app.app_context():
        staff = accounts.find_user_by_email("survey-staff@example.org")
        now = utcnow()
        from kldialog.surveys.models import QuestionKind
        from kldialog.windows.models import Eligibility

        survey = builder.create_survey(
            staff, title="Ende: Radwege", intro="", opens_at=now - dt.timedelta(days=3),
            closes_at=now + dt.timedelta(days=1), eligibility=Eligibility.resident,
        )  # fmt: skip
        builder.save_question(
            staff, survey, None, section_id=survey.sections[0].id, kind=QuestionKind.yes_no,
            text="Fahren Sie Rad?",
        )  # fmt: skip
        builder.publish_survey(staff, survey)
        survey = db.session.get(Survey, survey.id)
        survey.closes_at = utcnow() - dt.timedelta(minutes=1)
        db.session.commit()
        survey_id = survey.id
    for language, button, preparing in (
        ("de", "Umfrage schließen und Ergebnisse freigeben", "Ergebnisse werden vorbereitet"),
        ("en", "Close the survey and release the results", "Its results are being prepared"),
    ):
        page = browser.new_context(base_url=base_url).new_page()
        log_in(page, "survey-staff@example.org")
        choose_language(page, language)
        page.goto(f"/surveys/{survey_id}/results")
        expect(page.locator("main")).to_contain_text(preparing)
        page.goto(f"/staff/surveys/{survey_id}")
        expect(page.get_by_role("button", name=button)).to_be_visible()
        check_axe(page, f"staff survey with close button {language}")
        page.context.close()
    page = browser.new_context(base_url=base_url).new_page()
    log_in(page, "survey-staff@example.org")
    choose_language(page, "en")
    page.goto(f"/staff/surveys/{survey_id}")
    page.get_by_role("button", name="Close the survey and release the results").click()
    expect(page).to_have_url(re.compile(rf"/surveys/{survey_id}/results$"))
    expect(page.locator("main")).to_contain_text("The survey is closed")
    page.context.close()
