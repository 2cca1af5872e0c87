"""Surveys: building, answering page by page, bad input, one submission, results and suppression."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from kldialog.auth.models import Role
from kldialog.kernel.db import db
from kldialog.kernel.disclosure import hidden_cells, hidden_table
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.stats import randomised_response_estimate
from kldialog.kernel.time import utcnow
from kldialog.personal_data import services as personal_data
from kldialog.surveys import (
    answering,
    builder,
    crosstabs,
    results,
    retention,
    services,
    storage,
)
from kldialog.surveys.models import (
    QuestionKind,
    StagedResponse,
    Survey,
    SurveyAnswer,
    SurveyParticipation,
    SurveyResponse,
    TextReview,
)
from kldialog.windows.models import Eligibility

from .conftest import PASSWORD, TEST_DATABASE_URL, count_queries, login


def english(client: FlaskClient) -> None:
    """Switch the UI to English, so assertions read the English source strings."""
    with client.session_transaction() as session:
        session["lang"] = "en"


@pytest.fixture
def staff(make_user: Callable[..., Any]) -> Any:
    """Return a staff account."""
    return make_user(Role.resident, Role.staff, name="Stadtverwaltung")


@pytest.fixture
def make_survey(app: Flask, staff: Any) -> Callable[..., int]:
    """Return a factory for a published two-page survey with every question type; returns its id.

    Page 1: single (A/B/C + other, required), multiple (max 2), scale (required).
    Page 2: ranking (X/Y/Z), yes/no randomised, long text.
    """

    def make(
        *, published: bool = True, opens_in: float = -1, closes_in: float = 7, **kw: Any
    ) -> int:
        with app.app_context():
            now = utcnow()
            survey = builder.create_survey(
                staff,
                title=kw.get("title", "Umfrage zur Verkehrslenkung"),
                intro="Wie finden Sie die intelligente Verkehrslenkung?",
                opens_at=now + dt.timedelta(days=opens_in),
                closes_at=now + dt.timedelta(days=closes_in),
                eligibility=kw.get("eligibility", Eligibility.resident),
                project_ids=kw.get("project_ids", ()),
            )
            first = survey.sections[0]
            builder.save_question(
                staff, survey, None, section_id=first.id, kind=QuestionKind.single,
                text="Wie oft fahren Sie in die Innenstadt?", is_required=True, has_other=True,
                options=["täglich", "wöchentlich", "selten"],
            )  # fmt: skip
            builder.save_question(
                staff, survey, None, section_id=first.id, kind=QuestionKind.multiple,
                text="Womit fahren Sie?", max_choices=2, options=["Auto", "Bus", "Rad"],
            )  # fmt: skip
            builder.save_question(
                staff, survey, None, section_id=first.id, kind=QuestionKind.scale,
                text="Wie zufrieden sind Sie?", is_required=True,
                scale_low_label="gar nicht", scale_high_label="sehr",
            )  # fmt: skip
            second = builder.add_section(staff, survey, "Ihre Prioritäten")
            builder.save_question(
                staff, survey, None, section_id=second.id, kind=QuestionKind.ranking,
                text="Was ist am wichtigsten?", options=["Sicherheit", "Tempo", "Umwelt"],
            )  # fmt: skip
            builder.save_question(
                staff, survey, None, section_id=second.id, kind=QuestionKind.yes_no,
                text="Sind Sie schon einmal bei Rot gefahren?", is_randomised=True,
            )  # fmt: skip
            builder.save_question(
                staff, survey, None, section_id=second.id, kind=QuestionKind.long_text,
                text="Was möchten Sie noch sagen?",
            )  # fmt: skip
            if published:
                builder.publish_survey(staff, survey)
            return survey.id

    return make


def question_ids(app: Flask, survey_id: int) -> dict[str, Any]:
    """Return the survey's questions by kind, with their option ids by label."""
    with app.app_context():
        survey = services.get_survey(survey_id)
        return {
            q.kind.value: {"id": q.id, "options": {o.label: o.id for o in q.options}}
            for q in survey.questions()
        }


def answers(app: Flask, survey_id: int, **choice: Any) -> MultiDict[str, str]:
    """Return a valid complete form for the survey; keyword arguments change answers."""
    q = question_ids(app, survey_id)
    single, multiple, scale = q["single"], q["multiple"], q["scale"]
    ranking, yes_no, text = q["ranking"], q["yes_no"], q["long_text"]
    form = MultiDict(
        [
            (f"q{single['id']}", str(single["options"][choice.get("single", "täglich")])),
            (f"q{scale['id']}", str(choice.get("scale", 4))),
            (f"q{yes_no['id']}", str(choice.get("yes_no", 1))),
        ]
    )
    for label in choice.get("multiple", ["Bus"]):
        form.add(f"q{multiple['id']}", str(multiple["options"][label]))
    for place, label in enumerate(choice.get("ranking", ["Sicherheit", "Umwelt", "Tempo"]), 1):
        form.add(f"q{ranking['id']}_o{ranking['options'][label]}", str(place))
    if choice.get("text"):
        form.add(f"q{text['id']}", choice["text"])
    return form


def submit(app: Flask, survey_id: int, user: Any, form: MultiDict[str, str]) -> None:
    """Submit through the service, as the given person."""
    with app.app_context():
        person = db.session.merge(user)
        answering.parse_and_submit(person, services.get_survey(survey_id), form)


def count(app: Flask, model: Any) -> int:
    """Return the number of rows of a model."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


# --- statistics helpers -------------------------------------------------------------------------


def test_suppress_cells_hides_small_cells_and_one_more_so_none_can_be_subtracted() -> None:
    assert hidden_cells([10, 12, 8], 5) == [False, False, False]
    # One small cell: the next smallest goes too, or the total would reveal it.
    assert hidden_cells([10, 3, 8], 5) == [False, True, True]
    # Two small cells whose sum is still below k: a third goes.
    assert hidden_cells([10, 1, 2, 8], 5) == [False, True, True, True]
    # Zero is shown ("nobody chose this") and never counted as protection.
    assert hidden_cells([10, 0, 8], 5) == [False, False, False]
    assert hidden_cells([2, 0], 5) == [True, True]


def test_suppress_table_protects_every_row_and_column() -> None:
    table = [[10, 2, 9], [7, 8, 6], [5, 6, 11]]
    hidden = hidden_table(table, 5)
    assert hidden[0][1]
    for line in [*hidden, *zip(*hidden, strict=True)]:
        hidden_count = sum(line)
        assert hidden_count == 0 or hidden_count >= 2
    for r, row in enumerate(table):
        for c, value in enumerate(row):
            if 0 < value < 5:
                assert hidden[r][c]


def test_randomised_response_estimate_is_unbiased_and_wider() -> None:
    # Truth 30 % yes: reported yes = 0.5 * 0.3 + 0.25 = 40 %.
    share, low, high = randomised_response_estimate(400, 1000)
    assert share == pytest.approx(0.3)
    assert low < 0.3 < high
    assert high - low > 2 * 0.05  # about twice the plain interval of ±3 points


# --- building -----------------------------------------------------------------------------------


def test_staff_build_a_survey_in_the_browser_forms(
    client: FlaskClient, staff: Any, app: Flask, kaiserslautern: Flask
) -> None:
    login(client, staff)
    english(client)
    response = client.post(
        "/staff/surveys/new",
        data={
            "title": "Digitale Verwaltung",
            "intro": "Ihre Meinung zählt.",
            "opens_at": "2026-01-01T09:00",
            "closes_at": "2099-01-01T09:00",
            "eligibility": "verified",
            "project_ids": [],
        },
    )
    assert response.status_code == 303
    survey_url = response.headers["Location"]
    survey_id = int(survey_url.rsplit("/", 1)[1])
    with app.app_context():
        section_id = services.get_survey(survey_id).sections[0].id
    response = client.post(
        f"/staff/surveys/{survey_id}/questions/new",
        data={
            "section_id": section_id,
            "kind": "single",
            "text": "Nutzen Sie Online-Termine?",
            "options": "ja\nnein\n",
            "is_required": "y",
        },
    )
    assert response.status_code == 303
    # Too few options: a message next to the field, the text kept.
    response = client.post(
        f"/staff/surveys/{survey_id}/questions/new",
        data={"section_id": section_id, "kind": "ranking", "text": "Ordnen Sie", "options": "A"},
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Please enter at least two options, one per line." in page
    assert "Ordnen Sie" in page
    # Randomised response only for optional yes/no questions.
    response = client.post(
        f"/staff/surveys/{survey_id}/questions/new",
        data={"section_id": section_id, "kind": "single", "text": "X?", "options": "a\nb",
              "is_randomised": "y"},
    )  # fmt: skip
    assert "Randomised response works only with yes/no questions." in response.get_data(
        as_text=True
    )
    preview = client.get(f"/staff/surveys/{survey_id}/preview")
    assert preview.status_code == 200
    assert "Nutzen Sie Online-Termine?" in preview.get_data(as_text=True)
    assert client.post(f"/staff/surveys/{survey_id}/publish").status_code == 303
    with app.app_context():
        survey = services.get_survey(survey_id)
        assert survey.state.value == "published"
        assert survey.eligibility == Eligibility.verified
        assert [q.text for q in survey.questions()] == ["Nutzen Sie Online-Termine?"]


def test_questions_are_frozen_after_the_first_answer_and_a_new_version_copies_them(
    app: Flask, make_survey: Callable[..., int], make_user: Callable[..., Any], staff: Any
) -> None:
    survey_id = make_survey()
    submit(app, survey_id, make_user(Role.resident), answers(app, survey_id))
    with app.app_context():
        survey = services.get_survey(survey_id)
        assert survey.is_frozen
        question = survey.questions()[0]
        with pytest.raises(RuleViolation, match="eingefroren"):
            builder.delete_question(staff, survey, question)
        with pytest.raises(RuleViolation, match="eingefroren"):
            builder.save_question(
                staff, survey, question, section_id=question.section_id,
                kind=QuestionKind.single, text="Neu?", options=["a", "b"],
            )  # fmt: skip
        copy = builder.copy_survey(staff, survey)
        assert copy.state.value == "draft"
        assert copy.previous_version_id == survey_id
        assert [q.text for q in copy.questions()] == [q.text for q in survey.questions()]
        assert [len(q.options) for q in copy.questions()] == [
            len(q.options) for q in survey.questions()
        ]
        assert not copy.is_frozen


def test_move_question_reorders_across_pages(
    app: Flask, make_survey: Callable[..., int], staff: Any
) -> None:
    survey_id = make_survey(published=False)
    with app.app_context():
        survey = services.get_survey(survey_id)
        texts = [q.text for q in survey.questions()]
        third = survey.questions()[2]
        builder.move_question(staff, survey, third, +1)  # to the top of page 2
        survey = services.get_survey(survey_id)
        assert [q.text for q in survey.questions()] == texts
        assert survey.sections[1].questions[0].text == third.text
        builder.move_question(staff, survey, survey.questions()[1], -1)
        survey = services.get_survey(survey_id)
        assert [q.text for q in survey.questions()][:2] == [texts[1], texts[0]]


# --- answering ----------------------------------------------------------------------------------


def test_survey_page_says_what_is_stored_before_the_first_question(
    client: FlaskClient, make_survey: Callable[..., int], make_user: Callable[..., Any]
) -> None:
    survey_id = make_survey()
    login(client, make_user(Role.resident))
    english(client)
    page = client.get(f"/surveys/{survey_id}").get_data(as_text=True)
    promise = page.index("What we store – and what not")
    first_question = page.index("Wie oft fahren Sie in die Innenstadt?")
    assert promise < first_question
    assert "Page 1 of 2" in page
    assert re.search(r'src="/static/js/surveys\.[0-9a-f]{12}\.js"', page)  # content-hashed URL


def test_resident_answers_page_by_page_and_drafts_travel_in_the_form(
    app: Flask, client: FlaskClient, make_survey: Callable[..., int], make_user: Callable[..., Any]
) -> None:
    survey_id = make_survey()
    person = make_user(Role.resident)
    login(client, person)
    english(client)
    q = question_ids(app, survey_id)
    full = answers(app, survey_id, text="Mehr Radwege bitte")
    page_one = MultiDict(
        [(k, v) for k, v in full.items(multi=True) if int(re.match(r"q(\d+)", k)[1]) in
         (q["single"]["id"], q["multiple"]["id"], q["scale"]["id"])]
    )  # fmt: skip
    # Page 1 with a missing required answer: errors on top and at the field, input kept.
    partial = MultiDict(page_one)
    partial.poplist(f"q{q['scale']['id']}")
    response = client.post(
        f"/surveys/{survey_id}", data={**partial.to_dict(flat=False), "page": "0"}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert page.count("Please answer this question.") == 2  # summary and field
    assert f'href="#q{q["scale"]["id"]}"' in page
    assert "<title>Error:" in page
    assert f'value="{q["single"]["options"]["täglich"]}" checked' in page
    # Page 1 complete: page 2 with page 1's answers as hidden fields; nothing stored yet.
    response = client.post(
        f"/surveys/{survey_id}", data={**page_one.to_dict(flat=False), "page": "0"}
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Page 2 of 2" in page
    assert f'type="hidden" name="q{q["scale"]["id"]}" value="4"' in page
    assert count(app, SurveyParticipation) == 0
    assert count(app, StagedResponse) == 0
    # Back keeps everything.
    response = client.post(
        f"/surveys/{survey_id}", data={**full.to_dict(flat=False), "page": "1", "action": "back"}
    )
    assert "Page 1 of 2" in response.get_data(as_text=True)
    # Send.
    response = client.post(
        f"/surveys/{survey_id}", data={**full.to_dict(flat=False), "page": "1", "action": "send"}
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/surveys/{survey_id}/thanks")
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "What we store – and what not" in thanks
    assert count(app, SurveyParticipation) == 1
    assert count(app, StagedResponse) == 1  # waits for a batch of k
    # A second visit says so and offers no form.
    page = client.get(f"/surveys/{survey_id}").get_data(as_text=True)
    assert "You have taken part in this survey." in page
    assert 'name="action"' not in page


def test_randomised_question_is_hidden_without_javascript_and_says_so(
    client: FlaskClient, app: Flask, make_survey: Callable[..., int], make_user: Callable[..., Any]
) -> None:
    survey_id = make_survey()
    login(client, make_user(Role.resident))
    english(client)
    full = answers(app, survey_id)
    response = client.post(f"/surveys/{survey_id}", data={**full.to_dict(flat=False), "page": "0"})
    page = response.get_data(as_text=True)
    rr = question_ids(app, survey_id)["yes_no"]["id"]
    # The true-answer radios have no name attribute of the question: they are never sent.
    assert f'data-rr-value="1" name="rr-truth-{rr}" form="rr-truth-never-sent"' in page
    assert 'id="rr-truth-never-sent"' not in page
    assert f'<input type="hidden" name="q{rr}" value="1" class="survey-rr__reported">' in page
    assert "This question is skipped" in page
    assert re.search(r'class="kern-fieldset survey-rr__question[^"]*" hidden', page)


BAD_INPUTS = {
    "missing required": (lambda q, f: f.poplist(f"q{q['single']['id']}"), "Please answer this question."),
    "too many selections": (
        lambda q, f: f.setlist(f"q{q['multiple']['id']}", [str(o) for o in q["multiple"]["options"].values()]),
        "Please choose at most 2 options.",
    ),
    "scale out of range": (lambda q, f: f.setlist(f"q{q['scale']['id']}", ["7"]), "Please choose a value from 1 to 5."),
    "scale not a number": (lambda q, f: f.setlist(f"q{q['scale']['id']}", ["vier"]), "Please choose a value from 1 to 5."),
    "unknown option": (lambda q, f: f.setlist(f"q{q['single']['id']}", ["999999"]), "Please choose one of the options shown."),
    "two single choices": (
        lambda q, f: f.setlist(f"q{q['single']['id']}", [str(v) for v in q["single"]["options"].values()][:2]),
        "Please choose only one option.",
    ),
    "other without text": (lambda q, f: f.setlist(f"q{q['single']['id']}", ["other"]), "Please describe your other answer."),
    "rank twice": (
        lambda q, f: [f.setlist(f"q{q['ranking']['id']}_o{o}", ["1"]) for o in q["ranking"]["options"].values()],
        "Please give each place only once.",
    ),
    "rank incomplete": (
        lambda q, f: f.poplist(f"q{q['ranking']['id']}_o{q['ranking']['options']['Tempo']}"),
        "Please give every option a place, or none.",
    ),
    "scale a superscript digit": (lambda q, f: f.setlist(f"q{q['scale']['id']}", ["²"]), "Please choose a value from 1 to 5."),
    "scale an Arabic-Indic digit": (lambda q, f: f.setlist(f"q{q['scale']['id']}", ["٣"]), "Please choose a value from 1 to 5."),
    "rank a superscript digit": (
        lambda q, f: f.setlist(f"q{q['ranking']['id']}_o{q['ranking']['options']['Tempo']}", ["²"]),
        "Please use the places 1 to 3.",
    ),
    "yes/no not 0 or 1": (lambda q, f: f.setlist(f"q{q['yes_no']['id']}", ["2"]), "Please answer yes or no."),
    "text too long": (lambda q, f: f.setlist(f"q{q['long_text']['id']}", ["x" * 2001]), "Please use at most"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_answers_get_a_clear_message_and_store_nothing(
    case: str,
    client: FlaskClient,
    app: Flask,
    make_survey: Callable[..., int],
    make_user: Callable[..., Any],
) -> None:
    survey_id = make_survey()
    login(client, make_user(Role.resident))
    english(client)
    q = question_ids(app, survey_id)
    form = answers(app, survey_id, text="Mein Text bleibt erhalten")
    change, message = BAD_INPUTS[case]
    change(q, form)
    response = client.post(
        f"/surveys/{survey_id}", data={**form.to_dict(flat=False), "page": "1", "action": "send"}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert count(app, SurveyParticipation) == 0
    assert count(app, StagedResponse) == 0
    assert count(app, SurveyAnswer) == 0
    if "Mein Text" in page or case != "text too long":
        pass  # the page with the error is shown with what was entered (checked elsewhere)


@pytest.mark.parametrize("action", [None, "next", "unknown"])
def test_next_on_the_last_page_shows_it_again_and_stores_nothing(
    action: str | None,
    app: Flask,
    client: FlaskClient,
    make_survey: Callable[..., int],
    make_user: Callable[..., Any],
    staff: Any,
) -> None:
    """There is no page after the last one: "next" (or no button) used to be a 500."""
    survey_id = make_survey()
    full = answers(app, survey_id).to_dict(flat=False)
    data = {**full, "page": "1", **({"action": action} if action else {})}
    login(client, make_user(Role.resident))
    english(client)
    response = client.post(f"/surveys/{survey_id}", data=data)
    assert response.status_code == 200
    assert "Page 2 of 2" in response.get_data(as_text=True)
    assert count(app, SurveyParticipation) == 0
    client.post("/logout")
    login(client, staff)
    english(client)
    response = client.post(f"/staff/surveys/{survey_id}/preview", data=data)
    assert response.status_code == 200
    assert "Page 2 of 2" in response.get_data(as_text=True)


def test_answers_to_another_surveys_questions_are_refused(
    app: Flask, client: FlaskClient, make_survey: Callable[..., int], make_user: Callable[..., Any]
) -> None:
    survey_id = make_survey()
    other_id = make_survey(title="Andere Umfrage")
    login(client, make_user(Role.resident))
    english(client)
    form = answers(app, survey_id)
    other = question_ids(app, other_id)
    form.add(f"q{other['scale']['id']}", "5")
    response = client.post(
        f"/surveys/{survey_id}", data={**form.to_dict(flat=False), "page": "1", "action": "send"}
    )
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "not part of this survey" in page
    assert count(app, SurveyParticipation) == 0
    assert count(app, StagedResponse) == 0


def test_second_submission_and_answers_after_close_are_refused(
    app: Flask, client: FlaskClient, make_survey: Callable[..., int], make_user: Callable[..., Any]
) -> None:
    survey_id = make_survey()
    person = make_user(Role.resident)
    login(client, person)
    english(client)
    data = {**answers(app, survey_id).to_dict(flat=False), "page": "1", "action": "send"}
    assert client.post(f"/surveys/{survey_id}", data=data).status_code == 303
    response = client.post(f"/surveys/{survey_id}", data=data, follow_redirects=True)
    assert "You have already taken part in this survey." in response.get_data(as_text=True)
    assert count(app, SurveyParticipation) == 1
    assert count(app, StagedResponse) == 1
    with app.app_context():
        survey = db.session.get(Survey, survey_id)
        assert survey.participant_count == 1
        survey.closes_at = utcnow() - dt.timedelta(minutes=1)
        db.session.commit()
    other = make_user(Role.resident)
    client.post("/logout")
    login(client, other)
    english(client)
    response = client.post(f"/surveys/{survey_id}", data=data, follow_redirects=True)
    assert "This survey is not open for your answers. Nothing was saved." in response.get_data(
        as_text=True
    )
    with pytest.raises(RuleViolation, match="nicht für Antworten geöffnet"):
        submit(app, survey_id, other, answers(app, survey_id))
    assert count(app, SurveyParticipation) == 1


def test_a_race_of_two_submissions_is_settled_by_the_primary_key(
    app: Flask, make_survey: Callable[..., int], make_user: Callable[..., Any], monkeypatch: Any
) -> None:
    survey_id = make_survey()
    person = make_user(Role.resident)
    submit(app, survey_id, person, answers(app, survey_id))
    # The second request checked "not yet answered" before the first committed.
    monkeypatch.setattr(answering, "has_participated", lambda user, survey: False)
    with pytest.raises(RuleViolation, match="bereits an dieser Umfrage teilgenommen"):
        submit(app, survey_id, person, answers(app, survey_id))
    assert count(app, SurveyParticipation) == 1
    assert count(app, StagedResponse) == 1
    with app.app_context():
        assert db.session.get(Survey, survey_id).participant_count == 1


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="parallel transactions need PostgreSQL")
def test_parallel_submissions_of_one_person_store_exactly_one(
    app: Flask, make_survey: Callable[..., int], make_user: Callable[..., Any]
) -> None:
    survey_id = make_survey()
    person = make_user(Role.resident)
    form = answers(app, survey_id)
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def attempt() -> None:
        with app.app_context():
            user = db.session.merge(person)
            survey = services.get_survey(survey_id)
            barrier.wait()
            try:
                answering.parse_and_submit(user, survey, form)
                outcomes.append("stored")
            except RuleViolation as error:
                outcomes.append(error.message)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("stored") == 1, outcomes
    assert count(app, SurveyParticipation) == 1
    assert count(app, StagedResponse) == 1
    with app.app_context():
        assert db.session.get(Survey, survey_id).participant_count == 1


def test_eligibility_verified_only_and_drafts_are_hidden(
    client: FlaskClient, app: Flask, make_survey: Callable[..., int], make_user: Callable[..., Any]
) -> None:
    survey_id = make_survey(eligibility=Eligibility.verified)
    draft_id = make_survey(published=False, title="Entwurf")
    assert client.get(f"/surveys/{draft_id}").status_code == 404
    login(client, make_user(Role.resident))
    english(client)
    page = client.get(f"/surveys/{survey_id}").get_data(as_text=True)
    assert "Only verified residents may answer this survey." in page
    data = {**answers(app, survey_id).to_dict(flat=False), "page": "1", "action": "send"}
    response = client.post(f"/surveys/{survey_id}", data=data)
    assert response.status_code == 303
    assert count(app, SurveyParticipation) == 0
    listing = client.get("/surveys").get_data(as_text=True)
    assert "Entwurf" not in listing


# --- the two-step write -------------------------------------------------------------------------


def test_answers_are_flushed_in_shuffled_batches_of_at_least_k(
    app: Flask, make_survey: Callable[..., int], make_user: Callable[..., Any]
) -> None:
    survey_id = make_survey()
    for number in range(4):
        submit(app, survey_id, make_user(Role.resident), answers(app, survey_id, text=f"T{number}"))
    assert count(app, StagedResponse) == 4
    assert count(app, SurveyResponse) == 0
    submit(app, survey_id, make_user(Role.resident), answers(app, survey_id, text="T4"))
    assert count(app, StagedResponse) == 0
    assert count(app, SurveyResponse) == 5
    with app.app_context():
        texts = db.session.scalars(
            sa.select(SurveyAnswer.text).where(SurveyAnswer.text.is_not(None))
        )
        assert sorted(texts) == [f"T{n}" for n in range(5)]
        assert all(
            a.review == TextReview.pending
            for a in db.session.scalars(
                sa.select(SurveyAnswer).where(SurveyAnswer.text.is_not(None))
            )
        )


def test_a_flush_that_dies_half_way_loses_and_duplicates_nothing(
    app: Flask, make_survey: Callable[..., int], make_user: Callable[..., Any], monkeypatch: Any
) -> None:
    app.config["SURVEY_FLUSH_BATCH"] = 1000  # keep everything staged while submitting
    survey_id = make_survey()
    for number in range(8):
        submit(app, survey_id, make_user(Role.resident), answers(app, survey_id, text=f"T{number}"))
    assert count(app, StagedResponse) == 8
    real_write = storage._write_rows
    calls = {"rows": 0}

    def dying_write(table: sa.Table, rows: list[dict[str, Any]]) -> None:
        half = rows[: len(rows) // 2]
        real_write(table, half)
        calls["rows"] += len(half)
        raise SystemExit("killed in the middle of the flush")

    monkeypatch.setattr(storage, "_write_rows", dying_write)
    with app.app_context(), pytest.raises(SystemExit):
        storage.rewrite_answer_set(survey_id)
    assert calls["rows"] > 0
    # The dead process's transaction is never committed: the database rolls it back.
    with app.app_context():
        db.session.remove()
    assert count(app, StagedResponse) == 8
    assert count(app, SurveyResponse) == 0
    assert count(app, SurveyAnswer) == 0
    monkeypatch.setattr(storage, "_write_rows", real_write)
    with app.app_context():
        assert storage.rewrite_answer_set(survey_id) == 8
        assert storage.rewrite_answer_set(survey_id) == 0
        texts = sorted(
            db.session.scalars(sa.select(SurveyAnswer.text).where(SurveyAnswer.text.is_not(None)))
        )
    assert texts == [f"T{n}" for n in range(8)]
    assert count(app, SurveyResponse) == 8
    assert count(app, StagedResponse) == 0


# --- results ------------------------------------------------------------------------------------


def fill(
    app: Flask, survey_id: int, make_user: Callable[..., Any], choices: list[dict[str, Any]]
) -> None:
    """Submit one answer set per entry of choices, then flush the rest."""
    for choice in choices:
        submit(app, survey_id, make_user(Role.resident), answers(app, survey_id, **choice))
    with app.app_context():
        storage.rewrite_answer_set(survey_id)


def end_window(app: Flask, survey_id: int) -> None:
    """End the window now (the survey is not closed yet: that is the cron's job)."""
    with app.app_context():
        survey = db.session.get(Survey, survey_id)
        survey.opens_at = utcnow() - dt.timedelta(days=10)
        survey.closes_at = utcnow() - dt.timedelta(minutes=1)
        db.session.commit()


def close(app: Flask, survey_id: int) -> None:
    """End the window now and close the survey, as `flask surveys flush` (cron) would."""
    end_window(app, survey_id)
    with app.app_context():
        results.close_survey(db.session.get(Survey, survey_id))


def test_results_suppress_small_cells_with_complementary_suppression(
    app: Flask, make_survey: Callable[..., int], make_user: Callable[..., Any]
) -> None:
    survey_id = make_survey()
    choices = (
        [{"single": "täglich"}] * 6 + [{"single": "wöchentlich"}] * 5 + [{"single": "selten"}] * 2
    )
    fill(app, survey_id, make_user, choices)
    with app.app_context():
        data = results.compute_results(services.get_survey(survey_id))
    assert data["n"] == 13
    single = data["questions"][0]
    counts = {row["label"]: row["count"] for row in single["rows"]}
    # "selten" (2) is below k; "Sonstiges" (0) would not protect it; "wöchentlich" goes too.
    assert counts == {"täglich": 6, "wöchentlich": None, "selten": None, "Sonstiges": 0}
    row = next(r for r in single["rows"] if r["label"] == "täglich")
    assert row["share"] == pytest.approx(6 / 13)
    assert row["low"] < row["share"] < row["high"]
    # The scale's distribution would betray hidden cells through the mean: only the mean is shown.
    scale = data["questions"][2]
    assert scale["mean"]["mean"] == pytest.approx(4)
    # The randomised question shows the unbiased estimate only.
    rr = data["questions"][4]
    assert rr["rows"] == []
    assert rr["rr"]["share"] == pytest.approx(1.0)


def test_nothing_is_published_below_k_participants(
    app: Flask, client: FlaskClient, make_survey: Callable[..., int], make_user: Callable[..., Any]
) -> None:
    survey_id = make_survey()
    fill(app, survey_id, make_user, [{}] * 4)
    close(app, survey_id)
    english(client)
    page = client.get(f"/surveys/{survey_id}/results").get_data(as_text=True)
    assert "Fewer than 5 participants" in page
    assert "To protect them, no results are shown." in page
    assert "<svg" not in page


def test_results_are_public_after_close_only_and_staff_see_them_any_time(
    app: Flask,
    client: FlaskClient,
    make_survey: Callable[..., int],
    make_user: Callable[..., Any],
    staff: Any,
) -> None:
    survey_id = make_survey()
    fill(app, survey_id, make_user, [{}] * 6)
    assert client.get(f"/surveys/{survey_id}/results").status_code == 403
    council = make_user(Role.resident, Role.council)
    login(client, council)
    assert client.get(f"/surveys/{survey_id}/results").status_code == 403
    client.post("/logout")
    login(client, staff)
    english(client)
    page = client.get(f"/surveys/{survey_id}/results").get_data(as_text=True)
    assert "interim results for staff" in page
    with app.app_context():
        assert services.result_surveys_for(db.session.merge(staff))[0].id == survey_id
        assert services.result_surveys_for(db.session.merge(council)) == []
    close(app, survey_id)
    client.post("/logout")
    english(client)
    response = client.get(f"/surveys/{survey_id}/results")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "n = 6 participants" in page
    assert "self-selected, not representative" in page
    # Charts are lists with full-size text (readable on a phone), captioned by their summary.
    assert page.count('<figure class="chart"') >= 3
    assert page.count('<ul class="bar-list" aria-labelledby="chart-') >= 3
    assert page.count("<table") >= 4  # every chart has its table
    with app.app_context():
        assert [s.id for s in services.result_surveys_for(db.session.merge(council))] == [survey_id]


def test_results_after_close_include_the_last_staged_answers(
    app: Flask, client: FlaskClient, make_survey: Callable[..., int], make_user: Callable[..., Any]
) -> None:
    survey_id = make_survey()
    for _ in range(7):  # one batch of 5 is flushed, 2 stay staged until close
        submit(app, survey_id, make_user(Role.resident), answers(app, survey_id))
    assert count(app, StagedResponse) == 2
    close(app, survey_id)
    english(client)
    page = client.get(f"/surveys/{survey_id}/results").get_data(as_text=True)
    assert "n = 7 participants" in page
    assert count(app, StagedResponse) == 0


def test_free_text_is_published_only_after_review_and_only_above_k(
    app: Flask,
    client: FlaskClient,
    make_survey: Callable[..., int],
    make_user: Callable[..., Any],
    staff: Any,
) -> None:
    survey_id = make_survey()
    fill(app, survey_id, make_user, [{"text": f"Idee {n}"} for n in range(6)])
    close(app, survey_id)
    english(client)
    # The first look after close rewrites the answer set (fresh keys) and releases the results.
    assert "Idee 0" not in client.get(f"/surveys/{survey_id}/results").get_data(as_text=True)
    with app.app_context():
        answers_ = db.session.scalars(
            sa.select(SurveyAnswer).where(SurveyAnswer.text.is_not(None))
        ).all()
        ids = {a.text: str(a.id) for a in answers_}
    login(client, staff)
    english(client)
    review = client.get(f"/staff/surveys/{survey_id}/texts").get_data(as_text=True)
    assert "Idee 3" in review
    # Four published: still below k, so none is shown.
    decisions = {f"answer-{ids[f'Idee {n}']}": "published" for n in range(4)}
    decisions[f"answer-{ids['Idee 5']}"] = "rejected"
    assert client.post(f"/staff/surveys/{survey_id}/texts", data=decisions).status_code == 303
    client.post("/logout")
    english(client)
    page = client.get(f"/surveys/{survey_id}/results").get_data(as_text=True)
    assert "Idee 0" not in page
    login(client, staff)
    client.post(f"/staff/surveys/{survey_id}/texts", data={f"answer-{ids['Idee 4']}": "published"})
    client.post("/logout")
    english(client)
    page = client.get(f"/surveys/{survey_id}/results").get_data(as_text=True)
    assert all(f"Idee {n}" in page for n in range(5))
    assert "Idee 5" not in page


def test_crosstab_on_request_hides_small_cells(
    app: Flask, client: FlaskClient, make_survey: Callable[..., int], make_user: Callable[..., Any]
) -> None:
    survey_id = make_survey()
    choices = [{"single": "täglich", "scale": 5}] * 6 + [{"single": "selten", "scale": 1}] * 6
    choices += [{"single": "selten", "scale": 5}] * 2
    fill(app, survey_id, make_user, choices)
    close(app, survey_id)
    q = question_ids(app, survey_id)
    with app.app_context():
        survey = services.get_survey(survey_id)
        by_id = {question.id: question for question in survey.questions()}
        table = crosstabs.crosstab(survey, by_id[q["single"]["id"]], by_id[q["scale"]["id"]])
    assert table.status == "ok"
    cells = {str(row["label"]): row["cells"] for row in table.rows}
    assert cells["täglich"][4] is None  # 6 but hidden to protect the 2 in its column
    assert cells["selten"][4] is None  # 2
    assert cells["selten"][0] is None  # hidden: the row would reveal the 2
    english(client)
    page = client.get(
        f"/surveys/{survey_id}/results?first={q['single']['id']}&second={q['scale']['id']}"
    ).get_data(as_text=True)
    assert "Number of people by their answers" in page
    page = client.get(
        f"/surveys/{survey_id}/results?first={q['single']['id']}&second={q['single']['id']}"
    ).get_data(as_text=True)
    assert "Please choose two different questions." in page
    assert client.get(f"/surveys/{survey_id}/results?first=x&second=y").status_code == 200


def test_csv_export_is_k_filtered_shuffled_and_for_staff_only(
    app: Flask,
    client: FlaskClient,
    make_survey: Callable[..., int],
    make_user: Callable[..., Any],
    staff: Any,
) -> None:
    survey_id = make_survey()
    choices = [{"single": "täglich", "text": "Geheim"}] * 6 + [{"single": "selten"}] * 2
    choices += [{"single": "wöchentlich"}] * 5
    fill(app, survey_id, make_user, choices)
    login(client, make_user(Role.resident, Role.council))
    assert client.get(f"/staff/surveys/{survey_id}/answers.csv").status_code == 403
    client.post("/logout")
    login(client, staff)
    response = client.get(f"/staff/surveys/{survey_id}/answers.csv")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    lines = body.strip().splitlines()
    assert len(lines) == 1 + 13
    assert "selten" not in body  # 2 < k
    assert "wöchentlich" not in body  # complementary: it would reveal the 2 by subtraction
    assert sum(line.startswith("suppressed,") for line in lines) == 7
    assert "täglich" in body
    assert "Geheim" not in body  # not reviewed
    assert not re.search(r"\d{4}-\d{2}-\d{2}", body)


def test_differential_privacy_releases_nothing_while_open_and_one_stored_release_after_close(
    app_factory: Callable[..., Flask],
) -> None:
    # Runs with OpenDP when the `dp` extra is installed, otherwise with the documented fallback.
    app = app_factory(SURVEY_DP_EPSILON=1.0)
    # Factories of the default app are bound to another app: build the data by hand here.
    with app.app_context():
        from kldialog.auth import services as accounts

        staff_user = accounts.create_confirmed_user(
            email="s@example.org", password="correct horse battery staple",
            display_name="Staff", roles=[Role.staff],
        )  # fmt: skip
        now = utcnow()
        survey = builder.create_survey(
            staff_user, title="DP", intro="", opens_at=now - dt.timedelta(days=1),
            closes_at=now + dt.timedelta(days=1), eligibility=Eligibility.resident,
        )  # fmt: skip
        builder.save_question(
            staff_user, survey, None, section_id=survey.sections[0].id, kind=QuestionKind.single,
            text="A oder B?", is_required=True, options=["A", "B"],
        )  # fmt: skip
        builder.publish_survey(staff_user, survey)
        option = {o.label: o.id for o in survey.questions()[0].options}
        qid = survey.questions()[0].id
        for n in range(40):
            person = accounts.create_confirmed_user(
                email=f"p{n}@example.org", password="correct horse battery staple",
                display_name=f"Person {n}", roles=[],
            )  # fmt: skip
            answering.parse_and_submit(
                person, survey, MultiDict([(f"q{qid}", str(option["A" if n < 30 else "B"]))])
            )
        assert results.survey_results(survey)["questions"] == []  # open: nothing released
        survey.closes_at = utcnow() - dt.timedelta(seconds=1)
        db.session.commit()
        results.close_survey(survey)
        first = results.survey_results(survey)
        again = results.survey_results(db.session.get(Survey, survey.id))
        assert first == again  # released once and kept, so re-reading cannot average the noise
        assert first["dp_epsilon"] == 1.0
        client = app.test_client()
        english(client)
        page = client.get(f"/surveys/{survey.id}/results").get_data(as_text=True)
        assert "Differential privacy" in page


def test_results_page_runs_a_constant_number_of_queries(
    app: Flask, client: FlaskClient, make_survey: Callable[..., int], make_user: Callable[..., Any]
) -> None:
    survey_id = make_survey()
    fill(app, survey_id, make_user, [{}] * 5)
    close(app, survey_id)
    client.get(f"/surveys/{survey_id}/results")
    with app.app_context(), count_queries() as small:
        client.get(f"/surveys/{survey_id}/results")
    fill_more = [{"single": "selten", "text": "x"}] * 30
    with app.app_context():
        survey = db.session.get(Survey, survey_id)
        survey.closes_at = utcnow() + dt.timedelta(days=1)
        db.session.commit()
    fill(app, survey_id, make_user, fill_more)
    close(app, survey_id)
    with app.app_context(), count_queries() as large:
        client.get(f"/surveys/{survey_id}/results")
    assert len(large) == len(small)
    assert len(large) <= 16


# --- retention, accounts, demo ------------------------------------------------------------------


def test_purge_deletes_raw_answers_after_the_retention_period_and_keeps_the_results(
    app: Flask, client: FlaskClient, make_survey: Callable[..., int], make_user: Callable[..., Any]
) -> None:
    survey_id = make_survey()
    fill(app, survey_id, make_user, [{}] * 6)
    close(app, survey_id)
    with app.app_context():
        before = results.compute_results(services.get_survey(survey_id))
        assert retention.purge_raw_answers() == 0  # not yet
        later = utcnow() + dt.timedelta(days=31 * 13)
        assert retention.purge_raw_answers(later) == 1
        survey = services.get_survey(survey_id)
        assert survey.purged_at is not None
        assert survey.results_snapshot["questions"] == before["questions"]
        assert survey.results_snapshot["n"] == before["n"] == 6
        assert survey.results_snapshot["final"] is True
    assert count(app, SurveyAnswer) == 0
    assert count(app, SurveyResponse) == 0
    assert count(app, SurveyParticipation) == 6  # who took part stays, for "answered only once"
    english(client)
    page = client.get(f"/surveys/{survey_id}/results").get_data(as_text=True)
    assert "n = 6 participants" in page
    assert "The raw answers were deleted" in page


def test_maintenance_purge_command_includes_survey_answers(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["maintenance", "purge"])
    assert result.exit_code == 0, result.output
    assert "survey" in result.output


def test_data_export_lists_participations_and_deletion_removes_them_not_the_answers(
    app: Flask, client: FlaskClient, make_survey: Callable[..., int], make_user: Callable[..., Any]
) -> None:

    survey_id = make_survey()
    person = make_user(Role.resident)
    fill(app, survey_id, make_user, [{}] * 4)
    submit(app, survey_id, person, answers(app, survey_id))
    with app.app_context():
        storage.rewrite_answer_set(survey_id)
        user = db.session.merge(person)
        exported = personal_data.export_user_data(user)
        assert exported["surveys"] == [
            {
                "survey_id": survey_id,
                "title": "Umfrage zur Verkehrslenkung",
                "participated_on": utcnow().date().isoformat(),
            }
        ]
        assert "answers" not in str(exported["surveys"])
        personal_data.delete_account(user, PASSWORD)
    assert count(app, SurveyParticipation) == 4
    assert count(app, SurveyResponse) == 5


def test_demo_load_creates_an_open_survey(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(DEMO=True)
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        surveys = db.session.scalars(sa.select(Survey)).all()
        assert len(surveys) == 1
        survey = services.get_survey(surveys[0].id)
        assert survey.is_open()
        assert survey.projects
        assert any(q.is_randomised for q in survey.questions())
    again = app.test_cli_runner().invoke(args=["demo", "load"])
    assert again.exit_code == 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Survey)) == 1


def test_survey_list_shows_open_and_closed(
    client: FlaskClient, app: Flask, make_survey: Callable[..., int], make_user: Callable[..., Any]
) -> None:
    open_id = make_survey(title="Offene Umfrage")
    closed_id = make_survey(title="Alte Umfrage")
    close(app, closed_id)
    english(client)
    page = client.get("/surveys").get_data(as_text=True)
    assert (
        page.index("Offene Umfrage")
        < page.index("Closed surveys and results")
        < page.index("Alte Umfrage")
    )
    assert f"/surveys/{closed_id}/results" in page
    assert f"/surveys/{open_id}/results" not in page


# --- permissions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "verified", "state", "expected"),
    [
        ((), False, "open", (False, False)),  # visitor: no answering, no results while open
        ((Role.resident,), False, "open", (True, False)),
        ((Role.resident,), False, "open-verified", (False, False)),
        ((Role.resident,), True, "open-verified", (True, False)),
        ((Role.resident, Role.council), False, "open", (True, False)),
        ((Role.resident, Role.staff), False, "open", (True, True)),
        ((Role.resident,), False, "closed", (False, True)),
        ((), False, "closed", (False, True)),
        ((Role.resident,), False, "draft", (False, False)),
        ((Role.resident, Role.staff), False, "draft", (False, True)),
    ],
)
def test_permission_matrix_for_answering_and_results(
    app: Flask,
    make_survey: Callable[..., int],
    make_user: Callable[..., Any],
    roles: tuple[Role, ...],
    verified: bool,
    state: str,
    expected: tuple[bool, bool],
) -> None:
    from flask_login import AnonymousUserMixin

    from kldialog import permissions

    survey_id = make_survey(
        published=state != "draft",
        eligibility=Eligibility.verified if state.endswith("verified") else Eligibility.resident,
    )
    if state == "closed":
        close(app, survey_id)
    user = make_user(*roles, is_verified=verified) if roles else AnonymousUserMixin()
    with app.test_request_context():
        person = db.session.merge(user) if roles else user
        survey = services.get_survey(survey_id)
        assert (
            permissions.can_answer_survey(person, survey),
            permissions.can_view_survey_results(person, survey),
        ) == expected
        assert permissions.can_export_survey(person, survey) == (Role.staff in roles)
        assert permissions.can_view_survey(person, survey) == (
            state != "draft" or Role.staff in roles
        )


def test_survey_pages_run_a_constant_number_of_queries(
    app: Flask, client: FlaskClient, make_survey: Callable[..., int], make_user: Callable[..., Any]
) -> None:
    survey_ids = [make_survey(title=f"Umfrage {n}") for n in range(3)]
    login(client, make_user(Role.resident))
    client.get("/surveys")
    with app.app_context(), count_queries() as few:
        client.get("/surveys")
        client.get(f"/surveys/{survey_ids[0]}")
    survey_ids += [make_survey(title=f"Umfrage {n}") for n in range(3, 12)]
    with app.app_context(), count_queries() as many:
        client.get("/surveys")
        client.get(f"/surveys/{survey_ids[0]}")
    assert len(many) == len(few)
    assert len(many) <= 16


def test_odd_requests_never_give_a_server_error(
    app: Flask,
    client: FlaskClient,
    make_survey: Callable[..., int],
    make_user: Callable[..., Any],
    staff: Any,
) -> None:
    survey_id = make_survey()
    draft_id = make_survey(published=False)
    english(client)
    page = client.get(f"/surveys/{survey_id}").get_data(as_text=True)
    assert "Please log in to answer." in page
    response = client.post(f"/surveys/{survey_id}", data={"page": "0"})
    assert response.status_code == 303 and "/login" in response.headers["Location"]
    assert client.get("/surveys/999999").status_code == 404
    assert client.get(f"/surveys/{draft_id}/results").status_code == 404
    login(client, make_user(Role.resident))
    for data in (
        {"page": "abc", "action": "next"},
        {"page": "-5", "action": "back"},
        {"page": "99", "action": "send"},
        {"page": "0", "action": "whatever"},
        {"page": "0", "q1": "\u00e4" * 5000},
    ):
        response = client.post(f"/surveys/{survey_id}", data=data)
        assert response.status_code in (200, 303, 422), (data, response.status_code)
    assert client.post(f"/surveys/{draft_id}", data={"page": "0"}).status_code == 404
    assert count(app, SurveyParticipation) == 0
    client.post("/logout")
    login(client, staff)
    other = question_ids(app, draft_id)["single"]["id"]
    assert client.get(f"/staff/surveys/{survey_id}/questions/{other}").status_code in (303, 404)
    assert client.post(f"/staff/surveys/{survey_id}/questions/{other}/delete").status_code == 404
    for query in ("?first=1&second=abc", "?first=&second=", "?first=99999&second=1"):
        assert client.get(f"/surveys/{survey_id}/results{query}").status_code == 200
    response = client.post(
        "/staff/surveys/new",
        data={"title": "", "opens_at": "morgen", "closes_at": "2020-01-01T00:00"},
    )
    assert response.status_code == 200
    assert "Please enter a title." in response.get_data(as_text=True)
    response = client.post(
        "/staff/surveys/new",
        data={"title": "Rückwärts", "opens_at": "2030-01-01T00:00", "closes_at": "2020-01-01T00:00",
              "eligibility": "resident"},
    )  # fmt: skip
    assert "The survey must close after it opens." in response.get_data(as_text=True)
    assert 'value="Rückwärts"' in response.get_data(as_text=True)


@pytest.mark.parametrize("project", ["99999999999", "²", "0"])
def test_survey_form_refuses_project_ids_out_of_range_as_a_field_error(
    client: FlaskClient, staff: Any, app: Flask, project: str
) -> None:
    """An id beyond PostgreSQL's integer range used to reach the database (500 there)."""
    login(client, staff)
    english(client)
    response = client.post(
        "/staff/surveys/new",
        data={"title": "Digitale Verwaltung", "opens_at": "2026-01-01T09:00",
              "closes_at": "2099-01-01T09:00", "eligibility": "resident", "project_ids": [project]},
    )  # fmt: skip
    assert response.status_code == 200
    assert 'id="project_ids-error-1"' in response.get_data(as_text=True)
    assert "Please choose from the list." in response.get_data(as_text=True)
    assert count(app, Survey) == 0


def test_surveys_flush_command_moves_the_rest_of_closed_surveys(
    app: Flask, make_survey: Callable[..., int], make_user: Callable[..., Any]
) -> None:
    survey_id = make_survey()
    for _ in range(3):
        submit(app, survey_id, make_user(Role.resident), answers(app, survey_id))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["surveys", "flush"])
    assert result.exit_code == 0, result.output
    assert count(app, StagedResponse) == 3  # open and fewer than k: they wait
    end_window(app, survey_id)
    result = runner.invoke(args=["surveys", "flush"])
    assert "Flushed 3" in result.output
    assert count(app, StagedResponse) == 0
    assert count(app, SurveyResponse) == 3


def test_project_page_points_to_open_surveys_about_it(
    client: FlaskClient, make_survey: Callable[..., int], make_project: Callable[..., Any]
) -> None:
    project = make_project("Intelligente Verkehrslenkung")
    other = make_project("Freies WLAN")
    survey_id = make_survey(project_ids=[project.id])
    page = client.get(f"/projects/{project.slug}").get_data(as_text=True)
    assert "Die Stadt fragt zu diesem Projekt in der Umfrage" in page
    assert f'href="/surveys/{survey_id}"' in page
    assert "in der Umfrage" not in client.get(f"/projects/{other.slug}").get_data(as_text=True)
