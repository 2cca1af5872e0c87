"""What published survey figures may give away: derived figures, CSV columns, releases, DP.

Each test reproduces one finding of the privacy audit (issue 10) and fails when the protection
is removed: a mean beside hidden bars, a two-valued CSV column, interim results that differ by
one person, cross-tab noise drawn per request, and an ε budget nobody tracks.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from kldialog.auth.models import Role
from kldialog.kernel.db import db
from kldialog.kernel.disclosure import release_of
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.time import utcnow
from kldialog.surveys import answering, builder, crosstabs, export, results, services, storage
from kldialog.surveys import noise as noise_module
from kldialog.surveys.models import QuestionKind, Survey

from .conftest import login


def english(client: FlaskClient) -> None:
    """Pin the UI language to English."""
    with client.session_transaction() as session:
        session["lang"] = "en"


def make(app: Flask, staff: Any) -> dict[str, Any]:
    """Create an open survey: single A/B/C, yes/no, scale, ranking X/Y/Z; return ids."""
    with app.app_context():
        staff = db.session.merge(staff)
        now = utcnow()
        survey = builder.create_survey(
            staff, title="Offenlegung", intro="", opens_at=now - dt.timedelta(days=1),
            closes_at=now + dt.timedelta(days=7), eligibility=services_eligibility(),
        )  # fmt: skip
        section = survey.sections[0].id
        ask = builder.save_question
        single = ask(staff, survey, None, section_id=section, kind=QuestionKind.single,
                     text="A, B oder C?", options=["A", "B", "C"])  # fmt: skip
        yes_no = ask(staff, survey, None, section_id=section, kind=QuestionKind.yes_no,
                     text="Ja oder nein?")  # fmt: skip
        scale = ask(staff, survey, None, section_id=section, kind=QuestionKind.scale,
                    text="Wie gut?")  # fmt: skip
        ranking = ask(staff, survey, None, section_id=section, kind=QuestionKind.ranking,
                      text="Reihenfolge?", options=["X", "Y", "Z"])  # fmt: skip
        builder.publish_survey(staff, survey)
        return {
            "id": survey.id,
            "single": (single.id, {o.label: o.id for o in single.options}),
            "yes_no": yes_no.id,
            "scale": scale.id,
            "ranking": (ranking.id, [o.id for o in ranking.options]),
        }


def services_eligibility() -> Any:
    from kldialog.windows.models import Eligibility

    return Eligibility.resident


def form(ids: dict[str, Any], single: str = "A", yes: int = 1, scale: int = 3,
         order: tuple[int, int, int] = (1, 2, 3)) -> MultiDict[str, str]:  # fmt: skip
    """Return a complete answer form."""
    single_id, options = ids["single"]
    ranking_id, ranked = ids["ranking"]
    data = [(f"q{single_id}", str(options[single])), (f"q{ids['yes_no']}", str(yes)),
            (f"q{ids['scale']}", str(scale))]  # fmt: skip
    data += [
        (f"q{ranking_id}_o{option}", str(place))
        for option, place in zip(ranked, order, strict=True)
    ]
    return MultiDict(data)


def send(app: Flask, make_user: Callable[..., Any], ids: dict[str, Any], forms: list[Any]) -> None:
    """Submit one answer set per form, each by a new resident."""
    for answers in forms:
        person = make_user(Role.resident)
        with app.app_context():
            answering.parse_and_submit(
                db.session.merge(person), services.get_survey(ids["id"]), answers
            )


def end_window(app: Flask, survey_id: int) -> None:
    """End the window now (the survey is not closed yet: that is the cron's job)."""
    with app.app_context():
        survey = db.session.get(Survey, survey_id)
        survey.closes_at = utcnow() - dt.timedelta(seconds=1)
        db.session.commit()


def close(app: Flask, survey_id: int) -> None:
    """End the window now and close the survey, as `flask surveys flush` (cron) would."""
    end_window(app, survey_id)
    with app.app_context():
        results.close_survey(db.session.get(Survey, survey_id))


def user_factory(app: Flask) -> Callable[..., Any]:
    """Return a factory for confirmed accounts of an app made by app_factory."""
    from kldialog.auth import services as accounts

    from .conftest import PASSWORD

    counter = iter(range(1, 100_000))

    def make_user(*roles: Any) -> Any:
        number = next(counter)
        with app.app_context():
            user = accounts.create_confirmed_user(
                email=f"p{number}@example.org", password=PASSWORD,
                display_name=f"Person {number}", roles=list(roles),
            )  # fmt: skip
            db.session.expunge(user)
            return user

    return make_user


@pytest.fixture
def staff(make_user: Callable[..., Any]) -> Any:
    """Return a staff account."""
    return make_user(Role.resident, Role.staff)


# --- derived figures never stand beside a hidden cell -----------------------------------------


def test_no_mean_interval_or_place_average_beside_a_hidden_cell(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any], staff: Any
) -> None:
    ids = make(app, staff)
    # n = 5, every scale value once: every bar is hidden; the mean 3 (1.6–4.4) would have had
    # exactly one consistent distribution. The rankings differ, so places are small groups too.
    orders = [(1, 2, 3), (2, 1, 3), (3, 2, 1), (1, 3, 2), (2, 3, 1)]
    send(
        app,
        make_user,
        ids,
        [form(ids, scale=v, order=o) for v, o in zip(range(1, 6), orders, strict=True)],
    )
    close(app, ids["id"])
    with app.app_context():
        data = results.survey_results(services.get_survey(ids["id"]))
    by_kind = {entry["kind"]: entry for entry in data["questions"]}
    assert data["n"] == 5
    assert all(row["count"] is None for row in by_kind["scale"]["rows"])
    assert by_kind["scale"]["mean"] is None
    assert by_kind["ranking"]["rows"] == []
    assert by_kind["ranking"]["withheld"] == "small_groups"
    english(client)
    page = client.get(f"/surveys/{ids['id']}/results").get_data(as_text=True)
    assert "Average:" not in page
    assert "Average place of each option" not in page
    assert "Average places are not shown" in page
    login(client, make_user(Role.resident, Role.council))
    english(client)
    dashboard = client.get("/council").get_data(as_text=True)
    assert "Offenlegung" in dashboard and "5 participants" in dashboard


def test_a_full_distribution_shows_its_mean(
    app: Flask, make_user: Callable[..., Any], staff: Any
) -> None:
    ids = make(app, staff)
    send(app, make_user, ids, [form(ids, scale=4)] * 6)
    close(app, ids["id"])
    with app.app_context():
        data = results.survey_results(services.get_survey(ids["id"]))
    by_kind = {entry["kind"]: entry for entry in data["questions"]}
    assert by_kind["scale"]["mean"]["mean"] == pytest.approx(4)
    assert [row["label"] for row in by_kind["ranking"]["rows"]] == ["X", "Y", "Z"]


# --- the staff CSV: complementary suppression per column ---------------------------------------


def test_csv_never_shows_one_value_of_a_two_valued_column_beside_the_hidden_one(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any], staff: Any
) -> None:
    ids = make(app, staff)
    send(app, make_user, ids, [form(ids, yes=1)] * 7 + [form(ids, yes=0)] * 2)
    with app.app_context():
        storage.rewrite_answer_set(ids["id"])
    login(client, staff)
    body = client.get(f"/staff/surveys/{ids['id']}/answers.csv").get_data(as_text=True)
    header, *rows = list(csv.reader(io.StringIO(body)))
    assert len(rows) == 9
    column = header.index("Ja oder nein?")
    assert {row[column] for row in rows} == {"suppressed"}  # "1" beside it would name the "0"s
    single = header.index("A, B oder C?")
    assert {row[single] for row in rows} == {"A"}  # 9 of 9: nothing hidden


# --- interim results: steps of at least k, the remainder withheld -----------------------------


def test_interim_results_change_only_in_steps_of_k_and_a_late_remainder_is_withheld(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any], staff: Any
) -> None:
    ids = make(app, staff)
    survey_id = ids["id"]
    login(client, staff)
    english(client)
    send(app, make_user, ids, [form(ids, single="A")] * 5)
    first = client.get(f"/surveys/{survey_id}/results").get_data(as_text=True)
    assert "n = 5 participants" in first
    # A sixth person answers and a short flush moves them into the answer tables.
    send(app, make_user, ids, [form(ids, single="B", yes=0, scale=1, order=(3, 2, 1))])
    with app.app_context():
        storage.rewrite_answer_set(survey_id)
        interim = results.survey_results(services.get_survey(survey_id))
    page = client.get(f"/surveys/{survey_id}/results").get_data(as_text=True)
    assert "n = 5 participants" in page  # not 6: the difference would be that one person
    assert "1 further answer sets are not in these figures yet" in page
    with app.app_context():
        survey = services.get_survey(survey_id)
        q = {question.kind: question for question in survey.questions()}
        assert (
            crosstabs.crosstab(survey, q[QuestionKind.single], q[QuestionKind.scale]).status
            == "wait"
        )
        with pytest.raises(RuleViolation):
            export.export_csv(survey)
    close(app, survey_id)
    client.post("/logout")
    english(client)
    final_page = client.get(f"/surveys/{survey_id}/results").get_data(as_text=True)
    assert "n = 5 participants" in final_page
    assert "1 answer sets are not included in these figures" in final_page
    with app.app_context():
        survey = services.get_survey(survey_id)
        final = results.survey_results(survey)
        assert final["questions"] == interim["questions"]  # interim → final: no difference
        q = {question.kind: question for question in survey.questions()}
        table = crosstabs.crosstab(survey, q[QuestionKind.single], q[QuestionKind.scale])
        assert table.status == "withheld"


def test_successive_releases_always_differ_by_at_least_k(
    app: Flask, make_user: Callable[..., Any], staff: Any
) -> None:
    ids = make(app, staff)
    seen = []
    for number in range(13):
        send(app, make_user, ids, [form(ids, single="ABC"[number % 3])])
        with app.app_context():
            storage.rewrite_answer_set(ids["id"])  # the worst case: every answer set moves at once
            seen.append(results.survey_results(services.get_survey(ids["id"]))["n"])
    released = [n for n in dict.fromkeys(seen) if n is not None]
    assert released == [5, 10]
    close(app, ids["id"])
    with app.app_context():
        assert results.survey_results(services.get_survey(ids["id"]))["withheld"] == 3


# --- differential privacy: noise once per release, suppression on noisy figures, ε budget -----


def dp_survey(app: Flask, make_user: Callable[..., Any], staff: Any, count: int) -> dict[str, Any]:
    """Return a closed survey with `count` answer sets, 2/3 of them "A"."""
    ids = make(app, staff)
    send(
        app,
        make_user,
        ids,
        [form(ids, single="A" if n % 3 else "B", yes=n % 2, scale=1 + n % 5) for n in range(count)],
    )
    close(app, ids["id"])
    return ids


def test_dp_cross_tabs_are_released_once_and_repeated_requests_return_the_same_noise(
    app_factory: Callable[..., Flask],
) -> None:
    app = app_factory(SURVEY_DP_EPSILON=1.0, SURVEY_DP_BUDGET=6.0)
    make_user = user_factory(app)

    ids = dp_survey(app, make_user, make_user(Role.staff), 30)
    with app.app_context():
        survey = services.get_survey(ids["id"])
        data = results.survey_results(survey)
        # Results: n, and one histogram each for single, yes/no, scale, ranking's n: 5 ε.
        assert data["epsilon_spent"] == pytest.approx(5.0)
        q = {question.kind: question for question in survey.questions()}
        tables = [
            crosstabs.crosstab(survey, q[QuestionKind.single], q[QuestionKind.scale])
            for _ in range(20)
        ]
        assert len({repr(t.rows) for t in tables}) == 1  # stored: the noise cannot be averaged
        flipped = crosstabs.crosstab(survey, q[QuestionKind.scale], q[QuestionKind.single])
        assert [row["cells"] for row in flipped.rows] == [
            list(c) for c in zip(*[row["cells"] for row in tables[0].rows], strict=True)
        ]
        assert results.epsilon_spent(survey.id) == pytest.approx(6.0)
        # The budget is spent: a new pair is not released.
        assert (
            crosstabs.crosstab(survey, q[QuestionKind.single], q[QuestionKind.yes_no]).status
            == "budget"
        )
        assert results.epsilon_spent(survey.id) == pytest.approx(6.0)
    client = app.test_client()
    english(client)
    page = client.get(
        f"/surveys/{ids['id']}/results?first={q[QuestionKind.single].id}&second={q[QuestionKind.yes_no].id}"
    ).get_data(as_text=True)
    assert "ε = 6 of 6 spent" in page
    assert "The privacy budget of this survey is spent" in page


def test_dp_suppression_is_decided_on_the_noisy_counts(
    app_factory: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A known "noise" of +3 on every count: a true 3 is published as 6, a true 0 as 3 (hidden).
    monkeypatch.setattr(noise_module, "laplace_sampler", lambda epsilon: lambda value: value + 3)
    app = app_factory(SURVEY_DP_EPSILON=1.0)
    make_user = user_factory(app)

    ids = make(app, make_user(Role.staff))
    send(app, make_user, ids, [form(ids, single="A")] * 9 + [form(ids, single="B")] * 3)
    close(app, ids["id"])
    with app.app_context():
        data = results.survey_results(services.get_survey(ids["id"]))
    single = next(entry for entry in data["questions"] if entry["kind"] == "single")
    counts = {row["label"]: row["count"] for row in single["rows"]}
    # Exact counts A 9, B 3, C 0 would hide B (and A with it); the noisy 12, 6, 3 hide only C
    # and, complementing it, B.
    assert counts == {"A": 12, "B": None, "C": None}
    assert data["n"] == 15


def test_an_ended_survey_is_closed_by_the_cron_not_by_a_request(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any], staff: Any
) -> None:
    ids = make(app, staff)
    send(app, make_user, ids, [form(ids)] * 6)
    end_window(app, ids["id"])
    english(client)
    page = client.get(f"/surveys/{ids['id']}/results").get_data(as_text=True)
    assert "Its results are being prepared" in page
    with app.app_context():
        assert storage.staged_count(ids["id"]) == 1  # nothing was rewritten by the request
    result = app.test_cli_runner().invoke(args=["surveys", "flush"])
    assert "closed 1 survey(s)" in result.output
    page = client.get(f"/surveys/{ids['id']}/results").get_data(as_text=True)
    assert "n = 6 participants" in page


def _survey_state(app: Flask, survey_id: int) -> tuple[Any, ...]:
    """Return what closing changes: the final release, staged and stored answer sets."""
    with app.app_context():
        release = release_of(results.results_key(survey_id))
        return (
            results.is_final(release),
            storage.staged_count(survey_id),
            storage.answer_set_count(survey_id),
        )


def test_no_get_of_any_survey_page_after_the_end_closes_the_survey(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any], staff: Any
) -> None:
    ids = make(app, staff)
    send(app, make_user, ids, [form(ids)] * 6)
    end_window(app, ids["id"])
    before = _survey_state(app, ids["id"])
    assert before[0] is False  # ended, not closed
    assert before[1] > 0  # the last answer sets are still staged
    pages = sorted(
        rule.rule.replace("<int:survey_id>", str(ids["id"]))
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or ()) and "<int:survey_id>" in rule.rule
    )
    assert len(pages) >= 6
    english(client)
    for who in (None, make_user(Role.resident), staff):
        if who is not None:
            login(client, who)
        for page in [*pages, "/surveys", "/staff/surveys", "/api/v1/surveys"]:
            response = client.get(page)
            assert response.status_code < 500, page
            assert _survey_state(app, ids["id"]) == before, page
        first, second = ids["single"][0], ids["yes_no"]
        client.get(f"/surveys/{ids['id']}/results?first={first}&second={second}")
        assert _survey_state(app, ids["id"]) == before
        client.post("/logout")
    assert "Its results are being prepared" in client.get(f"/surveys/{ids['id']}/results").get_data(
        as_text=True
    )


def test_staff_close_an_ended_survey_with_the_button(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any], staff: Any
) -> None:
    ids = make(app, staff)
    send(app, make_user, ids, [form(ids)] * 6)
    login(client, staff)
    english(client)
    page = client.get(f"/staff/surveys/{ids['id']}").get_data(as_text=True)
    assert "Close the survey and release the results" not in page  # still open
    response = client.post(f"/staff/surveys/{ids['id']}/close", follow_redirects=True)
    assert "The survey is still open" in response.get_data(as_text=True)
    end_window(app, ids["id"])
    page = client.get(f"/staff/surveys/{ids['id']}").get_data(as_text=True)
    assert "Close the survey and release the results" in page
    response = client.post(f"/staff/surveys/{ids['id']}/close", follow_redirects=True)
    assert "n = 6 participants" in response.get_data(as_text=True)
    assert _survey_state(app, ids["id"]) == (True, 0, 6)
    response = client.post(f"/staff/surveys/{ids['id']}/close", follow_redirects=True)
    assert "The survey is already closed." in response.get_data(as_text=True)
