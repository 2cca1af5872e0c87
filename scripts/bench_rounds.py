"""Measure priority rounds at scale and write the figures into docs/performance.md.

- computing the results (Wilson intervals, 200 bootstrap resamples, tiers) from a ballot file
  with 100,000 ballots over 66 projects, on one core (BLAS threads pinned to 1);
- closing a round with 100,000 ballots in SQLite (read, shuffle, file, hash, compute, delete);
- casting a ballot with 100 and with 100,000 ballots already in the round;
- serving the results page from the stored snapshot.
"""

from __future__ import annotations

import os

# One core, as the issue asks: numpy's BLAS would otherwise use every core for the matmul.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import datetime as dt  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from kldialog import create_app  # noqa: E402
from kldialog.auth.models import Role, User  # noqa: E402
from kldialog.kernel.db import db  # noqa: E402
from kldialog.priorities import services  # noqa: E402
from kldialog.priorities.models import (  # noqa: E402
    Ballot,
    BallotChoice,
    Method,
    PriorityRound,
    RoundProject,
)
from kldialog.projects.models import Category, Project, Status  # noqa: E402
from kldialog.windows.models import Eligibility  # noqa: E402
from tests.conftest import base_config  # noqa: E402

BEGIN, END = "<!-- rounds:begin -->", "<!-- rounds:end -->"
PROJECTS = 66
BALLOTS = 100_000


def synthetic_ballots(method: Method, slugs: list[str], count: int) -> list[dict[str, int]]:
    """Return ballots with skewed popularity, as real rounds have."""
    chooser = random.Random(66)  # noqa: S311  (benchmark data)
    weights = [1 / (rank + 1) ** 0.7 for rank in range(len(slugs))]
    ballots = []
    for _ in range(count):
        if method == Method.approval:
            picks = set(chooser.choices(slugs, weights=weights, k=5))
            ballots.append(dict.fromkeys(picks, 1))
        else:
            ballot: dict[str, int] = {}
            left = 10
            while left:
                slug = chooser.choices(slugs, weights=weights)[0]
                give = min(left, 3 - ballot.get(slug, 0), chooser.randint(1, 3))
                if give > 0:
                    ballot[slug] = ballot.get(slug, 0) + give
                    left -= give
            ballots.append(ballot)
    return ballots


def setup(app, ballots: int) -> tuple[int, list[int]]:
    """Create 66 projects, a round over them and `ballots` ballots; return round and projects."""
    now = dt.datetime.now(dt.UTC)
    with app.app_context():
        db.drop_all()
        db.create_all()
        category = Category(name="Alle", slug="alle")
        projects = [
            Project(
                slug=f"p{i}",
                title=f"Projekt {i}",
                summary="",
                category=category,
                status=Status.planned,
            )
            for i in range(PROJECTS)
        ]
        db.session.add_all(projects)
        db.session.flush()
        round_ = PriorityRound(
            title="Bench",
            method=Method.approval,
            max_choices=5,
            budget=10,
            max_per_project=3,
            eligibility=Eligibility.resident,
            opens_at=now - dt.timedelta(days=1),
            closes_at=now + dt.timedelta(days=1),
            state="published",
        )
        round_.entries = [RoundProject(project_id=p.id) for p in projects]
        db.session.add(round_)
        db.session.commit()
        ids = [p.id for p in projects]
        people = [
            {
                "email": f"b{i}@example.org",
                "password_hash": "x",
                "display_name": f"b{i}",
                "display_name_key": f"b{i}",
                "roles": int(Role.resident),
                "email_confirmed_at": now,
                "accepted_terms_version": app.config["TERMS_VERSION"],
            }
            for i in range(ballots + 20)
        ]
        db.session.execute(sa.insert(User), people)
        user_ids = list(db.session.scalars(sa.select(User.id).order_by(User.id)))
        chooser = random.Random(1)  # noqa: S311
        db.session.execute(
            sa.insert(Ballot),
            [
                {"round_id": round_.id, "user_id": uid, "cast_on": now.date()}
                for uid in user_ids[:ballots]
            ],
        )
        ballot_ids = list(db.session.scalars(sa.select(Ballot.id)))
        db.session.execute(
            sa.insert(BallotChoice),
            [
                {"ballot_id": bid, "round_id": round_.id, "project_id": pid, "points": 1}
                for bid in ballot_ids
                for pid in chooser.sample(ids, 5)
            ],
        )
        db.session.execute(
            sa.update(PriorityRound)
            .where(PriorityRound.id == round_.id)
            .values(ballot_count=ballots)
        )
        db.session.commit()
        return round_.id, ids


def cast_latency(app, round_id: int, ids: list[int], ballots: int) -> float:
    """Return the median milliseconds of casting or changing a ballot (20 people, 3 times)."""
    timings = []
    with app.app_context():
        voters = list(db.session.scalars(sa.select(User).order_by(User.id.desc()).limit(20)))
        for repeat in range(3):
            for number, voter in enumerate(voters):
                round_ = db.session.get(PriorityRound, round_id)
                start = time.perf_counter()
                services.cast_ballot(
                    voter,
                    round_,
                    {ids[(number + repeat) % PROJECTS]: 1, ids[(number + 7) % PROJECTS]: 1},
                )
                timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def main() -> None:
    """Run the measurements and update docs/performance.md."""
    lines = []
    slugs = [f"p{i}" for i in range(PROJECTS)]
    fake = PriorityRound(
        title="Bench",
        method=Method.approval,
        max_choices=5,
        budget=10,
        max_per_project=3,
        closes_at=dt.datetime.now(dt.UTC),
    )
    entries = [
        RoundProject(project=Project(slug=s, title=s, category=Category(name="A"))) for s in slugs
    ]
    for method in (Method.approval, Method.points):
        fake.method = method
        text = services.ballot_file_text(fake, entries, synthetic_ballots(method, slugs, BALLOTS))
        start, cpu = time.perf_counter(), time.process_time()
        results = services.compute_results(text, samples=200, min_group_size=5)
        wall, used = time.perf_counter() - start, time.process_time() - cpu
        tiers = max(p["tier"] for p in results["projects"])
        lines.append(
            f"| compute results, {method.value}, {BALLOTS:,} ballots × {PROJECTS} projects "
            f"({len(text) / 1e6:.1f} MB file, {tiers} tiers) | {wall:.2f} s | {used:.2f} s |"
        )
        print(lines[-1], flush=True)

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(base_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{folder}/bench.sqlite"))
        casts = {}
        for size in (100, BALLOTS):
            round_id, ids = setup(app, size)
            casts[size] = cast_latency(app, round_id, ids, size)
            print(f"cast with {size:,} ballots: {casts[size]:.2f} ms", flush=True)
        with app.app_context():
            db.session.execute(
                sa.update(PriorityRound).values(
                    opens_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2),
                    closes_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
                )
            )
            db.session.commit()
            round_ = db.session.get(PriorityRound, round_id)
            start = time.perf_counter()
            services.close_round(round_)
            close_time = time.perf_counter() - start
        print(f"close: {close_time:.2f} s", flush=True)
        client = app.test_client()
        client.get(f"/priorities/{round_id}/results")
        timings = []
        for _ in range(50):
            start = time.perf_counter()
            if client.get(f"/priorities/{round_id}/results").status_code != 200:
                raise SystemExit("the results page did not answer 200")
            timings.append((time.perf_counter() - start) * 1000)
        page = statistics.median(timings)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()

    lines += [
        f"| close a round in SQLite: read, shuffle, write file + hash, compute, delete "
        f"{BALLOTS:,} person-linked ballots | {close_time:.2f} s | |",
        f"| cast or change a ballot, 100 ballots in the round (median of 60) | "
        f"{casts[100]:.2f} ms | |",
        f"| cast or change a ballot, {BALLOTS:,} ballots in the round (median of 60) | "
        f"{casts[BALLOTS]:.2f} ms | |",
        f"| results page from the snapshot, {PROJECTS} projects (median of 50, test client) | "
        f"{page:.1f} ms | |",
    ]
    from scripts.bench import machine

    block = "\n".join(
        [
            BEGIN,
            f"Measured {dt.date.today().isoformat()} on {machine()}; BLAS pinned to one thread, "
            "SQLite file database.",
            "",
            "| what | wall time | CPU time |",
            "|---|---:|---:|",
            *lines,
            END,
        ]
    )
    path = ROOT / "docs" / "performance.md"
    text = path.read_text("utf-8")
    if BEGIN in text:
        text = text.split(BEGIN)[0] + block + text.split(END, 1)[1]
    else:
        text += "\n## Priority rounds at scale\n\n" + block + "\n"
    path.write_text(text, "utf-8")
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()
