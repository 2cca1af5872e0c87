"""A discussion page's statements use the thread's indexes, whoever reads it (SQLite plans)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from kldialog.auth.models import Role, User
from kldialog.comments import services
from kldialog.kernel.db import db
from kldialog.projects import threads
from kldialog.projects.models import Project

from .test_comments import make_comment


def plans(app: Flask, viewer_id: int | None, project_id: int) -> dict[str, str]:
    """Return the query plan of every statement of one discussion page, by statement."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        seen.append((statement, parameters))

    with app.test_request_context():
        viewer = db.session.get(User, viewer_id) if viewer_id else None
        thread = threads.thread_of(db.session.get(Project, project_id))
        assert thread is not None
        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            page = services.thread_page(thread, viewer)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
        assert page.comments and any(page.replies.values())
        result = {}
        connection = db.session.connection().connection.driver_connection
        for statement, parameters in seen:
            rows = connection.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
            result[statement] = "\n".join(str(row[-1]) for row in rows)
        return result


def test_the_discussion_reads_only_its_own_thread(
    app: Flask, make_project: Any, make_user: Any
) -> None:
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's planner without statistics; PostgreSQL plans from its own")
    author, reader = make_user(Role.resident), make_user(Role.resident)
    project, other = make_project("Freies WLAN"), make_project("Bürgerportal")
    for target in (project, other):
        for number in range(20):  # a page of them: the replies are looked up by a list of ids
            first = make_comment(app, author, target, f"Oben {number}")
        make_comment(app, author, target, "Antwort", parent=first)
    for viewer in (None, reader.id):
        for statement, plan in plans(app, viewer, project.id).items():
            assert "MULTI-INDEX OR" not in plan, (statement, plan)
            assert not any(line.startswith("SCAN comment") for line in plan.splitlines()), (
                statement,
                plan,
            )
            if statement.lstrip().startswith("SELECT count("):
                assert "COVERING INDEX ix_comment_top_visible" in plan, plan


def test_postgresql_walks_the_thread_in_order(
    app: Flask, make_project: Any, make_user: Any
) -> None:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL's planner (SQLite: the test above)")
    author = make_user(Role.resident)
    project = make_project("Freies WLAN")
    for number in range(30):
        make_comment(app, author, project, f"Oben {number}")
    with app.test_request_context():
        thread = threads.thread_of(db.session.get(Project, project.id))
        assert thread is not None
        seen: list[tuple[str, Any]] = []

        def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
            seen.append((statement, parameters))

        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            services.thread_page(thread, None)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
        cursor = db.session.connection().connection.driver_connection.cursor()
        # A few rows would be read whole; the plan for a long thread is what matters here.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        for statement, parameters in [s for s in seen if "FROM comment" in s[0]][:2]:
            cursor.execute("EXPLAIN " + statement, parameters)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            if "count(" in statement:
                assert "Index Only Scan using ix_comment_top_visible" in plan, plan
            else:
                assert "Sort" not in plan and "ix_comment_top_recent" in plan, plan
