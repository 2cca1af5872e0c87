"""The unlinkability proof: nothing in the database ties a person to their survey answers.

Runs on SQLite and, with KLDIALOG_TEST_DATABASE_URL, on PostgreSQL (transaction ids, heap order).
Also: a flush killed in the middle of writing (a real process exit) loses and duplicates nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.datastructures import MultiDict

from kldialog import create_app
from kldialog.auth.models import Role
from kldialog.kernel.db import db
from kldialog.kernel.time import utcnow
from kldialog.surveys import (
    answering,
    builder,
    results,
    retention,
    services,
    settings,
    storage,
)
from kldialog.surveys.models import (
    QuestionKind,
    StagedResponse,
    SurveyAnswer,
    SurveyParticipation,
    SurveyResponse,
)
from kldialog.windows.models import Eligibility

from .conftest import TEST_DATABASE_URL, base_config

ANONYMOUS_TABLES = {"survey_response", "survey_answer", "survey_staged_response"}
EXPECTED_COLUMNS = {
    "survey_response": {"id", "survey_id", "channel"},  # channel: online or paper, no more
    "survey_answer": {"id", "response_id", "question_id", "option_id", "number", "text", "review"},
    "survey_staged_response": {"id", "survey_id", "sealed"},
}


def build_survey(staff: Any) -> tuple[int, int, int]:
    """Create an open survey with a scale and a text question; return the ids."""
    now = utcnow()
    survey = builder.create_survey(
        staff,
        title="Stadtpark",
        intro="",
        opens_at=now - dt.timedelta(days=1),
        closes_at=now + dt.timedelta(days=1),
        eligibility=Eligibility.resident,
    )
    section = survey.sections[0].id
    scale = builder.save_question(
        staff, survey, None, section_id=section, kind=QuestionKind.scale, text="Wie gut?"
    )
    text = builder.save_question(
        staff, survey, None, section_id=section, kind=QuestionKind.short_text, text="Warum?"
    )
    builder.publish_survey(staff, survey)
    return survey.id, scale.id, text.id


@pytest.fixture
def answered(app: Flask, make_user: Callable[..., Any]) -> dict[str, Any]:
    """Ten people answer in a known order; person 3 is the one we try to find afterwards."""
    app.config["SURVEY_FLUSH_BATCH"] = 10  # one shuffled batch: 10! possible orders
    staff = make_user(Role.resident, Role.staff)
    people = [make_user(Role.resident) for _ in range(10)]
    with app.app_context():
        survey_id, scale_id, text_id = build_survey(db.session.merge(staff))
        for number, person in enumerate(people):
            answering.parse_and_submit(
                db.session.merge(person),
                services.get_survey(survey_id),
                MultiDict([(f"q{scale_id}", str(1 + number % 5)), (f"q{text_id}", f"T{number}")]),
            )
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StagedResponse)) == 0
    return {"survey_id": survey_id, "people": people, "target": people[3], "text_id": text_id}


def all_rows(conn: sa.Connection) -> Iterator[tuple[str, str, Any]]:
    """Yield (table, column, value) for every value in every table of the database."""
    metadata = sa.MetaData()
    metadata.reflect(conn)
    for table in metadata.sorted_tables:
        for row in conn.execute(sa.select(table)).mappings():
            for column, value in row.items():
                yield table.name, column, value


def text_forms(value: Any) -> list[str]:
    """Return the ways a value can appear as text in another column."""
    if isinstance(value, uuid.UUID):
        return [str(value), value.hex]
    if isinstance(value, dt.datetime):
        return [value.isoformat(), value.strftime("%Y-%m-%d %H:%M")]
    return [str(value)]


def test_the_schema_has_no_join_path_from_a_person_to_answers(app: Flask) -> None:
    tables = db.metadata.tables
    for name in ANONYMOUS_TABLES:
        table = tables[name]
        assert {c.name for c in table.columns} == EXPECTED_COLUMNS[name]
        for column in table.columns:
            assert not isinstance(column.type, sa.Date | sa.DateTime | sa.Time), column
    # Follow foreign keys from the anonymous tables: they never reach an account.
    reached, todo = set(), list(ANONYMOUS_TABLES)
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        todo.extend(fk.column.table.name for fk in tables[name].foreign_keys)
    assert "user_account" not in reached
    # No table points both at an account and at an anonymous table.
    for table in tables.values():
        targets = {fk.column.table.name for fk in table.foreign_keys}
        assert not ("user_account" in targets and targets & ANONYMOUS_TABLES), table.name
    # The participation record shares only the survey (the whole survey) with the answers.
    participation_targets = {
        fk.column.table.name for fk in tables["survey_participation"].foreign_keys
    }
    assert participation_targets & reached == {"survey"}


def test_no_value_in_any_table_links_the_person_to_their_answers(
    app: Flask, answered: dict[str, Any]
) -> None:
    target = answered["target"]
    with app.app_context(), db.engine.connect() as conn:
        user = (
            conn.execute(sa.text("SELECT * FROM user_account WHERE id = :id"), {"id": target.id})
            .mappings()
            .one()
        )
        # Everything stored about the person that could serve as a link.
        personal = {
            str(value)
            for key, value in user.items()
            if key
            in ("email", "display_name", "display_name_key", "session_token", "password_hash")
        }
        personal |= {
            form for key in ("created_at", "email_confirmed_at") for form in text_forms(user[key])
        }
        answer_ids = {
            form
            for (value,) in conn.execute(sa.text("SELECT id FROM survey_answer"))
            for form in text_forms(
                uuid.UUID(str(value)) if not isinstance(value, uuid.UUID) else value
            )
        }
        response_ids = {
            form
            for (value,) in conn.execute(sa.text("SELECT id FROM survey_response"))
            for form in text_forms(
                uuid.UUID(str(value)) if not isinstance(value, uuid.UUID) else value
            )
        }
        for table, column, value in all_rows(conn):
            if value is None:
                continue
            text = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
            if table in ANONYMOUS_TABLES:
                # Answers hold nothing about any person ...
                assert not any(item in text for item in personal), (table, column)
                if column in ("text",):
                    assert text.startswith("T")
            else:
                # ... and nothing outside the answer tables holds an answer's or answer set's key.
                assert not any(key in text for key in answer_ids | response_ids), (table, column)
        participation = (
            conn.execute(
                sa.select(SurveyParticipation.__table__).where(
                    SurveyParticipation.user_id == target.id
                )
            )
            .mappings()
            .one()
        )
        assert set(participation) == {"survey_id", "user_id", "participated_on"}
        assert isinstance(participation["participated_on"], dt.date)
        assert not isinstance(participation["participated_on"], dt.datetime)


def test_storage_order_and_transactions_reveal_nothing(
    app: Flask, answered: dict[str, Any]
) -> None:
    submitted = [f"T{number}" for number in range(10)]
    with app.app_context(), db.engine.connect() as conn:
        dialect = conn.dialect.name
        if dialect == "sqlite":
            for name in ANONYMOUS_TABLES:
                sql = conn.execute(
                    sa.text("SELECT sql FROM sqlite_master WHERE type='table' AND name=:n"),
                    {"n": name},
                ).scalar_one()
                assert "WITHOUT ROWID" in sql.upper()
                with pytest.raises(sa.exc.OperationalError):
                    conn.execute(sa.text(f"SELECT rowid FROM {name}"))  # noqa: S608
            conn.rollback()
            # Physical order is the order of the random primary key.
            stored = list(
                conn.execute(
                    sa.text("SELECT text FROM survey_answer WHERE text IS NOT NULL ORDER BY id")
                ).scalars()
            )
        else:
            stored = list(
                conn.execute(
                    sa.text("SELECT text FROM survey_answer WHERE text IS NOT NULL ORDER BY ctid")
                ).scalars()
            )
            participation_xids = set(
                conn.execute(sa.text("SELECT xmin::text FROM survey_participation")).scalars()
            )
            answer_xids = set(
                conn.execute(sa.text("SELECT xmin::text FROM survey_answer")).scalars()
            )
            response_xids = list(
                conn.execute(sa.text("SELECT xmin::text FROM survey_response")).scalars()
            )
            assert not participation_xids & (answer_xids | set(response_xids))
            # Every answer set was written in a batch transaction shared by at least k of them.
            for xid in set(response_xids):
                assert response_xids.count(xid) >= settings.min_group_size()
        # Same answers, not in the order people sent them (chance of a false alarm: 1 in 10!).
        assert sorted(stored) == sorted(submitted)
        assert stored != submitted


def test_a_flush_killed_by_a_real_process_exit_keeps_every_answer_exactly_once(
    tmp_path: Path, database_url: str
) -> None:
    url = database_url if TEST_DATABASE_URL else f"sqlite:///{tmp_path}/kill.sqlite"
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url, SURVEY_FLUSH_BATCH=1000))
    try:
        with app.app_context():
            db.drop_all()
            db.create_all()
            from kldialog.auth import services as accounts

            staff = accounts.create_confirmed_user(
                email="staff@example.org", password="correct horse battery staple",
                display_name="Staff", roles=[Role.staff],
            )  # fmt: skip
            survey_id, scale_id, text_id = build_survey(staff)
            for number in range(12):
                person = accounts.create_confirmed_user(
                    email=f"p{number}@example.org", password="correct horse battery staple",
                    display_name=f"Person {number}", roles=[],
                )  # fmt: skip
                answering.parse_and_submit(
                    person,
                    services.get_survey(survey_id),
                    MultiDict([(f"q{scale_id}", "3"), (f"q{text_id}", f"T{number}")]),
                )
            assert db.session.scalar(sa.select(sa.func.count()).select_from(StagedResponse)) == 12
            db.session.remove()
            db.engine.dispose()
        script = textwrap.dedent(
            f"""
            import os
            from kldialog import create_app
            from kldialog.surveys import storage
            from tests.conftest import base_config

            app = create_app(base_config(SQLALCHEMY_DATABASE_URI={url!r}))
            real = storage._write_rows
            calls = []

            def dying(table, rows):
                calls.append(table.name)
                if table.name != "survey_answer":
                    return real(table, rows)
                real(table, rows[: len(rows) // 2])
                os._exit(9)  # the process dies: no rollback, no cleanup, no commit

            storage._write_rows = dying
            with app.app_context():
                storage.rewrite_answer_set({survey_id})
            """
        )
        root = Path(__file__).resolve().parent.parent
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 9, result.stderr
        with app.app_context():
            count = lambda model: db.session.scalar(  # noqa: E731
                sa.select(sa.func.count()).select_from(model)
            )
            assert count(StagedResponse) == 12
            assert count(SurveyResponse) == 0
            assert count(SurveyAnswer) == 0
            assert storage.rewrite_answer_set(survey_id) == 12
            texts = sorted(
                db.session.scalars(
                    sa.select(SurveyAnswer.text).where(SurveyAnswer.text.is_not(None))
                )
            )
            assert texts == sorted(f"T{n}" for n in range(12))
            assert count(SurveyResponse) == 12
            assert count(StagedResponse) == 0
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


# --- a database reader with a copy of the file, or with pageinspect --------------------------


def reader_app(tmp_path: Path, database_url: str, **config: Any) -> Flask:
    """Return an app on a file database (SQLite) or on the test's PostgreSQL, tables empty."""
    from .conftest import empty_postgres_database

    url = database_url if TEST_DATABASE_URL else f"sqlite:///{tmp_path}/reader.sqlite"
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url, **config))
    with app.app_context():
        if TEST_DATABASE_URL:
            empty_postgres_database()
        else:
            db.create_all()
    return app


@contextlib.contextmanager
def disposing() -> Iterator[None]:
    """Close the app's sessions and connections at the end, also when an assertion fails."""
    try:
        yield
    finally:
        db.session.remove()
        db.engine.dispose()


def sqlite_file(app: Flask) -> Path:
    """Return the path of an app's SQLite file."""
    with app.app_context():
        return Path(db.engine.url.database or "")


def people(count: int, start: int = 0) -> list[Any]:
    """Create confirmed accounts p{start}..; inside an app context."""
    from kldialog.auth import services as accounts

    return [
        accounts.create_confirmed_user(
            email=f"p{n}@example.org",
            password="correct horse battery staple",
            display_name=f"Person {n}",
            roles=[],
        )  # fmt: skip
        for n in range(start, start + count)
    ]


def wide_survey() -> tuple[int, list[int], int]:
    """Create an open survey with three scale questions and a short text; return the ids."""
    from kldialog.auth import services as accounts

    staff = accounts.create_confirmed_user(
        email="staff@example.org", password="correct horse battery staple",
        display_name="Staff", roles=[Role.staff],
    )  # fmt: skip
    survey_id, scale_id, text_id = build_survey(staff)
    survey = services.get_survey(survey_id)
    builder.unpublish_survey(staff, survey)
    extra = [
        builder.save_question(
            staff, survey, None, section_id=survey.sections[0].id, kind=QuestionKind.scale,
            text=f"Skala {n}?",
        ).id
        for n in range(2)
    ]  # fmt: skip
    builder.publish_survey(staff, survey)
    return survey_id, [scale_id, *extra], text_id


def answer(person: Any, survey_id: int, scales: list[int], text_id: int, text: str) -> None:
    """Submit one answer set with every scale at 3 and the given text."""
    form = MultiDict([(f"q{q}", "3") for q in scales] + [(f"q{text_id}", text)])
    answering.parse_and_submit(person, services.get_survey(survey_id), form)


def close_now(survey_id: int) -> None:
    """End the survey's window now and finalise it (whole-set rewrite, final release)."""
    from kldialog.surveys.models import Survey

    survey = db.session.get(Survey, survey_id)
    survey.closes_at = utcnow() - dt.timedelta(seconds=1)
    db.session.commit()
    assert results.is_final(results.close_survey(survey))


def heap(conn: sa.Connection, table: str, *, toast: bool = False) -> list[dict[str, Any]]:
    """Return every line pointer of every page of a table, dead tuples included (pageinspect).

    With `toast`, the table's TOAST relation is read too: large values (the sealed staged
    answer sets) are stored there, out of line.
    """
    conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pageinspect"))
    if toast:
        name = conn.execute(
            sa.text(
                "SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = CAST(:t AS regclass)"
            ),
            {"t": table},
        ).scalar_one()
        return heap(conn, table) + (heap(conn, name) if name and name != "-" else [])
    blocks = conn.execute(
        sa.text("SELECT pg_relation_size(:t) / current_setting('block_size')::int"), {"t": table}
    ).scalar_one()
    items = []
    for block in range(blocks):
        items += [
            dict(row)
            for row in conn.execute(
                sa.text(
                    "SELECT lp, lp_flags, t_xmin::text AS xmin, t_xmax::text AS xmax, t_data"
                    " FROM heap_page_items(get_raw_page(:t, :b)) WHERE lp_flags <> 0"
                ),
                {"t": table, "b": block},
            ).mappings()
        ]
    return items


def files_of(tables: list[str]) -> dict[str, int]:
    """Return each table's relfilenode (VACUUM FULL gives a table a new file)."""
    with db.engine.connect() as conn:
        return {
            t: conn.execute(
                sa.text("SELECT relfilenode FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                {"t": t},
            ).scalar_one()
            for t in tables
        }


def horizon_settled(tables: list[str], before: dict[str, int] | None = None) -> None:
    """Check the app rewrote the tables, then wait until no dead tuple is left, or skip.

    PostgreSQL keeps a dead tuple while any transaction on the server (in any database) that
    started before its deletion is still running, so on a busy test server the app's VACUUM
    FULL may leave some behind through no fault of its own: then this waits and rewrites
    again. That the app did rewrite is checked first, by the tables' new files.
    """
    from kldialog.kernel.db import rewrite_tables

    if before is not None:
        after = files_of(tables)
        assert all(after[t] != before[t] for t in tables), "the app did not rewrite the tables"
    for _attempt in range(30):
        with db.engine.connect() as conn:
            dead = [i for t in tables for i in heap(conn, t, toast=True) if i["xmax"] != "0"]
        if not dead:
            return
        time.sleep(1)
        rewrite_tables(*tables)
    pytest.skip("other transactions on this server kept holding the vacuum horizon")


def test_after_close_no_group_below_k_stands_apart_in_storage(
    tmp_path: Path, database_url: str
) -> None:
    # n = 11 = 2k + 1: two full batches, then one person whose answers wait until close.
    app = reader_app(tmp_path, database_url, SURVEY_FLUSH_BATCH=5, SURVEY_MIN_GROUP_SIZE=5)
    with app.app_context(), disposing():
        survey_id, scales, text_id = wide_survey()
        for number, person in enumerate(people(11)):
            answer(person, survey_id, scales, text_id, f"T{number}")
        assert storage.staged_count(survey_id) == 1
        tables = ["survey_answer", "survey_response", "survey_staged_response"]
        before = files_of(tables) if TEST_DATABASE_URL else None
        close_now(survey_id)
        by_text = dict(
            db.session.execute(
                sa.select(SurveyAnswer.text, SurveyAnswer.response_id).where(
                    SurveyAnswer.text.is_not(None)
                )
            ).all()
        )
        last = by_text["T10"]
        db.session.remove()
        if not TEST_DATABASE_URL:
            from .sqlite_pages import leaf_cells, singled_out

            cells = leaf_cells(sqlite_file(app), "survey_answer")
            assert len(cells) == 11 * 4
            # Record order: id, response_id, ...; the keys are hex UUIDs on SQLite.
            assert not singled_out(cells, {last.hex}, column=1)
            db.engine.dispose()
            return
        horizon_settled(tables, before)
        with db.engine.connect() as conn:
            participation = set(
                conn.execute(sa.text("SELECT xmin::text FROM survey_participation")).scalars()
            )
            answers = heap(conn, "survey_answer")
            responses = heap(conn, "survey_response")
            assert heap(conn, "survey_staged_response") == []
            # Only live tuples, all written by the one closing transaction.
            assert all(item["lp_flags"] == 1 and item["xmax"] == "0" for item in answers)
            assert len({item["xmin"] for item in answers + responses}) == 1
            assert not {item["xmin"] for item in answers} & participation
            order = list(
                conn.execute(
                    sa.text("SELECT response_id FROM survey_answer ORDER BY ctid")
                ).scalars()
            )
            mine = [str(value) == str(last) for value in order]
            assert mine[-4:] != [True] * 4 and mine[:4] != [True] * 4
        db.engine.dispose()


def test_staged_answers_are_sealed_and_leave_no_trace_after_close_and_purge(
    tmp_path: Path, database_url: str
) -> None:
    app = reader_app(tmp_path, database_url, SURVEY_FLUSH_BATCH=1000)
    secrets = [f"GEHEIM-{uuid.uuid4().hex}-{'x' * n}" for n in (0, 40, 150)]
    with app.app_context(), disposing():
        survey_id, scales, text_id = wide_survey()
        for person, text in zip(people(3), secrets, strict=True):
            answer(person, survey_id, scales, text_id, text)
        sealed = list(db.session.scalars(sa.select(StagedResponse.sealed)))
        # One size for every answer set: the length says nothing about what was written.
        assert len({len(item) for item in sealed}) == 1
        from kldialog.surveys import sealing

        with app.test_request_context():
            app.config["SECRET_KEY"] = "another-secret-key-entirely"
            with pytest.raises(sealing.SealError):
                sealing.unseal(survey_id, sealed[0])
            app.config["SECRET_KEY"] = "test-secret-key-not-for-production"
        db.session.remove()

        tables = ["survey_staged_response", "survey_answer", "survey_response"]

        def traces(before: dict[str, int] | None = None) -> bytes:
            if not TEST_DATABASE_URL:
                return sqlite_file(app).read_bytes()
            horizon_settled(tables, before)
            with db.engine.connect() as conn:
                return b"".join(
                    bytes(item["t_data"] or b"")
                    for t in tables
                    for item in heap(conn, t, toast=True)
                )

        raw = traces()
        assert not any(text.encode() in raw for text in secrets)  # staged: ciphertext only
        assert all(item[13:45] in raw for item in sealed)
        before = files_of(tables) if TEST_DATABASE_URL else None
        close_now(survey_id)
        raw = traces(before)
        assert not any(item[13:45] in raw for item in sealed)  # no staged payload survives
        assert all(text.encode() in raw for text in secrets)  # now anonymous answers
        before = files_of(tables) if TEST_DATABASE_URL else None
        retention.purge_raw_answers(utcnow() + dt.timedelta(days=31 * 13))
        raw = traces(before)
        assert not any(text.encode() in raw for text in secrets)
        if TEST_DATABASE_URL:
            with db.engine.connect() as conn:
                participation = set(
                    conn.execute(sa.text("SELECT xmin::text FROM survey_participation")).scalars()
                )
                for table in ("survey_staged_response", "survey_answer", "survey_response"):
                    assert not {item["xmin"] for item in heap(conn, table)} & participation
        db.session.remove()
        db.engine.dispose()


def test_a_time_based_flush_moves_a_short_batch_only_by_rewriting_the_whole_answer_set(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    app.config.update(SURVEY_FLUSH_BATCH=5, SURVEY_FLUSH_MAX_HOURS=24)
    staff = make_user(Role.resident, Role.staff)
    crowd = [make_user(Role.resident) for _ in range(10)]
    with app.app_context():
        survey_id, scale_id, text_id = build_survey(db.session.merge(staff))
        small_id, small_scale, small_text = build_survey(db.session.merge(staff))
        for open_id in (survey_id, small_id):  # still open a day later
            services.get_survey(open_id).closes_at = utcnow() + dt.timedelta(days=7)
        db.session.commit()
        for number, person in enumerate(crowd[:7]):
            answer(db.session.merge(person), survey_id, [scale_id], text_id, f"T{number}")
        for number, person in enumerate(crowd[7:]):
            answer(db.session.merge(person), small_id, [small_scale], small_text, f"S{number}")
        before = set(db.session.scalars(sa.select(SurveyAnswer.id)))
        assert len(before) == 10 and storage.staged_count(survey_id) == 2
        assert storage.flush_due(utcnow() + dt.timedelta(hours=1)).moved == 0  # too young
        report = storage.flush_due(utcnow() + dt.timedelta(hours=25))
        assert report.moved == 2
        assert report.waiting == [small_id]  # 3 < k in all: they stay sealed in staging
        assert storage.staged_count(survey_id) == 0
        assert storage.staged_count(small_id) == 3
        assert storage.answer_set_count(small_id) == 0
        after = set(db.session.scalars(sa.select(SurveyAnswer.id)))
        # The two newcomers did not arrive as a batch of their own: every row is new.
        assert len(after) == 14 and not after & before
    result = app.test_cli_runner().invoke(args=["surveys", "flush"])
    assert result.exit_code == 0, result.output
