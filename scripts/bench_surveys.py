"""Measure survey storage at scale on PostgreSQL and SQLite; write the figures to the docs.

For 50,000 answer sets of an eight-question survey (400,000 answer rows) plus 4 staged ones:
closing the survey (read everything, delete, reinsert shuffled with fresh keys, final release,
one transaction) and the table rewrite after it (VACUUM FULL of the answer tables on
PostgreSQL, which drops the dead tuples the rewrite left). Usage:

    python scripts/bench_surveys.py [postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Without a PostgreSQL URL only SQLite is measured. `make bench` does not run it by default.
"""

from __future__ import annotations

import datetime as dt
import platform
import random
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from kldialog import create_app, normalise_database_url  # noqa: E402
from kldialog.auth.models import Role  # noqa: E402
from kldialog.kernel.db import db, rewrite_tables  # noqa: E402
from kldialog.kernel.time import utcnow  # noqa: E402
from kldialog.surveys import answering, builder, results, storage  # noqa: E402
from kldialog.surveys.models import (  # noqa: E402
    QuestionKind,
    Survey,
    SurveyAnswer,
    SurveyResponse,
)
from kldialog.windows.models import Eligibility  # noqa: E402

ANSWER_SETS = int(__import__("os").environ.get("BENCH_SURVEY_SETS", "50000"))
PASSWORD = "correct horse battery staple"  # noqa: S105 - throwaway bench accounts
DOC = ROOT / "docs" / "performance.md"


def build(app_url: str) -> dict[str, float]:
    """Fill a fresh database and time the close; return the measured seconds."""
    app = create_app(
        {
            "SECRET_KEY": "bench-secret-key-not-for-production",
            "SQLALCHEMY_DATABASE_URI": app_url,
            "TESTING": True,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 8,
            "ARGON2_PARALLELISM": 1,
            "SURVEY_FLUSH_BATCH": 1000,
        }
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
        from kldialog.auth import services as accounts

        staff = accounts.create_confirmed_user(
            email="s@example.org", password=PASSWORD,
            display_name="Staff", roles=[Role.staff],
        )  # fmt: skip
        now = utcnow()
        survey = builder.create_survey(
            staff, title="Bench", intro="", opens_at=now - dt.timedelta(days=1),
            closes_at=now + dt.timedelta(days=1), eligibility=Eligibility.resident,
        )  # fmt: skip
        section = survey.sections[0].id
        for n in range(8):
            builder.save_question(
                staff, survey, None, section_id=section, kind=QuestionKind.scale, text=f"F{n}?"
            )
        builder.publish_survey(staff, survey)
        questions = [q.id for q in survey.questions()]
        rng = random.Random(7)  # noqa: S311 - answer values, not secrets
        for start in range(0, ANSWER_SETS, 5000):
            responses, answers = [], []
            for _ in range(start, min(ANSWER_SETS, start + 5000)):
                rid = uuid.uuid4()
                responses.append({"id": rid, "survey_id": survey.id})
                answers += [
                    {"id": uuid.uuid4(), "response_id": rid, "question_id": q,
                     "option_id": None, "number": rng.randint(1, 5), "text": None, "review": None}
                    for q in questions
                ]  # fmt: skip
            db.session.execute(sa.insert(SurveyResponse.__table__), responses)
            db.session.execute(sa.insert(SurveyAnswer.__table__), answers)
            db.session.commit()
        from kldialog.surveys.models import SurveyParticipation

        for n in range(4):  # a remainder below k waits staged until close
            person = accounts.create_confirmed_user(
                email=f"p{n}@example.org", password=PASSWORD,
                display_name=f"Person {n}", roles=[],
            )  # fmt: skip
            form = {f"q{q}": "3" for q in questions}
            from werkzeug.datastructures import MultiDict

            answering.parse_and_submit(person, db.session.get(Survey, survey.id), MultiDict(form))
        if db.session.query(SurveyParticipation).count() != 4:
            raise SystemExit("the staged remainder was not stored")
        survey = db.session.get(Survey, survey.id)
        survey.closes_at = utcnow() - dt.timedelta(seconds=1)
        db.session.commit()
        real = storage.erase_dead_rows
        timings: dict[str, float] = {}

        def timed_erase(*tables: str) -> None:
            started = time.perf_counter()
            real(*tables)
            timings["vacuum"] = time.perf_counter() - started

        storage.erase_dead_rows = timed_erase  # type: ignore[assignment]
        started = time.perf_counter()
        results.close_survey(survey)
        timings["close"] = time.perf_counter() - started - timings.get("vacuum", 0.0)
        storage.erase_dead_rows = real  # type: ignore[assignment]
        if storage.answer_set_count(survey.id) != ANSWER_SETS + 4:
            raise SystemExit("the close lost answer sets")
        started = time.perf_counter()
        rewrite_tables("survey_staged_response")
        timings["staging"] = time.perf_counter() - started
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
    return timings


def main() -> None:
    """Measure on SQLite (and PostgreSQL when a URL is given) and update docs/performance.md."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        sqlite = build(f"sqlite:///{folder}/bench.sqlite")
    rows.append(("SQLite file", sqlite))
    if len(sys.argv) > 1:
        admin_url = sa.make_url(normalise_database_url(sys.argv[1]))
        name = f"kldialog_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            url = admin_url.set(database=name).render_as_string(hide_password=False)
            rows.append(("PostgreSQL", build(url)))
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    lines = [
        f"Measured {dt.date.today().isoformat()} on 2 cores, Python {platform.python_version()}, "
        f"{platform.system()}; {ANSWER_SETS:,} answer sets × 8 answers, 4 staged.",
        "",
        "| database | close: rewrite whole answer set + final release (one transaction) "
        "| table rewrite after it (VACUUM FULL) | rewrite of the staging table |",
        "|---|---:|---:|---:|",
    ]
    for label, t in rows:
        vacuum = f"{t['vacuum']:.2f} s" if label == "PostgreSQL" else "– (secure_delete)"
        staging = f"{t['staging'] * 1000:.0f} ms" if label == "PostgreSQL" else "–"
        lines.append(f"| {label} | {t['close']:.2f} s | {vacuum} | {staging} |")
    text = DOC.read_text("utf-8")
    block = "<!-- surveys:begin -->\n" + "\n".join(lines) + "\n<!-- surveys:end -->"
    text = re.sub(r"<!-- surveys:begin -->.*<!-- surveys:end -->", block, text, flags=re.S)
    DOC.write_text(text, "utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
