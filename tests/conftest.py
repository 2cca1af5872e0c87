"""Shared fixtures: app per test on SQLite (or PostgreSQL), client, runner, factories."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from kldialog import create_app, normalise_database_url
from kldialog.kernel.db import db
from kldialog.projects import roadmap_io, roadmap_parse, rules
from kldialog.projects.models import Category, Project, ProjectStatusChange, Status

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_ROADMAP = ROOT / "kldialog" / "data" / "roadmap-kaiserslautern-2019.json"
TEST_DATABASE_URL = os.environ.get("KLDIALOG_TEST_DATABASE_URL", "")


def base_config(**overrides: Any) -> dict[str, Any]:
    """Return the config every test app starts from."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": "sqlite://",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        # Tests travel in time and count statements; tests/test_pagecache.py turns it on.
        "PAGE_CACHE_ENABLED": False,
        # Cheap argon2id for speed; production uses the defaults (test_auth checks the format).
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 8,
        "ARGON2_PARALLELISM": 1,
        # Off for the suite's staff and admin logins; tests/test_mfa.py turns it on.
        "MFA_REQUIRED_ROLES": (),
    }
    config.update(overrides)
    return config


@contextmanager
def own_postgres_database(url: str) -> Iterator[str]:
    """Create a PostgreSQL database for this run only, and drop it afterwards."""
    admin_url = sa.make_url(normalise_database_url(url))
    name = f"kldialog_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """Return in-memory SQLite, or a fresh PostgreSQL database when one is configured."""
    if not TEST_DATABASE_URL:
        yield "sqlite://"
        return
    with own_postgres_database(TEST_DATABASE_URL) as url:
        yield url


@pytest.fixture
def app_factory(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Return a factory for apps with extra config and empty tables, dropped after the test.

    Mail goes to tmp_path/outbox (read it with the `outbox` fixture), never to instance/.
    """
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        overrides.setdefault("MAIL_OUTBOX", str(tmp_path / "outbox"))
        app = create_app(base_config(SQLALCHEMY_DATABASE_URI=database_url, **overrides))
        with app.app_context():
            if db.engine.dialect.name == "postgresql":
                empty_postgres_database()
            else:  # in-memory SQLite: every app has a database of its own
                db.create_all()
        made.append(app)
        return app

    yield make
    for app in reversed(made):
        with app.app_context():
            db.session.remove()
            if db.engine.dialect.name != "postgresql":  # the next test empties PostgreSQL
                db.drop_all()
            db.engine.dispose()


_SCHEMA_CHECKED: set[str] = set()


def _schema_matches_the_models() -> None:
    """Once per process and database: rebuild the schema if its tables lack a model's column.

    The tables outlive a run (create_all only adds missing tables), so a run of older code on
    the same server would otherwise leave this one tables without its new columns. An advisory
    lock keeps the xdist workers from rebuilding at the same time.
    """
    url = str(db.engine.url)
    if url in _SCHEMA_CHECKED:
        return
    with db.engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(20261203)"))
        try:
            inspector = sa.inspect(conn)
            existing = set(inspector.get_table_names())
            stale = any(
                {c.name for c in table.columns}
                != {c["name"] for c in inspector.get_columns(table.name)}
                for table in db.metadata.sorted_tables
                if table.name in existing
            )
            if stale:
                conn.execute(sa.text("DROP SCHEMA public CASCADE"))
                conn.execute(sa.text("CREATE SCHEMA public"))
                conn.commit()
                db.metadata.create_all(conn)
                conn.commit()
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(20261203)"))
            conn.commit()
    _SCHEMA_CHECKED.add(url)


def empty_postgres_database() -> None:
    """Give the test empty tables: create what is missing, then truncate everything.

    Dropping and creating ~40 tables with their indexes and triggers for every test made the
    PostgreSQL run several times slower than one TRUNCATE of all tables.
    """
    _schema_matches_the_models()
    db.create_all()  # checks first: only after a test dropped the schema does it create tables
    names = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
    db.session.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    db.session.commit()


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    """Return an app with empty tables; no app context stays pushed during requests."""
    return app_factory()


@pytest.fixture
def ctx(app: Flask) -> Iterator[Flask]:
    """Push an app context for tests that call services and models directly."""
    with app.app_context():
        yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Return a test client."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """Return a CLI runner."""
    return app.test_cli_runner()


def load_bundled_roadmap() -> None:
    """Import the Kaiserslautern roadmap shipped with the package (inside an app context)."""
    data = json.loads(BUNDLED_ROADMAP.read_text("utf-8"))
    roadmap_io.import_roadmap(roadmap_parse.parse_roadmap_json(data))


@pytest.fixture
def kaiserslautern(app: Flask) -> Flask:
    """Load the real Kaiserslautern roadmap (25 projects, 12 categories)."""
    with app.app_context():
        load_bundled_roadmap()
    return app


@pytest.fixture
def make_project(app: Flask) -> Callable[..., Project]:
    """Return a factory that creates a project (and its category) with one history entry."""
    counter = iter(range(1, 1_000_000))

    def make(
        title: str | None = None,
        *,
        category: str = "Verwaltung",
        status: Status = Status.planned,
        summary: str = "",
        **fields: Any,
    ) -> Project:
        number = next(counter)
        title = title or f"Projekt {number}"
        with app.app_context():
            cat = db.session.scalar(sa.select(Category).where(Category.name == category))
            if cat is None:
                cat = Category(name=category, slug=rules.slugify(category))
                db.session.add(cat)
            project = Project(
                slug=fields.pop("slug", rules.slugify(title)),
                title=title,
                summary=summary,
                category=cat,
                status=status,
                **fields,
            )
            db.session.add(project)
            db.session.add(
                ProjectStatusChange(
                    project=project,
                    changed_on=fields.get("status_changed_on", dt.date.today()),
                    new_status=status,
                    reason="Test",
                )
            )
            db.session.commit()
            db.session.refresh(project)
            db.session.expunge(project)
            return project

    return make


@contextmanager
def count_queries() -> Iterator[list[str]]:
    """Collect the SQL statements run on the current app's engine."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


# --- accounts ------------------------------------------------------------------------------

PASSWORD = "correct horse battery staple"


@pytest.fixture
def make_user(app: Flask) -> Callable[..., Any]:
    """Return a factory for confirmed accounts, called with roles and optional fields."""
    from kldialog.auth import services as accounts

    counter = iter(range(1, 1_000_000))

    def make(*roles: Any, name: str | None = None, email: str | None = None, **fields: Any) -> Any:
        number = next(counter)
        with app.app_context():
            user = accounts.create_confirmed_user(
                email=email or f"person{number}@example.org",
                password=PASSWORD,
                display_name=name or f"Person {number}",
                roles=list(roles),
            )
            for key, value in fields.items():
                setattr(user, key, value)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    return make


def page_cache_app(
    app_factory: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Flask:
    """Return an app with the page cache on and a data-version file of its own.

    For the page-cache tests' `app` fixtures; a test parametrises one indirectly with more
    configuration.
    """
    monkeypatch.setenv("KLDIALOG_INSTANCE_PATH", str(tmp_path / "instance"))
    return app_factory(PAGE_CACHE_ENABLED=True, **getattr(request, "param", {}))


def login(client: FlaskClient, user: Any, password: str = PASSWORD) -> None:
    """Log a user in through the login form (CSRF off in the default test app)."""
    response = client.post("/login", data={"email": user.email, "password": password})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]


@pytest.fixture
def outbox(tmp_path: Path) -> Callable[[], list[Any]]:
    """Return a reader for mails written to tmp_path/outbox (pass MAIL_OUTBOX to app_factory)."""
    import email
    from email import policy

    folder = tmp_path / "outbox"

    def read() -> list[Any]:
        if not folder.exists():
            return []
        return [
            email.message_from_bytes(path.read_bytes(), policy=policy.default)
            for path in sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
        ]

    read.folder = folder  # type: ignore[attr-defined]
    return read
