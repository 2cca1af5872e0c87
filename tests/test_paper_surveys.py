"""Paper questionnaires: printing, double entry into the staged answer path, channel "paper"."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask
from werkzeug.datastructures import MultiDict

from kldialog.auth.models import Role
from kldialog.kernel.audit import AuditEntry
from kldialog.kernel.db import db
from kldialog.kernel.double_entry import BatchState, EntryBatch
from kldialog.surveys import results, services
from kldialog.surveys.models import (
    Channel,
    StagedResponse,
    Survey,
    SurveyParticipation,
    SurveyResponse,
)

from .conftest import login
from .test_surveys import answers, count, make_survey, question_ids, staff

__all__ = ["make_survey", "staff"]  # fixtures, imported for pytest


def entry(stack: list[MultiDict[str, str] | None], **extra: str) -> MultiDict[str, str]:
    """Return the fields of an entry: each sheet's answers under s<i>-; None is unusable."""
    data: MultiDict[str, str] = MultiDict(extra)
    for index, sheet in enumerate(stack):
        if sheet is None:
            data.add(f"s{index}-unusable", "1")
            continue
        for key, value in sheet.items(multi=True):
            data.add(f"s{index}-{key}", value)
    return data


def first(client: Any, survey_id: int, sheets: list[Any], label: str = "Kasten") -> Any:
    data = entry(sheets, label=label, sheets=str(len(sheets)))
    return client.post(f"/staff/surveys/{survey_id}/paper/batches/new", data=data)


def last_batch(app: Flask) -> EntryBatch:
    with app.app_context():
        batch = db.session.scalars(sa.select(EntryBatch).order_by(EntryBatch.id.desc())).first()
        db.session.expunge(batch)
        return batch


def test_the_printed_questionnaire_has_every_question_and_explains_the_coin(
    app: Flask, client: Any, staff: Any, make_survey: Callable[..., int]
) -> None:
    survey_id = make_survey()
    login(client, staff)
    page = client.get(f"/staff/surveys/{survey_id}/paper/print?language=de").get_data(as_text=True)
    for text in ("Wie oft fahren Sie", "Womit fahren Sie", "Wie zufrieden", "Was ist am wichtig",
                 "bei Rot gefahren", "Was möchten Sie noch sagen", "täglich", "Sicherheit"):  # fmt: skip
        assert text in page
    assert "Münze" in page and "Zahl" in page.split("Münze", 1)[1]
    assert "höchstens 2" in page or "bis zu 2" in page
    english = client.get(f"/staff/surveys/{survey_id}/paper/print?language=en")
    assert "Toss the coin" in english.get_data(as_text=True)
    assert client.get(f"/staff/surveys/{survey_id}/paper/print?language=xx").status_code == 200
    draft = make_survey(published=False)
    assert client.get(f"/staff/surveys/{draft}/paper").status_code == 404


def test_only_staff_enter_questionnaires(
    app: Flask, client: Any, make_user: Any, make_survey: Callable[..., int]
) -> None:
    survey_id = make_survey()
    login(client, make_user(Role.council))
    for path in ("", "/print", "/batches/new?label=x&sheets=1", "/batches/1"):
        assert client.get(f"/staff/surveys/{survey_id}/paper{path}").status_code == 403


def test_two_accounts_enter_questionnaires_into_the_staged_path_as_paper(
    app: Flask, client: Any, staff: Any, make_user: Any, make_survey: Callable[..., int]
) -> None:
    survey_id = make_survey()
    login(client, staff)
    other = app.test_client()
    login(other, make_user(Role.staff))
    sheets = [answers(app, survey_id, text=f"Papier {n}") for n in range(5)] + [None]
    assert first(client, survey_id, sheets).status_code == 303
    batch = last_batch(app)
    path = f"/staff/surveys/{survey_id}/paper/batches/{batch.id}"
    # The same account cannot make the second entry.
    page = client.get(path).get_data(as_text=True)
    assert "anderes Konto der Verwaltung" in page and "Zweite Eingabe speichern" not in page
    refused = client.post(path, data=entry(sheets), follow_redirects=True)
    assert "Sie haben die erste Eingabe" in refused.get_data(as_text=True)
    # The second account reads the scale of sheet 3 differently.
    differing = list(sheets)
    differing[2] = answers(app, survey_id, text="Papier 2", scale=2)
    assert other.post(path, data=entry(differing)).status_code == 303
    assert last_batch(app).state == BatchState.mismatch and count(app, StagedResponse) == 0
    page = other.get(path).get_data(as_text=True)
    table = page.split('<caption id="differences-caption"')[1].split("</table>")[0]
    assert "Wie zufrieden sind Sie?: 4" in table and "Wie zufrieden sind Sie?: 2" in table
    assert 'id="s2"' in page and 'id="s0"' not in page
    settle = entry([None, None, sheets[2]])  # only sheet 3's fields count
    settle = MultiDict([(k, v) for k, v in settle.items(multi=True) if k.startswith("s2-")])
    assert other.post(path, data=settle).status_code == 303
    batch = last_batch(app)
    assert batch.state == BatchState.agreed and (batch.accepted, batch.invalid) == (5, 1)
    assert batch.first_entry is None and batch.second_entry is None
    with app.app_context():
        # Five answer sets flushed as one batch of k, all marked paper; nobody took part.
        channels = list(db.session.scalars(sa.select(SurveyResponse.channel)))
        assert channels == [Channel.paper] * 5
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyParticipation)) == 0
        assert db.session.get(Survey, survey_id).participant_count == 5
        audit = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action.like("survey_paper.%"))
        ).all()
        dumped = json.dumps([a.details for a in audit])
        assert "Papier" not in dumped and '"accepted": 5' in dumped
        assert [a.action for a in audit][-1] == "survey_paper.counted"
        # A whole-set rewrite (at close, or a short time-based flush) keeps the channel.
        from kldialog.surveys import storage

        storage.rewrite_answer_set(survey_id)
        assert list(db.session.scalars(sa.select(SurveyResponse.channel))) == [Channel.paper] * 5


def test_bad_questionnaires_get_a_message_and_change_nothing(
    app: Flask, client: Any, staff: Any, make_survey: Callable[..., int]
) -> None:
    survey_id = make_survey()
    login(client, staff)
    q = question_ids(app, survey_id)
    missing = answers(app, survey_id)
    del missing[f"q{q['scale']['id']}"]  # a required question left out
    three = answers(app, survey_id, multiple=["Auto", "Bus", "Rad"])
    response = first(client, survey_id, [answers(app, survey_id), missing, three])
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Fragebogen 2" in page and "Fragebogen 3" in page and "höchstens 2" in page
    assert count(app, EntryBatch) == 0 and count(app, StagedResponse) == 0


def test_a_batch_needs_k_usable_questionnaires(
    app: Flask, client: Any, staff: Any, make_survey: Callable[..., int]
) -> None:
    survey_id = make_survey()
    login(client, staff)
    few = first(client, survey_id, [answers(app, survey_id)] * 4 + [None], label="klein")
    assert few.status_code == 303  # back to the overview, which says why
    page = client.get(f"/staff/surveys/{survey_id}/paper").get_data(as_text=True)
    assert "mindestens 5 brauchbare Fragebögen" in page
    assert count(app, EntryBatch) == 0 and count(app, StagedResponse) == 0


def test_no_entries_once_the_survey_is_closed(
    app: Flask, client: Any, staff: Any, make_user: Any, make_survey: Callable[..., int]
) -> None:
    survey_id = make_survey()
    login(client, staff)
    other = app.test_client()
    login(other, make_user(Role.staff))
    sheets = [answers(app, survey_id)] * 5
    first(client, survey_id, sheets)
    batch = last_batch(app)
    with app.app_context():
        survey = services.get_survey(survey_id)
        survey.closes_at = survey.opens_at + (survey.closes_at - survey.opens_at) / 1000
        db.session.commit()
    late = other.post(f"/staff/surveys/{survey_id}/paper/batches/{batch.id}",
                      data=entry(sheets), follow_redirects=True)  # fmt: skip
    assert "nur eingegeben werden, solange die Umfrage läuft" in late.get_data(as_text=True)
    assert last_batch(app).state == BatchState.first and count(app, StagedResponse) == 0


def test_online_answer_sets_stay_online_through_a_rewrite(
    app: Flask, make_user: Any, make_survey: Callable[..., int]
) -> None:
    from kldialog.surveys import storage

    from .test_surveys import submit

    survey_id = make_survey()
    for number in range(5):
        submit(app, survey_id, make_user(Role.resident), answers(app, survey_id, text=f"O{number}"))
    with app.app_context():
        storage.rewrite_answer_set(survey_id)
        assert set(db.session.scalars(sa.select(SurveyResponse.channel))) == {Channel.online}


# --- results by channel -------------------------------------------------------------------------


def enter_paper_batch(app: Flask, make_user: Any, survey_id: int, sheets: list[Any]) -> None:
    """Enter a stack of questionnaires twice, by two staff accounts, until it is counted."""
    typists = []
    for _ in range(2):
        typist = app.test_client()
        login(typist, make_user(Role.staff))
        typists.append(typist)
    assert first(typists[0], survey_id, sheets).status_code == 303
    path = f"/staff/surveys/{survey_id}/paper/batches/{last_batch(app).id}"
    assert typists[1].post(path, data=entry(sheets)).status_code == 303
    assert last_batch(app).state == BatchState.agreed


def online_and_paper(app: Flask, make_user: Any, survey_id: int, online: int, paper: int) -> None:
    """Let `online` residents answer online and enter `paper` questionnaires in one batch."""
    from kldialog.surveys import storage

    from .test_surveys import submit

    for number in range(online):
        submit(app, survey_id, make_user(Role.resident), answers(app, survey_id, text=f"O{number}"))
    with app.app_context():
        storage.rewrite_answer_set(survey_id)  # the online sets into the answer tables now
    enter_paper_batch(app, make_user, survey_id, [answers(app, survey_id)] * paper)


def channel_column(body: str) -> list[str] | None:
    """Return the CSV's channel column (None if it has none)."""
    header, *rows = list(csv.reader(io.StringIO(body)))
    if "Weg" not in header:
        return None
    return [row[header.index("Weg")] for row in rows]


def test_results_and_csv_say_how_many_answer_sets_came_online_and_on_paper(
    app: Flask, client: Any, staff: Any, make_user: Any, make_survey: Callable[..., int]
) -> None:
    survey_id = make_survey()
    online_and_paper(app, make_user, survey_id, online=6, paper=5)
    login(client, staff)
    page = client.get(f"/surveys/{survey_id}/results").get_data(as_text=True)
    assert "n = 11 Teilnehmende" in page
    assert "Davon 6 online und 5 auf Papier-Fragebögen" in page
    with app.app_context():
        data = results.survey_results(services.get_survey(survey_id))
        assert data["channels"] == {"online": 6, "paper": 5}
    body = client.get(f"/staff/surveys/{survey_id}/answers.csv").get_data(as_text=True)
    assert sorted(channel_column(body) or []) == ["Papier"] * 5 + ["online"] * 6


def test_a_channel_with_fewer_than_k_answer_sets_is_not_shown_nor_the_other(
    app: Flask, client: Any, staff: Any, make_user: Any, make_survey: Callable[..., int]
) -> None:
    survey_id = make_survey()
    online_and_paper(app, make_user, survey_id, online=2, paper=5)
    login(client, staff)
    page = client.get(f"/surveys/{survey_id}/results").get_data(as_text=True)
    assert "n = 7 Teilnehmende" in page
    assert "Davon" not in page and "auf Papier-Fragebögen" in page
    assert "eine der beiden Zahlen ist kleiner als 5" in page
    with app.app_context():
        data = results.survey_results(services.get_survey(survey_id))
        assert data["channels"] == {"online": None, "paper": None}
    body = client.get(f"/staff/surveys/{survey_id}/answers.csv").get_data(as_text=True)
    assert channel_column(body) == ["suppressed"] * 7


def test_without_paper_or_with_noise_there_is_no_channel_split(
    app: Flask, client: Any, staff: Any, make_user: Any, make_survey: Callable[..., int]
) -> None:
    from kldialog.surveys.noise import Noise

    from .test_surveys import submit

    online_only = make_survey()
    for number in range(5):
        submit(
            app, online_only, make_user(Role.resident), answers(app, online_only, text=f"{number}")
        )
    login(client, staff)
    page = client.get(f"/surveys/{online_only}/results").get_data(as_text=True)
    assert "n = 5 Teilnehmende" in page and "Papier" not in page
    body = client.get(f"/staff/surveys/{online_only}/answers.csv").get_data(as_text=True)
    assert channel_column(body) is None  # the columns of an online survey stay as they were
    mixed = make_survey(title="Gemischt")
    online_and_paper(app, make_user, mixed, online=5, paper=5)
    with app.app_context():
        survey = services.get_survey(mixed)
        assert results.compute_results(survey)["channels"] == {"online": 5, "paper": 5}
        # Under differential privacy the split would need noise (and ε) of its own.
        assert results.compute_results(survey, Noise(1.0))["channels"] is None


def test_the_council_dashboard_shows_a_closed_surveys_channels(
    app: Flask, client: Any, make_user: Any, make_survey: Callable[..., int]
) -> None:
    import datetime as dt

    survey_id = make_survey()
    small = make_survey(title="Wenig online")
    online_and_paper(app, make_user, survey_id, online=6, paper=5)
    online_and_paper(app, make_user, small, online=2, paper=5)
    with app.app_context():
        for closing in (survey_id, small):
            survey = services.get_survey(closing)
            survey.closes_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
            db.session.commit()
            results.close_survey(survey)
    login(client, make_user(Role.council))
    page = client.get("/council").get_data(as_text=True)
    assert "11 Teilnehmende; in den Ergebnissen 6 online und 5 auf Papier" in page
    assert "7 Teilnehmende; in den Ergebnissen zum Teil auf Papier" in page


def test_the_api_tells_the_channels_with_the_same_rule_and_the_english_texts(
    app: Flask, make_user: Any, make_survey: Callable[..., int]
) -> None:
    from kldialog.surveys.models import Question

    from .test_surveys import close

    shown, hidden = make_survey(), make_survey(title="Wenig online")
    online_and_paper(app, make_user, shown, online=6, paper=5)
    online_and_paper(app, make_user, hidden, online=2, paper=5)
    with app.app_context():
        question = db.session.scalars(
            sa.select(Question).where(Question.survey_id == shown)
        ).first()
        question.text_en = "How often?"
        for option in question.options:
            option.label_en = f"EN {option.label}"
        db.session.commit()
        question_id, labels = question.id, {o.label: f"EN {o.label}" for o in question.options}
    for survey_id in (shown, hidden):
        close(app, survey_id)
    api = app.test_client()
    detail = api.get(f"/api/v1/surveys/{shown}").get_json()
    assert (detail["n"], detail["answer_sets_online"], detail["answer_sets_paper"]) == (11, 6, 5)
    (entry,) = [q for q in detail["questions"] if q["id"] == question_id]
    assert entry["text_en"] == "How often?"
    assert {row["label"]: row["label_en"] for row in entry["rows"]} == {**labels, "Sonstiges": None}
    small = api.get(f"/api/v1/surveys/{hidden}").get_json()
    assert (small["n"], small["answer_sets_online"], small["answer_sets_paper"]) == (7, None, None)
    assert all(q["text_en"] is None for q in small["questions"])
    # The results page in English asks the question in English too.
    with api.session_transaction() as stored:
        stored["lang"] = "en"
    page = api.get(f"/surveys/{shown}/results").get_data(as_text=True)
    assert f'<h2 id="result-{question_id}" class="kern-heading-medium">How often?</h2>' in page
    assert "EN " in page
