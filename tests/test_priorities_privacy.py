"""Priority rounds against a database reader: after close, no stored byte links a voter."""

from __future__ import annotations

import datetime as dt
import struct
from pathlib import Path

import sqlalchemy as sa

from kldialog.auth.models import Role, User
from kldialog.kernel.db import db
from kldialog.priorities import services
from kldialog.priorities.models import (
    Ballot,
    Eligibility,
    Method,
    PriorityRound,
)
from kldialog.projects.models import Category, Project, Status

from .conftest import TEST_DATABASE_URL
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
