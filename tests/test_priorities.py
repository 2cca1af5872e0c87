"""Priority rounds: staff set-up, ballots, bad input, closing, anonymity, recount, ratings."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask

from kldialog import create_app
from kldialog.auth import services as accounts
from kldialog.auth.models import Role, User
from kldialog.kernel.db import db
from kldialog.kernel.disclosure import hidden_cells
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.stats import tiers_from_rank_intervals, wilson_interval
from kldialog.priorities import ballots as ballot_rules
from kldialog.priorities import services
from kldialog.priorities.models import (
    Ballot,
    BallotChoice,
    Indicator,
    Method,
    PriorityRound,
    ProjectRating,
    RoundProject,
    RoundResult,
)
from kldialog.projects.models import Project, Status
from kldialog.windows.models import Eligibility

from .conftest import TEST_DATABASE_URL, base_config, count_queries, empty_postgres_database, login

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
STAFF_NUMBERS = itertools.count(1)


# --- statistics ------------------------------------------------------------------------------


def test_wilson_interval_matches_published_values() -> None:
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(50, 100)
    assert (low, high) == (pytest.approx(0.4038, abs=1e-4), pytest.approx(0.5962, abs=1e-4))
    assert wilson_interval(0, 0) == (0.0, 0.0)


def test_small_counts_are_hidden_with_complementary_suppression() -> None:
    # 3 alone would be total − 40 − 12 − 25, so the next smallest (12) is hidden as well.
    assert hidden_cells([40, 3, 12, 25], 5) == [False, True, True, False]
    assert hidden_cells([2, 3, 9], 5) == [True, True, False]
    assert hidden_cells([7, 9], 5) == [False, False]
    # Two hidden days that sum to 2 would each be 1: hide until the hidden sum reaches k.
    assert hidden_cells([1, 1, 40], 5) == [True, True, True]


def test_tiers_group_overlapping_rank_intervals() -> None:
    assert tiers_from_rank_intervals([(1, 2), (1, 3), (3, 5), (2, 6), (6, 7)]) == [1, 1, 2, 2, 3]
    assert tiers_from_rank_intervals([(1, 1), (2, 2), (3, 3)]) == [1, 2, 3]


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def projects(make_project: Any) -> list[Project]:
    """Six published projects in two categories; one is completed."""
    return [
        make_project("Freies WLAN", category="Infrastruktur"),
        make_project("Glasfaser", category="Infrastruktur", status=Status.in_progress),
        make_project("Open Data", category="Verwaltung"),
        make_project("Bürgerkonto", category="Verwaltung"),
        make_project("Smarte Ampeln", category="Mobilität"),
        make_project("Altes Portal", category="Verwaltung", status=Status.completed),
    ]


def make_round(
    app: Flask,
    projects: list[Any],
    *,
    method: Method = Method.approval,
    opens: dt.datetime | None = None,
    closes: dt.datetime | None = None,
    published: bool = True,
    **fields: Any,
) -> int:
    """Create (and publish) a round over the given projects directly; return its id."""
    with app.app_context():
        number = next(STAFF_NUMBERS)
        staff = accounts.create_confirmed_user(
            email=f"staff{number}@example.org",
            password="correct horse battery staple",
            display_name=f"Verwaltung {number}",
            roles=[Role.staff],
        )
        values = {
            "title": "Was ist Ihnen wichtig?",
            "explanation": "",
            "method": method,
            "max_choices": 2,
            "budget": 5,
            "max_per_project": 3,
            "eligibility": Eligibility.resident,
            "show_running_totals": False,
            "opens_at": opens or NOW - dt.timedelta(days=1),
            "closes_at": closes or NOW + dt.timedelta(days=7),
            "project_ids": [getattr(p, "id", p) for p in projects],
        }
        values.update(fields)
        round_ = services.create_round(staff, services.RoundFields(**values))
        if published:
            services.publish_round(staff, round_)
        return round_.id


def end_round(app: Flask, round_id: int, *, close: bool = False) -> None:
    """Move a round's window into the past (as if time passed); close it as the cron would."""
    with app.app_context():
        db.session.execute(
            sa.update(PriorityRound)
            .where(PriorityRound.id == round_id)
            .values(opens_at=NOW - dt.timedelta(days=10), closes_at=NOW - dt.timedelta(seconds=1))
        )
        db.session.commit()
        if close:
            services.close_round(db.session.get(PriorityRound, round_id))


def ballots(app: Flask, round_id: int) -> list[tuple[int, dict[int, int]]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Ballot.user_id, BallotChoice.project_id, BallotChoice.points)
            .join(BallotChoice, BallotChoice.ballot_id == Ballot.id)
            .where(Ballot.round_id == round_id)
        ).all()
    result: dict[int, dict[int, int]] = {}
    for user_id, project_id, points in rows:
        result.setdefault(user_id, {})[project_id] = points
    return sorted(result.items())


def totals(app: Flask, round_id: int) -> dict[int, tuple[int, int]]:
    with app.app_context():
        return {
            e.project_id: (e.supporters, e.points)
            for e in db.session.scalars(
                sa.select(RoundProject).where(RoundProject.round_id == round_id)
            )
        }


def person(name: str, **fields: Any) -> dict[str, Any]:
    """Return the columns of a confirmed account for bulk inserts (no password hashing)."""
    return {
        "email": f"{name}@example.org",
        "password_hash": "not-a-real-hash",
        "display_name": name,
        "display_name_key": name,
        "roles": int(Role.resident),
        "email_confirmed_at": NOW,
        **fields,
    }


def ballot_count(app: Flask, round_id: int) -> int:
    with app.app_context():
        return db.session.get(PriorityRound, round_id).ballot_count


# --- staff -----------------------------------------------------------------------------------


def round_form(chosen: list[Project], **overrides: Any) -> dict[str, Any]:
    data = {
        "title": "Prioritäten 2027",
        "explanation": "Sagen Sie uns, was zählt.",
        "method": "approval",
        "max_choices": "5",
        "budget": "10",
        "max_per_project": "3",
        "eligibility": "resident",
        "opens_at": (NOW + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "closes_at": (NOW + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"),
        "projects": [str(p.id) for p in chosen],
    }
    data.update(overrides)
    return data


def test_staff_create_round_with_planned_and_running_projects_preselected(
    app: Flask, client: Any, make_user: Any, projects: list[Project]
) -> None:
    login(client, make_user(Role.staff))
    page = client.get("/staff/rounds/new").get_data(as_text=True)
    checked = set(re.findall(r'id="projects-(\d+)" name="projects" value="\d+" checked', page))
    assert checked == {str(p.id) for p in projects if p.title != "Altes Portal"}
    response = client.post("/staff/rounds/new", data=round_form(projects[:3]))
    assert response.status_code == 303
    with app.app_context():
        [round_] = db.session.scalars(sa.select(PriorityRound)).all()
        assert round_.state.value == "draft"
        assert {e.project_id for e in round_.entries} == {p.id for p in projects[:3]}
        # Entered as Berlin local time, stored in UTC.
        stored = round_.closes_at.replace(tzinfo=dt.UTC).astimezone(ZoneInfo("Europe/Berlin"))
        assert stored.strftime("%Y-%m-%dT%H:%M") == round_form(projects)["closes_at"]
    # Residents do not see the draft; publishing makes it visible.
    assert client.get(f"/priorities/{round_.id}").status_code == 200  # staff preview
    client.post(f"/staff/rounds/{round_.id}/publish")
    with app.app_context():
        assert db.session.get(PriorityRound, round_.id).state.value == "published"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"title": ""}, "Titel"),
        ({"closes_at": (NOW - dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")}, "nach"),
        ({"closes_at": "morgen"}, "Datum"),
        ({"method": "points", "budget": "4", "max_per_project": "5"}, "Höchstzahl"),
        ({"projects": []}, "mindestens zwei"),
        ({"max_choices": "-3"}, "Zahl von 1 bis 100"),
        ({"budget": "2.5"}, "Zahl"),
        ({"method": "ranked"}, "gültige Auswahl"),
    ],
)
def test_staff_round_form_rejects_bad_input_and_keeps_it(
    app: Flask,
    client: Any,
    make_user: Any,
    projects: list[Project],
    overrides: dict[str, Any],
    message: str,
) -> None:
    login(client, make_user(Role.staff))
    response = client.post("/staff/rounds/new", data=round_form(projects, **overrides))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "error-summary" in page and message in page
    if overrides.get("title") != "":
        assert 'value="Prioritäten 2027"' in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PriorityRound)) == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        # The CHECK max_per_project <= budget holds for approval rounds too (was a 500).
        ({"method": "approval", "budget": "2", "max_per_project": "5"}, "Höchstzahl"),
        # Out of PostgreSQL's integer range (was a 500 there), next to ids that are fine.
        ({"projects": "99999999999"}, "Bitte wählen Sie aus der Liste."),
        ({"projects": "²"}, "Bitte wählen Sie aus der Liste."),
        ({"budget": "٣"}, "ganze Zahl"),
    ],
)
def test_staff_round_form_mirrors_the_database_checks(
    app: Flask,
    client: Any,
    make_user: Any,
    projects: list[Project],
    overrides: dict[str, Any],
    message: str,
) -> None:
    login(client, make_user(Role.staff))
    data = round_form(projects, **overrides)
    if "projects" in overrides:
        data["projects"] = [str(p.id) for p in projects] + [overrides["projects"]]
    response = client.post("/staff/rounds/new", data=data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PriorityRound)) == 0


def test_only_staff_manage_rounds(
    app: Flask, client: Any, make_user: Any, projects: list[Project]
) -> None:
    round_id = make_round(app, projects, published=False)
    for roles in ([Role.resident], [Role.council], [Role.moderator]):
        client.post("/logout")
        login(client, make_user(*roles))
        assert client.get("/staff/rounds").status_code == 403
        assert client.post("/staff/rounds/new", data=round_form(projects)).status_code == 403
        assert client.post(f"/staff/rounds/{round_id}/publish").status_code == 403
        assert client.get(f"/priorities/{round_id}").status_code == 404  # drafts do not exist


def test_method_and_projects_freeze_with_the_first_ballot(
    app: Flask, make_user: Any, projects: list[Project]
) -> None:
    round_id = make_round(app, projects)
    voter = make_user()
    with app.app_context():
        round_ = db.session.get(PriorityRound, round_id)
        services.cast_ballot(db.session.get(User, voter.id), round_, {projects[0].id: 1})
        staff = accounts.create_confirmed_user(
            email="s@example.org",
            password="correct horse battery staple",
            display_name="Die Verwaltung",
            roles=[Role.staff],
        )
        fields = services.RoundFields(
            title="Neuer Titel",
            explanation="",
            method=Method.points,
            max_choices=2,
            budget=5,
            max_per_project=3,
            eligibility=Eligibility.resident,
            show_running_totals=False,
            opens_at=round_.opens_at,
            closes_at=NOW + dt.timedelta(days=9),
            project_ids=[p.id for p in projects],
        )
        with pytest.raises(RuleViolation, match="eingefroren"):
            services.update_round(staff, round_, fields)
        fields.method = Method.approval
        services.update_round(staff, round_, fields)  # title and window may still change
        assert db.session.get(PriorityRound, round_id).title == "Neuer Titel"


# --- voting ------------------------------------------------------------------------------------


def test_resident_votes_changes_and_withdraws(
    app: Flask, client: Any, make_user: Any, projects: list[Project]
) -> None:
    round_id = make_round(app, projects)
    voter = make_user()
    login(client, voter)
    page = client.get(f"/priorities/{round_id}").get_data(as_text=True)
    assert "bis zu 2 Projekte" in page
    response = client.post(
        f"/priorities/{round_id}", data={"project": [projects[0].id, projects[2].id]}
    )
    assert response.status_code == 303
    assert ballots(app, round_id) == [(voter.id, {projects[0].id: 1, projects[2].id: 1})]
    assert ballot_count(app, round_id) == 1
    # The last ballot counts; totals follow.
    client.post(f"/priorities/{round_id}", data={"project": [projects[1].id]})
    assert ballots(app, round_id) == [(voter.id, {projects[1].id: 1})]
    assert totals(app, round_id)[projects[0].id] == (0, 0)
    assert totals(app, round_id)[projects[1].id] == (1, 1)
    assert ballot_count(app, round_id) == 1
    page = client.get(f"/priorities/{round_id}").get_data(as_text=True)
    assert re.search(rf'value="{projects[1].id}" checked', page)
    response = client.post(f"/priorities/{round_id}/withdraw")
    assert response.status_code == 303
    assert ballots(app, round_id) == []
    assert ballot_count(app, round_id) == 0
    assert totals(app, round_id)[projects[1].id] == (0, 0)


def test_points_ballot_within_budget(
    app: Flask, client: Any, make_user: Any, projects: list[Project]
) -> None:
    round_id = make_round(app, projects, method=Method.points)
    login(client, make_user())
    form = {f"points-{projects[0].id}": "3", f"points-{projects[1].id}": "2"}
    assert client.post(f"/priorities/{round_id}", data=form).status_code == 303
    assert totals(app, round_id)[projects[0].id] == (1, 3)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"points-{a}": "3", "points-{b}": "3"}, "6 Punkte vergeben"),
        ({"points-{a}": "4"}, "Höchstens 3 Punkte"),
        ({"points-{a}": "-1"}, "ganze Zahl"),
        ({"points-{a}": "1.5"}, "ganze Zahl"),
        ({"points-{a}": "zwei"}, "ganze Zahl"),
        ({"points-{a}": "9" * 50}, "ganze Zahl"),
        ({"points-{a}": "0"}, "mindestens einen Punkt"),
        ({}, "mindestens einen Punkt"),
        ({"points-{a}": "1", "points-{outside}": "2"}, "nicht Teil dieser Runde"),
        ({"points-{a}": "1", "points-abc": "2"}, "nicht Teil dieser Runde"),
        ({"points-{a}": "²"}, "ganze Zahl"),
        ({"points-{a}": "٣"}, "ganze Zahl"),
        ({"points-{a}": "1", "points-²": "2"}, "nicht Teil dieser Runde"),
    ],
)
def test_bad_points_ballots_change_nothing_and_keep_the_input(
    app: Flask,
    client: Any,
    make_user: Any,
    make_project: Any,
    projects: list[Project],
    form: dict[str, str],
    message: str,
) -> None:
    outside = make_project("Nicht in der Runde")
    round_id = make_round(app, projects[:3], method=Method.points)
    login(client, make_user())
    ids = {"a": projects[0].id, "b": projects[1].id, "outside": outside.id}
    data = {key.format(**ids): value for key, value in form.items()}
    response = client.post(f"/priorities/{round_id}", data=data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "error-summary" in page and message in page
    if "points-{a}" in form and len(form["points-{a}"]) < 10:
        assert f'name="points-{projects[0].id}" value="{form["points-{a}"]}"' in page
    assert ballots(app, round_id) == []
    assert ballot_count(app, round_id) == 0


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        (3, "3 Projekte ausgewählt"),
        (0, "mindestens ein Projekt"),
        (-1, "nicht Teil"),
        ("²", "nicht Teil"),
        ("9" * 40, "nicht Teil"),
    ],
)
def test_bad_approval_ballots_change_nothing(
    app: Flask,
    client: Any,
    make_user: Any,
    make_project: Any,
    projects: list[Project],
    chosen: int | str,
    message: str,
) -> None:
    outside = make_project("Anderswo")
    round_id = make_round(app, projects[:4])
    login(client, make_user())
    if isinstance(chosen, str):  # not a number in ASCII digits
        picks: list[Any] = [projects[0].id, chosen]
    else:
        picks = [p.id for p in projects[:chosen]] if chosen >= 0 else [outside.id]
    response = client.post(f"/priorities/{round_id}", data={"project": picks})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert ballots(app, round_id) == []


def test_who_may_vote_and_when(
    app: Flask, client: Any, make_user: Any, projects: list[Project]
) -> None:
    verified_only = make_round(app, projects, eligibility=Eligibility.verified)
    later = make_round(
        app, projects, opens=NOW + dt.timedelta(days=1), closes=NOW + dt.timedelta(days=3)
    )
    vote = {"project": [projects[0].id]}
    # Visitors are sent to the login page.
    response = client.post(f"/priorities/{verified_only}", data=vote)
    assert response.status_code in (302, 303) and "/login" in response.location
    unconfirmed = make_user(email_confirmed_at=None)
    login(client, unconfirmed)
    assert client.post(f"/priorities/{later}", data=vote).status_code == 403
    client.post("/logout")
    login(client, make_user())
    assert client.post(f"/priorities/{verified_only}", data=vote).status_code == 403
    assert "Einwohnercode" in client.get(f"/priorities/{verified_only}").get_data(as_text=True)
    assert client.post(f"/priorities/{later}", data=vote).status_code == 403
    client.post("/logout")
    login(client, make_user(is_verified=True))
    assert client.post(f"/priorities/{verified_only}", data=vote).status_code == 303
    blocked = make_user(is_verified=True, blocked_until=NOW + dt.timedelta(days=1))
    client.post("/logout")
    login(client, blocked)
    assert client.post(f"/priorities/{verified_only}", data=vote).status_code == 403
    assert [user for user, _c in ballots(app, verified_only)] != [blocked.id]


def test_an_ended_round_is_closed_by_cron_or_staff_never_by_a_visitor(
    app: Flask, client: Any, make_user: Any, projects: list[Project], runner: Any
) -> None:
    round_id = make_round(app, projects)
    voter = make_user()
    login(client, voter)
    client.post(f"/priorities/{round_id}", data={"project": [projects[0].id]})
    end_round(app, round_id)
    response = client.post(f"/priorities/{round_id}", data={"project": [projects[1].id]})
    assert response.status_code == 303 and response.location.endswith("/results")
    assert client.get(f"/priorities/{round_id}").location.endswith("/results")
    page = client.get(f"/priorities/{round_id}/results")
    assert page.status_code == 200
    assert "Ergebnisse werden vorbereitet" in page.get_data(as_text=True)
    for download in ("results.json", "results.csv", "ballots.json"):
        assert client.get(f"/priorities/{round_id}/{download}").status_code == 404
    assert client.post(f"/priorities/{round_id}/withdraw").status_code == 403
    with app.app_context():
        assert db.session.get(RoundResult, round_id) is None  # no request closed it
        assert ballots(app, round_id) == [(voter.id, {projects[0].id: 1})]
        round_ = db.session.get(PriorityRound, round_id)
        with pytest.raises(RuleViolation):
            services.cast_ballot(db.session.get(User, voter.id), round_, {projects[1].id: 1})
    # Residents cannot close it; staff can, once the window has ended.
    assert client.post(f"/staff/rounds/{round_id}/close").status_code == 403
    client.post("/logout")
    login(client, make_user(Role.staff))
    running = make_round(app, projects)
    response = client.post(f"/staff/rounds/{running}/close")
    assert response.status_code == 303 and response.location.endswith(f"/staff/rounds/{running}")
    staff_page = client.get(f"/staff/rounds/{round_id}").get_data(as_text=True)
    assert f"/staff/rounds/{round_id}/close" in staff_page
    response = client.post(f"/staff/rounds/{round_id}/close")
    assert response.status_code == 303 and response.location.endswith("/results")
    with app.app_context():
        assert db.session.get(RoundResult, round_id) is not None
        assert db.session.get(RoundResult, running) is None
        assert ballots(app, round_id) == []
    assert "n = 1 Stimmzettel" in client.get(f"/priorities/{round_id}/results").get_data(
        as_text=True
    )


def test_ballot_order_is_random_per_person_but_stable(
    app: Flask, make_user: Any, make_project: Any
) -> None:
    many = [make_project(f"Projekt {i:02d}", category="Alles") for i in range(20)]
    round_id = make_round(app, many)
    first, second = make_user(), make_user()

    def order(user: Any) -> list[int]:
        with app.app_context():
            round_ = db.session.get(PriorityRound, round_id)
            entries = services.round_entries(round_)
            [group] = services.ballot_groups(round_, entries, db.session.get(User, user.id))
            return [e.project_id for e in group.entries]

    assert order(first) == order(first)
    assert order(first) != order(second)
    assert sorted(order(first)) == sorted(p.id for p in many)


# --- closing, anonymity, recount ------------------------------------------------------------


def vote_many(
    app: Flask, round_id: int, choices: list[dict[int, int]], *, start: int = 0
) -> list[int]:
    """Create one account per ballot and cast it through the service."""
    ids = []
    with app.app_context():
        round_ = db.session.get(PriorityRound, round_id)
        for number, choice in enumerate(choices, start=start):
            user = accounts.create_confirmed_user(
                email=f"voter{round_id}-{number}@example.org",
                password="correct horse battery staple",
                display_name=f"Wähler {round_id}-{number}",
                roles=[],
            )
            services.cast_ballot(user, round_, choice)
            ids.append(user.id)
    return ids


def test_closing_publishes_results_and_makes_ballots_anonymous(
    app: Flask, client: Any, projects: list[Project], runner: Any, tmp_path: Path
) -> None:
    round_id = make_round(app, projects, max_choices=3)
    a, b, c = projects[0].id, projects[1].id, projects[2].id
    pattern = [{a: 1, b: 1}] * 6 + [{a: 1}] * 3 + [{c: 1, b: 1}] * 2 + [{b: 1, a: 1, c: 1}]
    vote_many(app, round_id, pattern)
    end_round(app, round_id, close=True)
    page = client.get(f"/priorities/{round_id}/results").get_data(as_text=True)
    assert "n = 12 Stimmzettel" in page and "nicht repräsentativ" in page
    assert "<svg" in page and "<table" in page
    with app.app_context():
        result = db.session.get(RoundResult, round_id)
        # The link person → ballot is gone: no ballot rows remain for the round.
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ballot)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(BallotChoice)) == 0
        text = result.ballot_file
        digest = result.ballot_sha256
        data = services.round_result_data(result)
    assert digest in page
    assert hashlib.sha256(text.encode()).hexdigest() == digest
    document = json.loads(text)
    assert len(document["ballots"]) == 12
    assert set(document) == {"format", "round", "projects", "ballots"}
    for ballot in document["ballots"]:  # contents only: no ids, no times, no people
        assert set(ballot) <= {p.slug for p in projects}
    assert "Wähler" not in text and "example.org" not in text
    by_title = {p["title"]: p for p in data["projects"]}
    assert by_title["Freies WLAN"]["supporters"] == 10
    assert by_title["Glasfaser"]["supporters"] == 9
    assert by_title["Freies WLAN"]["tier"] == 1
    assert by_title["Smarte Ampeln"]["supporters"] == 0
    low, high = wilson_interval(10, 12)
    assert by_title["Freies WLAN"]["share_low"] == pytest.approx(low, abs=1e-6)
    assert by_title["Freies WLAN"]["share_high"] == pytest.approx(high, abs=1e-6)
    # The downloaded file is byte for byte what was hashed, and recounting it gives the
    # published results.
    download = client.get(f"/priorities/{round_id}/ballots.json")
    assert hashlib.sha256(download.data).hexdigest() == digest
    path = tmp_path / "ballots.json"
    path.write_bytes(download.data)
    recount = runner.invoke(args=["rounds", "recount", str(path), "--json"])
    assert recount.exit_code == 0, recount.output
    published = {key: value for key, value in data.items() if key != "participation"}
    assert json.loads(recount.output) == published
    table = runner.invoke(args=["rounds", "recount", str(path)])
    assert digest in table.output and "Freies WLAN" in table.output
    # Changed file, changed hash: the check on the page catches it.
    path.write_text(text.replace('"', '"', 1) + " ", "utf-8")
    assert hashlib.sha256(path.read_bytes()).hexdigest() != digest
    csv_text = client.get(f"/priorities/{round_id}/results.csv").get_data(as_text=True)
    assert csv_text.splitlines()[0].startswith("tier,rank_low,rank_high,project")
    exported = client.get(f"/priorities/{round_id}/results.json").get_json()
    assert exported["n"] == 12 and exported["ballot_file_sha256"] == digest


def test_recount_rejects_broken_files(runner: Any, tmp_path: Path) -> None:
    path = tmp_path / "ballots.json"
    for content, message in [
        ("not json", "not JSON"),
        ('{"format": "other"}', "not a kldialog-ballots-1"),
        (
            '{"format":"kldialog-ballots-1","round":{"method":"approval"},'
            '"projects":[{"key":"a","title":"A","category":"X"}],"ballots":[{"b":1}]}',
            "unknown project",
        ),
        (
            '{"format":"kldialog-ballots-1","round":{"method":"approval"},'
            '"projects":[{"key":"a","title":"A","category":"X"}],"ballots":[{"a":-1}]}',
            "gives -1",
        ),
    ]:
        path.write_text(content, "utf-8")
        result = runner.invoke(args=["rounds", "recount", str(path)])
        assert result.exit_code != 0 and message in result.output


def test_recount_with_expect_fails_on_a_changed_file(
    app: Flask, projects: list[Project], runner: Any, tmp_path: Path
) -> None:
    round_id = make_round(app, projects)
    a, b = projects[0].id, projects[1].id
    vote_many(app, round_id, [{a: 1, b: 1}] * 3 + [{a: 1}] * 3)
    end_round(app, round_id)
    with app.app_context():
        result = services.close_round(db.session.get(PriorityRound, round_id))
        text, digest = result.ballot_file, result.ballot_sha256
    path = tmp_path / "ballots.json"
    path.write_text(text, "utf-8")
    good = runner.invoke(args=["rounds", "recount", str(path), "--expect", digest.upper()])
    assert good.exit_code == 0, good.output
    assert f"sha256 {digest} (as expected)" in good.output
    # A tampered file that is still a valid ballot file: one ballot moved to another project.
    tampered = text.replace(f'{{"{projects[0].slug}":1}}', f'{{"{projects[1].slug}":1}}', 1)
    assert tampered != text
    path.write_text(tampered, "utf-8")
    assert runner.invoke(args=["rounds", "recount", str(path)]).exit_code == 0  # no hash given
    bad = runner.invoke(args=["rounds", "recount", str(path), "--expect", digest])
    assert bad.exit_code == 1
    assert "differs from the expected" in bad.output and "tier" not in bad.output
    wrong = runner.invoke(args=["rounds", "recount", str(path), "--expect", "abc"])
    assert wrong.exit_code == 2 and "64 hexadecimal" in wrong.output
    path.write_bytes(b"\xff\xfe not utf-8")
    broken = runner.invoke(args=["rounds", "recount", str(path)])
    assert broken.exit_code == 1 and "not UTF-8" in broken.output


def test_few_ballots_publish_only_the_count(
    app: Flask, client: Any, projects: list[Project]
) -> None:
    round_id = make_round(app, projects)
    vote_many(app, round_id, [{projects[0].id: 1}] * 3)
    end_round(app, round_id, close=True)
    page = client.get(f"/priorities/{round_id}/results").get_data(as_text=True)
    assert "n = 3 Stimmzettel" in page and "Zu wenige Stimmzettel" in page
    assert "Freies WLAN" not in page.split("<main", 1)[1]
    assert client.get(f"/priorities/{round_id}/ballots.json").status_code == 404


def test_close_due_command_closes_ended_rounds_only(
    app: Flask, runner: Any, projects: list[Project]
) -> None:
    ended = make_round(app, projects)
    running = make_round(app, projects)
    vote_many(app, ended, [{projects[0].id: 1}] * 5)
    end_round(app, ended)
    result = runner.invoke(args=["rounds", "close-due"])
    assert "1 round(s) closed" in result.output
    with app.app_context():
        assert db.session.get(RoundResult, ended) is not None
        assert db.session.get(RoundResult, running) is None
    assert "0 round(s) closed" in runner.invoke(args=["rounds", "close-due"]).output


def test_running_totals_only_when_staff_allow_them(
    app: Flask, client: Any, make_user: Any, projects: list[Project]
) -> None:
    hidden = make_round(app, projects)
    shown = make_round(app, projects, show_running_totals=True)
    vote_many(app, hidden, [{projects[0].id: 1}])
    vote_many(app, shown, [{projects[0].id: 1}])
    assert 'id="totals-title"' not in client.get(f"/priorities/{hidden}").get_data(as_text=True)
    assert 'id="totals-title"' in client.get(f"/priorities/{shown}").get_data(as_text=True)
    assert client.get(f"/priorities/{hidden}/results").status_code == 303


# --- cost does not grow with the data ------------------------------------------------------


def test_casting_costs_the_same_with_few_and_many_ballots(
    app: Flask, make_user: Any, projects: list[Project]
) -> None:
    round_id = make_round(app, projects, max_choices=3)
    with app.app_context():
        # Many ballots written in bulk (the cost of casting must not depend on them).
        db.session.execute(sa.insert(User), [person(f"bulk{i}") for i in range(2000)])
        user_ids = db.session.scalars(sa.select(User.id).where(User.email.like("bulk%"))).all()
        db.session.execute(
            sa.insert(Ballot),
            [{"round_id": round_id, "user_id": uid, "cast_on": NOW.date()} for uid in user_ids],
        )
        db.session.commit()

    def cost(voter: Any, choice: dict[int, int]) -> int:
        with app.app_context():
            round_ = db.session.get(PriorityRound, round_id)
            user = db.session.get(User, voter.id)
            with count_queries() as statements:
                services.cast_ballot(user, round_, choice)
            return len(statements)

    voter = make_user()
    first = cost(voter, {projects[0].id: 1, projects[1].id: 1})
    change = cost(voter, {projects[2].id: 1})
    other = cost(make_user(), {projects[0].id: 1, projects[1].id: 1})
    # Ten for the ballot, two to count it towards the next release of the running totals.
    assert first == other <= 12
    assert change <= 12


def test_pages_run_a_fixed_number_of_queries(
    app: Flask, client: Any, make_user: Any, make_project: Any
) -> None:
    few = [make_project(f"Wenig {i}", category=f"K{i % 3}") for i in range(3)]
    many = [make_project(f"Viel {i}", category=f"K{i % 12}") for i in range(60)]
    small = make_round(app, few)
    large = make_round(app, many, max_choices=5)
    vote_many(app, small, [{few[0].id: 1}] * 5)
    vote_many(app, large, [{p.id: 1 for p in many[i : i + 3]} for i in range(30)])
    for round_id in (small, large):
        end_round(app, round_id, close=True)
        client.get(f"/priorities/{round_id}/results")
    login(client, make_user())
    counts = []
    for round_id in (small, large):
        with app.app_context(), count_queries() as statements:
            assert client.get(f"/priorities/{round_id}/results").status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1] <= 8
    open_small, open_large = make_round(app, few), make_round(app, many)
    counts = []
    for round_id in (open_small, open_large):
        with app.app_context(), count_queries() as statements:
            assert client.get(f"/priorities/{round_id}").status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1] <= 10
    with app.app_context(), count_queries() as statements:
        assert client.get("/priorities").status_code == 200
    assert len(statements) <= 6


# --- ratings ---------------------------------------------------------------------------------


def test_ratings_are_hidden_until_enough_people_rated(
    app: Flask, client: Any, make_user: Any, projects: list[Project]
) -> None:
    project = projects[0]
    raters = [make_user() for _ in range(5)]
    for number, rater in enumerate(raters[:4]):
        client.post("/logout")
        login(client, rater)
        response = client.post(
            f"/projects/{project.slug}/rating",
            data={"benefit": str(number + 2), "data_care": "4"},
        )
        assert response.status_code == 303
    page = client.get(f"/projects/{project.slug}").get_data(as_text=True)
    assert "mindestens 5 Personen" in page
    assert 'value="5" checked' in page  # the fourth rater's own choice is shown to them
    client.post("/logout")
    login(client, raters[4])
    client.post(f"/projects/{project.slug}/rating", data={"benefit": "5", "data_care": "2"})
    page = client.get(f"/projects/{project.slug}").get_data(as_text=True)
    # Released, but n = 5 with mean and interval pins every rating down: not shown.
    assert page.count("zu einheitlich") == 2 and "Mittelwert 3," not in page
    # Changing a rating replaces it.
    client.post(f"/projects/{project.slug}/rating", data={"benefit": "1", "data_care": ""})
    with app.app_context():
        mine = db.session.scalars(
            sa.select(ProjectRating).where(ProjectRating.user_id == raters[4].id)
        ).all()
        assert [(r.indicator, r.score) for r in mine] == [(Indicator.benefit, 1)]


@pytest.mark.parametrize("value", ["0", "6", "drei", "3.5", "<script>"])
def test_bad_ratings_store_nothing(
    app: Flask, client: Any, make_user: Any, projects: list[Project], value: str
) -> None:
    login(client, make_user())
    response = client.post(f"/projects/{projects[0].slug}/rating", data={"benefit": value})
    assert response.status_code == 303
    assert "1 bis 5" in client.get(response.location).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ProjectRating)) == 0


def test_a_blank_rating_means_no_rating_not_an_error(
    app: Flask, client: Any, make_user: Any, projects: list[Project]
) -> None:
    login(client, make_user())
    response = client.post(
        f"/projects/{projects[0].slug}/rating", data={"benefit": "5", "data_care": " "}
    )
    assert response.status_code == 303
    with app.app_context():
        scores = db.session.execute(sa.select(ProjectRating.indicator, ProjectRating.score)).all()
        assert [(indicator, score) for indicator, score in scores] == [(Indicator.benefit, 5)]


def test_export_and_deletion_cover_ballots_and_ratings(
    app: Flask, client: Any, make_user: Any, projects: list[Project]
) -> None:
    from .conftest import PASSWORD

    round_id = make_round(app, projects)
    voter = make_user()
    login(client, voter)
    client.post(f"/priorities/{round_id}", data={"project": [projects[0].id]})
    client.post(f"/projects/{projects[1].slug}/rating", data={"benefit": "4"})
    data = client.get("/account/data.json").get_json()
    assert (
        data["ballots"]
        == [
            {
                "round": "Was ist Ihnen wichtig?",
                "project": "Freies WLAN",
                "points": 1,
                "changed_on": dt.date.today().isoformat(),
            }
        ]
        or data["ballots"][0]["project"] == "Freies WLAN"
    )
    assert data["ratings"][0]["indicator"] == "benefit" and data["ratings"][0]["score"] == 4
    response = client.post("/account/delete", data={"password": PASSWORD, "confirm": "y"})
    assert response.status_code == 303
    assert ballots(app, round_id) == []
    assert totals(app, round_id)[projects[0].id] == (0, 0)
    assert ballot_count(app, round_id) == 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ProjectRating)) == 0


def test_a_ballot_that_read_the_round_before_it_closed_is_refused_after(
    app: Flask, make_user: Any, projects: list[Project]
) -> None:
    round_id = make_round(app, projects)
    voter = make_user()
    with app.app_context():
        db.session().expire_on_commit = False  # keep what this "request" read before the close
        round_ = db.session.get(PriorityRound, round_id)
        user = db.session.get(User, voter.id)
        assert round_.is_open()
        # Meanwhile the window ends and the cron closes the round.
        db.session.execute(
            sa.update(PriorityRound)
            .where(PriorityRound.id == round_id)
            .values(opens_at=NOW - dt.timedelta(days=10), closes_at=NOW - dt.timedelta(seconds=1))
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        services.close_round(round_)
        assert round_.is_open()  # what the late request still believes
        with pytest.raises(RuleViolation, match="geschlossen"):
            services.cast_ballot(user, round_, {projects[1].id: 1})
        db.session().expire_on_commit = True
    # No ballot escaped the file: none is left linked to its person after the close.
    assert ballots(app, round_id) == []


# --- concurrency (real database connections) ----------------------------------------------


@pytest.fixture
def shared_app(tmp_path: Path, database_url: str) -> Iterator[Flask]:
    """Return an app whose database several threads share (file SQLite or PostgreSQL)."""
    url = database_url if TEST_DATABASE_URL else f"sqlite:///{tmp_path / 'race.sqlite'}"
    options = {"pool_size": 20, "max_overflow": 10} if TEST_DATABASE_URL else {}
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options))
    with app.app_context():
        if TEST_DATABASE_URL:
            empty_postgres_database()  # shared with earlier tests: start with empty tables
        else:
            db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs PostgreSQL (runs in .ci/run)")
def test_parallel_submissions_by_one_person_leave_one_ballot(
    shared_app: Flask,
) -> None:
    app = shared_app
    ids = _projects(app, 6)
    round_id = make_round(app, ids, max_choices=3)
    [voter] = _accounts(app, 1)
    barrier = threading.Barrier(100)
    errors: list[str] = []

    def work(number: int) -> None:
        # Wait for everyone before touching the database: 100 threads share 30 connections,
        # and a thread holding one while it waits would starve the others.
        barrier.wait(timeout=60)
        with app.app_context():
            try:
                round_ = db.session.get(PriorityRound, round_id)
                user = db.session.get(User, voter)
                services.cast_ballot(user, round_, {ids[number % 6]: 1, ids[(number + 1) % 6]: 1})
            except Exception as error:  # noqa: BLE001  (collected and asserted below)
                errors.append(repr(error))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    [(user_id, choice)] = ballots(app, round_id)
    assert user_id == voter and len(choice) == 2
    assert ballot_count(app, round_id) == 1
    # Running totals equal exactly the one remaining ballot.
    assert {pid: t for pid, t in totals(app, round_id).items() if t != (0, 0)} == {
        pid: (1, 1) for pid in choice
    }


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs PostgreSQL (runs in .ci/run)")
def test_closing_waits_for_a_ballot_change_being_written(
    shared_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = shared_app
    ids = _projects(app, 3)
    round_id = make_round(app, ids)
    [voter] = _accounts(app, 1)
    with app.app_context():
        round_ = db.session.get(PriorityRound, round_id)
        services.cast_ballot(db.session.get(User, voter), round_, {ids[0]: 1})
    written, go = threading.Event(), threading.Event()
    original = ballot_rules._refuse_if_closed

    def paused(round_: PriorityRound) -> None:
        written.set()  # the change is written, not yet committed
        go.wait(timeout=30)
        original(round_)

    monkeypatch.setattr(ballot_rules, "_refuse_if_closed", paused)
    outcome: list[str] = []

    def change() -> None:
        with app.app_context():
            try:
                round_ = db.session.get(PriorityRound, round_id)
                services.cast_ballot(db.session.get(User, voter), round_, {ids[1]: 1, ids[2]: 1})
                outcome.append("saved")
            except RuleViolation:
                outcome.append("refused")
            finally:
                db.session.remove()

    def close() -> None:
        with app.app_context():
            try:
                services.close_round(db.session.get(PriorityRound, round_id))
            finally:
                db.session.remove()

    voter_thread = threading.Thread(target=change)
    voter_thread.start()
    assert written.wait(timeout=30)
    end_round(app, round_id)
    closer = threading.Thread(target=close)
    closer.start()
    closer.join(timeout=2)  # let the close reach the ballot tables while the change is open
    go.set()
    voter_thread.join(timeout=30)
    closer.join(timeout=60)
    assert outcome == ["saved"]
    with app.app_context():
        document = json.loads(db.session.get(RoundResult, round_id).ballot_file)
    # The person was told the change is saved, so the file holds the change, not the old ballot.
    assert document["ballots"] == [{"p1": 1, "p2": 1}]
    assert ballots(app, round_id) == []


def _projects(app: Flask, number: int) -> list[int]:
    from kldialog.projects.models import Category

    with app.app_context():
        category = Category(name="Alles", slug="alles")
        items = [
            Project(
                slug=f"p{i}", title=f"P{i}", summary="", category=category, status=Status.planned
            )
            for i in range(number)
        ]
        db.session.add_all(items)
        db.session.commit()
        return [p.id for p in items]


def _accounts(app: Flask, number: int) -> list[int]:
    with app.app_context():
        db.session.execute(
            sa.insert(User),
            [
                person(f"crowd{i}", accepted_terms_version=app.config["TERMS_VERSION"])
                for i in range(number)
            ],
        )
        db.session.commit()
        return list(
            db.session.scalars(
                sa.select(User.id).where(User.email.like("crowd%")).order_by(User.id)
            )
        )


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs PostgreSQL (runs in .ci/run)")
def test_a_thousand_people_voting_at_once_lose_nothing(shared_app: Flask) -> None:
    app = shared_app
    ids = _projects(app, 8)
    round_id = make_round(app, ids, method=Method.points, budget=10)
    people = _accounts(app, 1000)

    def work(user_id: int) -> str:
        with app.app_context():
            try:
                round_ = db.session.get(PriorityRound, round_id)
                user = db.session.get(User, user_id)
                services.cast_ballot(user, round_, {ids[user_id % 8]: 3, ids[(user_id + 3) % 8]: 2})
                return "ok"
            except Exception as error:  # noqa: BLE001  (collected and asserted below)
                return repr(error)
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=24) as pool:
        outcomes = list(pool.map(work, people))
    assert outcomes == ["ok"] * 1000
    assert ballot_count(app, round_id) == 1000
    assert len(ballots(app, round_id)) == 1000
    assert sum(points for _s, points in totals(app, round_id).values()) == 5000
    assert sum(s for s, _p in totals(app, round_id).values()) == 2000


# --- council dashboard ---------------------------------------------------------------------


def test_council_dashboard_shows_rounds_ratings_and_hides_small_groups(
    app: Flask, client: Any, make_user: Any, projects: list[Project]
) -> None:
    round_id = make_round(app, projects)
    vote_many(app, round_id, [{projects[0].id: 1, projects[1].id: 1}] * 5 + [{projects[0].id: 1}])
    end_round(app, round_id, close=True)
    with app.app_context():
        for number in range(5):
            rater = accounts.create_confirmed_user(
                email=f"rater{number}@example.org",
                password="correct horse battery staple",
                display_name=f"Bewerter {number}",
                roles=[],
            )
            services.rate_project(
                rater, projects[2], {Indicator.benefit: 4, Indicator.data_care: 5}
            )
        services.rate_project(rater, projects[3], {Indicator.benefit: 1, Indicator.data_care: None})
    for roles in ([], [Role.moderator]):
        client.post("/logout")
        login(client, make_user(*roles))
        assert client.get("/council").status_code == 403
        assert client.get("/council/ratings.csv").status_code == 403
    client.post("/logout")
    login(client, make_user(Role.council))
    page = client.get("/council").get_data(as_text=True)
    assert "Freies WLAN" in page  # tier 1 of the closed round
    assert "<svg" in page and "Mittelwert" not in page.split("council-ratings", 1)[0]
    # Open Data: five ratings of 4 would say what each of the five gave.
    assert "zu einheitlich, um es zu zeigen" in page and "4,0 (" not in page
    csv_rows = client.get("/council/ratings.csv").get_data(as_text=True).lstrip("\ufeff")
    by_project = {row.split(";")[0]: row for row in csv_rows.splitlines()[1:]}
    assert by_project["Open Data"].startswith("Open Data;Verwaltung;zu einheitlich, um es zu")
    assert "4,000" not in by_project["Open Data"]
    assert "weniger als 5" in by_project["Bürgerkonto"]
    assert ";1;" not in by_project["Bürgerkonto"]
    with app.app_context(), count_queries() as statements:
        assert client.get("/council").status_code == 200
    assert len(statements) <= 9  # the ninth: the closed surveys' channel split, for all at once


def test_ballot_without_csrf_token_is_refused(
    app_factory: Any, make_project: Any, make_user: Any
) -> None:
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        from tests.conftest import load_bundled_roadmap

        load_bundled_roadmap()
        ids = services.default_project_ids()
    round_id = make_round(app, ids)
    client = app.test_client()
    with app.app_context():
        voter = accounts.create_confirmed_user(
            email="csrf@example.org",
            password="correct horse battery staple",
            display_name="Ohne Token",
            roles=[],
        )
        voter_email = voter.email
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post(
        "/login",
        data={
            "email": voter_email,
            "password": "correct horse battery staple",
            "csrf_token": token,
        },
    )
    response = client.post(f"/priorities/{round_id}", data={"project": [ids[0]]})
    assert response.status_code == 400
    assert ballots(app, round_id) == []
    page = client.get(f"/priorities/{round_id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        f"/priorities/{round_id}", data={"project": [ids[0]], "csrf_token": token}
    )
    assert response.status_code == 303
    assert len(ballots(app, round_id)) == 1
