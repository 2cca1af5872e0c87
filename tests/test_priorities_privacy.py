"""Priority rounds against a database reader and a patient analyst.

After close no stored byte links a voter to a ballot; figures that change while people take
part (running totals, daily turnout) never give away one ballot.
"""

from __future__ import annotations

import datetime as dt
import json
import struct
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from kldialog.auth.models import Role, User
from kldialog.kernel.db import db
from kldialog.kernel.disclosure import Release
from kldialog.priorities import services
from kldialog.priorities.models import (
    Ballot,
    BallotChoice,
    Method,
    PriorityRound,
    RoundResult,
)
from kldialog.priorities.totals import totals_key
from kldialog.projects.models import Category, Project, Status
from kldialog.windows.models import Eligibility

from .conftest import TEST_DATABASE_URL
from .test_priorities import end_round, make_round, person, vote_many
from .test_surveys_privacy import disposing, files_of, heap, horizon_settled, reader_app

# A user id whose four bytes occur nowhere else by chance.
VOTER_ID = 0x5EC2E7AB
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def open_round(count: int) -> tuple[int, list[int]]:
    """Create `count` accounts and an open round over three projects."""
    category = Category(name="Alles", slug="alles")
    projects = [
        Project(slug=f"p{i}", title=f"P{i}", summary="", category=category, status=Status.planned)
        for i in range(3)
    ]
    db.session.add_all(projects)
    db.session.flush()
    db.session.execute(
        sa.insert(User),
        [
            {
                "id": VOTER_ID + number,
                "email": f"v{number}@example.org",
                "password_hash": "not-a-real-hash",
                "display_name": f"v{number}",
                "display_name_key": f"v{number}",
                "roles": int(Role.resident),
                "email_confirmed_at": NOW,
            }
            for number in range(count)
        ],
    )
    db.session.commit()
    staff = User(
        email="staff@example.org", password_hash="x", display_name="Staff",
        display_name_key="staff", roles=int(Role.staff), email_confirmed_at=NOW,
    )  # fmt: skip
    db.session.add(staff)
    db.session.commit()
    round_ = services.create_round(
        staff,
        services.RoundFields(
            title="Runde", explanation="", method=Method.approval, max_choices=2, budget=5,
            max_per_project=3, eligibility=Eligibility.resident, show_running_totals=False,
            opens_at=NOW - dt.timedelta(days=1), closes_at=NOW + dt.timedelta(days=1),
            project_ids=[p.id for p in projects],
        ),
    )  # fmt: skip
    services.publish_round(staff, round_)
    return round_.id, [p.id for p in projects]


def cast(round_id: int, ids: list[int], count: int) -> None:
    """Cast `count` ballots through the service, and change one of them."""
    round_ = db.session.get(PriorityRound, round_id)
    for number in range(count):
        voter = db.session.get(User, VOTER_ID + number)
        services.cast_ballot(voter, round_, {ids[number % 3]: 1})
    # A changed ballot leaves an old version behind as well.
    services.cast_ballot(db.session.get(User, VOTER_ID), round_, {ids[1]: 1, ids[2]: 1})


def places(path: Path, needle: bytes) -> list[int]:
    """Return every offset of needle in the file."""
    raw, found, start = path.read_bytes(), [], 0
    while (start := raw.find(needle, start)) >= 0:
        found.append(start)
        start += 1
    return found


def close(round_id: int) -> None:
    """End the window and close the round through the service."""
    round_ = db.session.get(PriorityRound, round_id)
    round_.opens_at, round_.closes_at = NOW - dt.timedelta(days=2), NOW - dt.timedelta(seconds=1)
    db.session.commit()
    services.close_round(round_)


def test_a_closed_round_leaves_no_voter_bytes_in_the_sqlite_file(tmp_path: Path) -> None:
    if TEST_DATABASE_URL:
        return  # the PostgreSQL variant below reads the heap instead
    app = reader_app(tmp_path, "")
    with app.app_context(), disposing():
        path = Path(db.engine.url.database or "")
        voter = struct.pack(">i", VOTER_ID)  # SQLite stores this id as four big-endian bytes
        round_id, ids = open_round(6)
        db.session.remove()
        accounts = places(path, voter)  # the account row and its indexes hold the id
        cast(round_id, ids, 6)
        db.session.remove()
        # The ballot row and both ballot indexes add the id: the check can see a ballot.
        assert len(places(path, voter)) == len(accounts) + 3
        close(round_id)
        db.session.remove()
        db.engine.dispose()
        assert places(path, voter) == accounts


def test_a_closed_round_leaves_no_dead_ballot_tuples_on_postgresql(tmp_path: Path) -> None:
    if not TEST_DATABASE_URL:
        return  # the SQLite variant above reads the file instead
    app = reader_app(tmp_path, TEST_DATABASE_URL)
    with app.app_context(), disposing():
        round_id, ids = open_round(6)
        cast(round_id, ids, 6)
        tables = list(services.CLOSE_REWRITES)
        voter = struct.pack("<i", VOTER_ID)
        with db.engine.connect() as conn:
            assert any(voter in bytes(item["t_data"]) for item in heap(conn, "ballot"))
        before = files_of(tables)
        close(round_id)
        db.session.remove()
        horizon_settled(tables, before)
        with db.engine.connect() as conn:
            assert heap(conn, "ballot") == []
            assert heap(conn, "ballot_choice") == []
            for table in tables:
                items = heap(conn, table)
                assert all(item["xmax"] == "0" for item in items), table
                assert not [item for item in items if voter in bytes(item["t_data"] or b"")]


# --- differencing: figures that change while people take part ------------------------------


def totals_section(client: Any, round_id: int) -> str:
    """Return the running-totals section of the round page as a resident sees it."""
    page = client.get(f"/priorities/{round_id}").get_data(as_text=True)
    return page.split('id="totals-title"', 1)[1].split("</section>", 1)[0]


def test_running_totals_move_only_in_steps_of_k_ballots(
    app: Flask, client: Any, make_project: Any
) -> None:
    projects = [make_project(f"Projekt {i}", category="Alles") for i in range(3)]
    a, b = projects[0].id, projects[1].id
    k = app.config["ROUND_MIN_GROUP_SIZE"]
    round_id = make_round(app, projects, show_running_totals=True)
    voters = vote_many(app, round_id, [{a: 1}] * k)
    # k ballots: a snapshot is taken but not shown; it appears one step later (the lag).
    assert "Projekt 0" not in totals_section(client, round_id)
    vote_many(app, round_id, [{a: 1}] * k, start=k)
    first = totals_section(client, round_id)
    assert f"Zwischenstand aus {k} Stimmzetteln" in first and "Projekt 0" in first
    # Each further ballot, change or withdrawal alone leaves the published figure as it was.
    for step in range(k - 1):
        if step < 2:
            with app.app_context():
                round_ = db.session.get(PriorityRound, round_id)
                voter = db.session.get(User, voters[step])
                if step == 0:
                    services.cast_ballot(voter, round_, {b: 1})
                else:
                    services.withdraw_ballot(voter, round_)
        else:
            vote_many(app, round_id, [{b: 1}], start=2 * k + step)
        assert totals_section(client, round_id) == first
    vote_many(app, round_id, [{b: 1}], start=3 * k)  # the k-th person since the snapshot
    moved = totals_section(client, round_id)
    # What moves in is the snapshot of 2k ballots, not the live 2k + 2.
    assert moved != first and f"Zwischenstand aus {2 * k} Stimmzetteln" in moved


def test_one_voter_changing_k_times_does_not_move_the_totals(
    app: Flask, client: Any, make_project: Any
) -> None:
    projects = [make_project(f"Projekt {i}", category="Alles") for i in range(3)]
    a, b = projects[0].id, projects[1].id
    k = app.config["ROUND_MIN_GROUP_SIZE"]
    round_id = make_round(app, projects, show_running_totals=True)
    [toggler, *_rest] = vote_many(app, round_id, [{a: 1}] * (2 * k))
    before = totals_section(client, round_id)
    with app.app_context():
        round_ = db.session.get(PriorityRound, round_id)
        for choice in [{b: 1}, {a: 1}, {b: 1}, {a: 1}]:
            services.cast_ballot(db.session.get(User, toggler), round_, choice)
    vote_many(app, round_id, [{b: 1}], start=2 * k)  # a newcomer: the 2nd person, not the 5th
    assert totals_section(client, round_id) == before


@pytest.mark.parametrize("remainder", [1, 2, 3, 4])
def test_the_final_result_is_k_ballots_away_from_every_published_interim(
    app: Flask, make_project: Any, remainder: int
) -> None:
    projects = [make_project(f"Projekt {i}", category="Alles") for i in range(2)]
    a, b = projects[0].id, projects[1].id
    k = app.config["ROUND_MIN_GROUP_SIZE"]
    assert remainder < k
    round_id = make_round(app, projects, show_running_totals=True)
    count = 3 * k + remainder
    published: dict[int, dict[int, int]] = {}
    with app.app_context():
        db.session.execute(sa.insert(User), [person(f"f{remainder}-{i}") for i in range(count)])
        db.session.commit()
        users = db.session.scalars(
            sa.select(User.id).where(User.email.like(f"f{remainder}-%")).order_by(User.id)
        ).all()
        round_ = db.session.get(PriorityRound, round_id)
        for number, user_id in enumerate(users):
            # Alternate the projects, so a difference of totals is a difference of ballots.
            choice = {a: 1} if number % 2 else {b: 1}
            services.cast_ballot(db.session.get(User, user_id), round_, choice)
            shown = services.running_totals(db.session.get(PriorityRound, round_id))
            if shown.n is not None:
                published[shown.n] = {r.project.id: r.supporters for r in shown.rows}
        assert published  # interim totals were shown during the round
        assert db.session.get(Release, totals_key(round_id)).staged_n is not None
    end_round(app, round_id, close=True)
    with app.app_context():
        result = json.loads(db.session.get(RoundResult, round_id).results)
        final = {a: (count // 2), b: count - count // 2}
        assert result["n"] == count
        for n, totals in published.items():
            # Every stretch the final result adds to a published figure holds k ballots or more.
            assert count - n >= k, (n, count)
            assert sum(final[p] - totals[p] for p in final) >= k
        # The unpublished snapshot went with the release, and its table was rewritten.
        assert db.session.get(Release, totals_key(round_id)) is None


def test_running_totals_switched_on_mid_round_show_an_earlier_release(
    app: Flask, client: Any, make_project: Any
) -> None:
    projects = [make_project(f"Projekt {i}", category="Alles") for i in range(3)]
    k = app.config["ROUND_MIN_GROUP_SIZE"]
    round_id = make_round(app, projects)
    vote_many(app, round_id, [{projects[0].id: 1}] * (2 * k + 2))
    with app.app_context():
        db.session.get(PriorityRound, round_id).show_running_totals = True
        db.session.commit()
    section = totals_section(client, round_id)
    assert f"Zwischenstand aus {k} Stimmzetteln" in section  # not the live 2k + 2


@pytest.mark.parametrize(
    "per_day",
    [[1, 1, 40], [2, 40], [1, 1, 3, 40], [3, 9, 9], [1, 40, 40], [4, 4, 1, 12]],
)
def test_daily_turnout_never_lets_a_hidden_day_be_computed(
    app: Flask, make_project: Any, per_day: list[int]
) -> None:
    projects = [make_project(f"Projekt {i}", category="Alles") for i in range(2)]
    round_id = make_round(app, projects)
    k = app.config["ROUND_MIN_GROUP_SIZE"]
    days = [NOW.date() - dt.timedelta(days=len(per_day) - i) for i in range(len(per_day))]
    with app.app_context():
        count = sum(per_day)
        db.session.execute(sa.insert(User), [person(f"day{i}") for i in range(count)])
        users = db.session.scalars(sa.select(User.id).where(User.email.like("day%"))).all()
        cast_on = [day for day, n in zip(days, per_day, strict=True) for _ in range(n)]
        db.session.execute(
            sa.insert(Ballot),
            [
                {"round_id": round_id, "user_id": uid, "cast_on": on}
                for uid, on in zip(users, cast_on, strict=True)
            ],
        )
        ids = db.session.scalars(sa.select(Ballot.id).where(Ballot.round_id == round_id)).all()
        db.session.execute(
            sa.insert(BallotChoice),
            [
                {"ballot_id": bid, "round_id": round_id, "project_id": projects[0].id, "points": 1}
                for bid in ids
            ],
        )
        db.session.commit()
    end_round(app, round_id, close=True)
    with app.app_context():
        data = services.round_result_data(db.session.get(RoundResult, round_id))
    published = {row["day"]: row["ballots"] for row in data["participation"]}
    assert data["n"] == sum(per_day)
    true = dict(zip((d.isoformat() for d in days), per_day, strict=True))
    hidden = [day for day, shown in published.items() if shown is None]
    shown = {day: n for day, n in published.items() if n is not None}
    assert all(true[day] == n for day, n in shown.items())
    assert all(n == 0 or n >= k for n in shown.values())
    # What the total and the shown days leave for the hidden ones must cover two days or more
    # and at least k ballots, so none of them can be solved for.
    if hidden:
        assert len(hidden) >= 2
        assert data["n"] - sum(shown.values()) >= k
