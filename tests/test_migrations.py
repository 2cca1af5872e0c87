"""Migrations: upgrade an empty database to head, match the models, and downgrade again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade

from kldialog import create_app
from kldialog.kernel.db import db

from .conftest import TEST_DATABASE_URL, base_config, own_postgres_database


@pytest.fixture
def empty_database_app(tmp_path: Path) -> Iterator[Flask]:
    """Return an app on a database with no tables at all (its own, on SQLite or PostgreSQL)."""
    if TEST_DATABASE_URL:
        with own_postgres_database(TEST_DATABASE_URL) as url:
            app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url))
            yield app
            with app.app_context():
                db.engine.dispose()
        return
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/m.sqlite"))
    yield app
    with app.app_context():
        db.engine.dispose()


def test_upgrade_head_on_empty_database_matches_the_models(empty_database_app: Flask) -> None:
    with empty_database_app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
        assert differences == [], f"models and migrations differ: {differences}"


def test_downgrade_to_base_removes_every_table(empty_database_app: Flask) -> None:
    with empty_database_app.app_context():
        upgrade()
        downgrade(revision="base")
        tables = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert tables == set()
        upgrade()  # and up again, as a deploy after a rollback would
        assert "project" in sa.inspect(db.engine).get_table_names()


def test_database_constraints_hold_without_the_app(empty_database_app: Flask) -> None:
    with empty_database_app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            conn.execute(
                sa.text("INSERT INTO category (id, slug, name, position) VALUES (1, 'a', 'A', 0)")
            )
            insert = (
                "INSERT INTO project (slug, title, summary, description, category_id,"
                " is_category_editorial, status, status_changed_on, status_precision, progress,"
                " department, search_text, created_at, updated_at) VALUES"
                " (:slug, 'T', '', '', 1, false, :status, '2020-01-01', 'day', :progress, '', '',"
                " '2020-01-01', '2020-01-01')"
            )
            conn.execute(sa.text(insert), {"slug": "ok", "status": "planned", "progress": 50})
            conn.commit()
            for values in (
                {"slug": "ok", "status": "planned", "progress": 1},  # duplicate slug
                {"slug": "b", "status": "done", "progress": 1},  # unknown status
                {"slug": "c", "status": "planned", "progress": 101},  # progress range
                {"slug": "", "status": "planned", "progress": 1},  # empty slug
            ):
                with pytest.raises(sa.exc.IntegrityError):
                    conn.execute(sa.text(insert), values)
                conn.rollback()


def test_english_texts_migrate_with_data_in_place(empty_database_app: Flask) -> None:
    """0030 adds nullable English columns without rebuilding tables other rows depend on."""
    project_insert = (
        "INSERT INTO project (slug, title, summary, description, category_id,"
        " is_category_editorial, status, status_changed_on, status_precision, department,"
        " search_text, created_at, updated_at, state) VALUES ('p', 'T', '', '', 1, false,"
        " 'planned', '2020-01-01', 'day', '', '', '2020-01-01', '2020-01-01', 'published')"
    )
    with empty_database_app.app_context():
        upgrade(revision="0029_mfa")
        with db.engine.connect() as conn:
            conn.execute(
                sa.text("INSERT INTO category (id, slug, name, position) VALUES (1, 'a', 'A', 0)")
            )
            conn.execute(sa.text(project_insert))
            conn.commit()
        upgrade(revision="0030_english")
        with db.engine.connect() as conn:
            row = conn.execute(sa.text("SELECT slug, title_en FROM project")).one()
            assert tuple(row) == ("p", None)
            conn.execute(sa.text("UPDATE category SET name_en = 'Ay' WHERE id = 1"))
            conn.commit()
            for table, column in (
                ("category", "name_en"),
                ("project", "title_en"),
                ("project", "summary_en"),
                ("project", "description_en"),
            ):
                # Empty is "not translated" and must be NULL, whoever writes.
                with pytest.raises(sa.exc.IntegrityError):
                    conn.execute(sa.text(f"UPDATE {table} SET {column} = ''"))
                conn.rollback()
        downgrade(revision="0029_mfa")
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM project")).scalar() == 1
            assert "name_en" not in {c["name"] for c in sa.inspect(conn).get_columns("category")}


def _row_counts(conn: sa.Connection) -> dict[str, int]:
    tables = [t for t in sa.inspect(conn).get_table_names() if t != "alembic_version"]
    return {t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}


def test_down_and_up_again_keep_every_row_the_older_schema_has(tmp_path: Path) -> None:
    """No migration loses rows it does not mean to drop, with the demo data in place.

    On SQLite, batch mode rebuilds tables by copy, DROP and rename; with foreign keys on, the
    DROP cascaded into the rows that point at the table (every ballot of a rebuilt round).
    """
    url = f"sqlite:///{tmp_path}/d.sqlite"
    with own_postgres_database(TEST_DATABASE_URL) if TEST_DATABASE_URL else nullcontext(url) as url:
        app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url, DEMO=True))
        with app.app_context():
            upgrade()
        assert app.test_cli_runner().invoke(args=["demo", "load"]).exit_code == 0
        with app.app_context():
            with db.engine.connect() as conn:
                at_head = _row_counts(conn)
            assert (
                min(at_head[t] for t in ("ballot_choice", "round_project", "comment_support")) > 0
            )
            downgrade(revision="0028_release_lag")
            with db.engine.connect() as conn:
                older = _row_counts(conn)
            assert older == {t: n for t, n in at_head.items() if t in older}
            upgrade()
            with db.engine.connect() as conn:
                assert _row_counts(conn) == at_head
            db.engine.dispose()
