"""The unlinkability proof: nothing in the database ties a person to their survey answers.

Runs on SQLite and, with KLDIALOG_TEST_DATABASE_URL, on PostgreSQL (transaction ids, heap order).
Also: a flush killed in the middle of writing (a real process exit) loses and duplicates nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
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
    services,
    settings,
    storage,
)
from kldialog.surveys.models import (
    Eligibility,
    QuestionKind,
    StagedResponse,
    SurveyAnswer,
    SurveyParticipation,
    SurveyResponse,
)

from .conftest import TEST_DATABASE_URL, base_config

ANONYMOUS_TABLES = {"survey_response", "survey_answer", "survey_staged_response"}
EXPECTED_COLUMNS = {
    "survey_response": {"id", "survey_id"},
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
