"""Measure closing a round with 100,000 ballots on PostgreSQL, and what the rewrite adds.

Usage: KLDIALOG_BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \
       .venv/bin/python scripts/bench_round_close_pg.py
Creates a scratch database, prints one Markdown table row per case and drops the database.
Two cases: the closing round holds every ballot row (the rewrite copies nothing), and a second
open round with as many ballots stays behind (the rewrite copies its live rows).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from kldialog import create_app  # noqa: E402
from kldialog.kernel.db import db, rewrite_tables  # noqa: E402
from kldialog.priorities import closing, services  # noqa: E402
from kldialog.priorities.models import Ballot, BallotChoice, PriorityRound  # noqa: E402
from scripts.bench import machine  # noqa: E402
from scripts.bench_rounds import BALLOTS, setup  # noqa: E402
from tests.conftest import base_config, own_postgres_database  # noqa: E402


def copy_round(round_id: int) -> None:
    """Add a second open round with the same ballots (other people's rows stay live)."""
    db.session.execute(
        sa.text(
            "INSERT INTO priority_round (title, explanation, method, max_choices, budget,"
            " max_per_project, eligibility, show_running_totals, state, opens_at, closes_at,"
            " ballot_count, created_at) SELECT title, explanation, method, max_choices, budget,"
            " max_per_project, eligibility, show_running_totals, state, opens_at,"
            " closes_at + interval '30 days', ballot_count, created_at FROM priority_round"
            " WHERE id = :r"
        ),
        {"r": round_id},
    )
    other = db.session.scalar(sa.select(sa.func.max(PriorityRound.id)))
    db.session.execute(
        sa.text(
            "INSERT INTO round_project (round_id, project_id, supporters, points)"
            " SELECT :o, project_id, 0, 0 FROM round_project WHERE round_id = :r"
        ),
        {"o": other, "r": round_id},
    )
    db.session.execute(
        sa.text(
            "INSERT INTO ballot (round_id, user_id, cast_on)"
            " SELECT :o, user_id, cast_on FROM ballot WHERE round_id = :r"
        ),
        {"o": other, "r": round_id},
    )
    db.session.execute(
        sa.text(
            "INSERT INTO ballot_choice (ballot_id, round_id, project_id, points)"
            " SELECT n.id, :o, c.project_id, c.points FROM ballot_choice c"
            " JOIN ballot b ON b.id = c.ballot_id JOIN ballot n ON n.user_id = b.user_id"
            " AND n.round_id = :o WHERE c.round_id = :r"
        ),
        {"o": other, "r": round_id},
    )
    db.session.commit()


def measure(url: str, *, other_round: bool) -> str:
    """Close one round of BALLOTS ballots; return a table row with close and rewrite times."""
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url))
    round_id, _ids = setup(app, BALLOTS)
    with app.app_context():
        if other_round:
            copy_round(round_id)
        db.session.execute(
            sa.update(PriorityRound)
            .where(PriorityRound.id == round_id)
            .values(
                opens_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2),
                closes_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
            )
        )
        db.session.commit()
        rewrite_tables(*services.CLOSE_REWRITES)  # start from clean tables
        rewrites: list[float] = []
        original = closing.rewrite_tables

        def timed(*names: str) -> None:
            start = time.perf_counter()
            original(*names)
            rewrites.append(time.perf_counter() - start)

        closing.rewrite_tables = timed  # type: ignore[assignment]
        round_ = db.session.get(PriorityRound, round_id)
        start = time.perf_counter()
        services.close_round(round_)
        total = time.perf_counter() - start
        closing.rewrite_tables = original  # type: ignore[assignment]
        left = db.session.scalar(sa.select(sa.func.count()).select_from(Ballot))
        lines = db.session.scalar(sa.select(sa.func.count()).select_from(BallotChoice))
        db.session.remove()
        db.engine.dispose()
    case = (
        f"another open round keeps {left:,} ballots / {lines:,} choice rows live"
        if other_round
        else "no other ballots in the tables"
    )
    return (
        f"| close a round on PostgreSQL, {BALLOTS:,} ballots × 5 choices ({case}) "
        f"| {total:.2f} s | {rewrites[0]:.2f} s |"
    )


def main() -> None:
    """Print the measurements."""
    base = os.environ.get("KLDIALOG_BENCH_DATABASE_URL", "")
    if not base:
        raise SystemExit("set KLDIALOG_BENCH_DATABASE_URL to a PostgreSQL server")
    print(f"Measured {dt.date.today().isoformat()} on {machine()}")
    print("| what | close, total | of which the rewrite |")
    print("|---|---:|---:|")
    for other in (False, True):
        with own_postgres_database(base) as url:
            print(measure(url, other_round=other), flush=True)


if __name__ == "__main__":
    main()
