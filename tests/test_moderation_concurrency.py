"""Two moderators at once: decisions are serialised, and a decision on an outdated page is refused.

Without the lock and the fresh read in services.decide, two moderators who opened the same
comment both "win": two decisions are logged, the thread's visible count moves twice and an
appeal can be closed twice. Without the version check, the second moderator's click silently
overrides what the first decided a moment ago.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from kldialog import create_app
from kldialog.auth.models import Role, User
from kldialog.comments.models import Comment, CommentStatus, Thread
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation
from kldialog.moderation import services
from kldialog.moderation.models import Action, ModerationDecision

from .conftest import TEST_DATABASE_URL, base_config, empty_postgres_database, login
from .test_moderation_states import World, make_comment, thread_count, world  # noqa: F401

REASON = "Verstößt gegen die Regeln"


def decisions(app: Flask) -> list[str]:
    with app.app_context():
        return [a.value for a in db.session.scalars(sa.select(ModerationDecision.action))]


def status(app: Flask, comment_id: int) -> CommentStatus:
    with app.app_context():
        return db.session.get(Comment, comment_id).status


def test_a_decision_reads_the_comment_as_it_is_not_as_the_session_held_it(
    app: Flask,
    world: World,  # noqa: F811
) -> None:
    comment_id = make_comment(app, world, "published")
    with app.test_request_context():
        stale = db.session.get(Comment, comment_id)
        moderator = db.session.get(User, world.moderator.id)
        # Another moderator hid it after this page loaded: the row changed, the object did not.
        db.session.execute(
            sa.update(Comment)
            .where(Comment.id == comment_id)
            .values(status=CommentStatus.hidden, hidden_reason="Schon versteckt")
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            sa.update(Thread).where(Thread.id == world.thread_id).values(comment_count=0)
        )
        assert stale.status is CommentStatus.published
        with pytest.raises(RuleViolation):
            services.decide(moderator, [stale], Action.hide, REASON)
        db.session.commit()
    assert decisions(app) == []
    assert status(app, comment_id) is CommentStatus.hidden
    assert thread_count(app, world) == 0  # not moved a second time


def _seen_on(page: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
    assert match is not None, name
    return match.group(1)


def test_a_decision_taken_on_an_outdated_item_page_is_refused(
    app: Flask,
    world: World,  # noqa: F811
) -> None:
    comment_id = make_comment(app, world, "pending")
    client = app.test_client()
    login(client, world.moderator)
    page = client.get(f"/moderation/comments/{comment_id}").get_data(as_text=True)
    seen = _seen_on(page, "seen")
    csrf = _seen_on(page, "csrf_token")
    # Meanwhile a colleague approves it.
    with app.test_request_context():
        colleague = db.session.get(User, world.moderator.id)
        services.decide(colleague, [db.session.get(Comment, comment_id)], Action.approve, REASON)
    answer = client.post(
        f"/moderation/comments/{comment_id}",
        data={"csrf_token": csrf, "seen": seen, "action": "hide", "reason": REASON},
        headers={"Accept-Language": "de"},
    )
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert f"Nichts wurde geändert: Über #{comment_id} wurde inzwischen" in text
    assert decisions(app) == ["approve"]
    assert status(app, comment_id) is CommentStatus.published
    # The page now carries the current version: deciding again works.
    fresh = _seen_on(text, "seen")
    assert fresh != seen
    answer = client.post(
        f"/moderation/comments/{comment_id}",
        data={"csrf_token": csrf, "seen": fresh, "action": "hide", "reason": REASON},
    )
    assert answer.status_code == 303
    assert decisions(app) == ["approve", "hide"]


def test_a_bulk_decision_on_an_outdated_queue_changes_nothing(
    app: Flask,
    world: World,  # noqa: F811
) -> None:
    first = make_comment(app, world, "pending")
    second = make_comment(app, world, "pending")
    client = app.test_client()
    login(client, world.moderator)
    page = client.get("/moderation").get_data(as_text=True)
    data = {
        "csrf_token": _seen_on(page, "csrf_token"),
        "ids": [str(first), str(second)],
        f"seen-{first}": _seen_on(page, f"seen-{first}"),
        f"seen-{second}": _seen_on(page, f"seen-{second}"),
        "action": "approve",
        "reason": REASON,
    }
    with app.test_request_context():
        colleague = db.session.get(User, world.moderator.id)
        services.decide(colleague, [db.session.get(Comment, second)], Action.hide, REASON)
    answer = client.post("/moderation/bulk", data=data)
    assert answer.status_code == 200
    assert f"#{second}" in answer.get_data(as_text=True)
    assert decisions(app) == ["hide"]
    assert (status(app, first), status(app, second)) == (
        CommentStatus.pending,
        CommentStatus.hidden,
    )


# --- real connections ------------------------------------------------------------------------


@pytest.fixture
def shared_app(tmp_path: Path, database_url: str) -> Iterator[Flask]:
    """Return an app whose database several threads share (file SQLite or PostgreSQL)."""
    url = database_url if TEST_DATABASE_URL else f"sqlite:///{tmp_path / 'race.sqlite'}"
    options = {"pool_size": 10, "max_overflow": 5} if TEST_DATABASE_URL else {}
    app = create_app(
        base_config(
            SQLALCHEMY_DATABASE_URI=url,
            SQLALCHEMY_ENGINE_OPTIONS=options,
            MAIL_OUTBOX=str(tmp_path / "outbox"),
        )
    )
    with app.test_request_context():
        if TEST_DATABASE_URL:
            empty_postgres_database()
        else:
            db.create_all()
    yield app
    with app.test_request_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def test_two_moderators_deciding_at_the_same_moment_are_serialised(shared_app: Flask) -> None:
    app = shared_app
    with app.test_request_context():
        users = [
            User(
                email=f"m{n}@example.org",
                password_hash="x",
                display_name=f"Mod {n}",
                display_name_key=f"mod {n}",
                roles=int(Role.moderator if n else Role.resident),
            )
            for n in range(3)
        ]
        db.session.add_all(users)
        thread = Thread(kind="project")
        db.session.add(thread)
        db.session.flush()
        comment = Comment(
            thread_id=thread.id,
            author_id=users[0].id,
            body="Strittig.",
            status=CommentStatus.pending,
        )
        db.session.add(comment)
        db.session.commit()
        comment_id, thread_id = comment.id, thread.id
        moderator_ids = [users[1].id, users[2].id]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(moderator_id: int, action: Action) -> None:
        with app.test_request_context():
            moderator = db.session.get(User, moderator_id)
            target = db.session.get(Comment, comment_id)
            db.session.rollback()  # start the race with no transaction open
            target = db.session.get(Comment, comment_id)
            barrier.wait(timeout=30)
            try:
                services.decide(moderator, [target], action, REASON)
                outcomes.append(f"{action.value}: saved")
            except RuleViolation:
                db.session.rollback()
                outcomes.append(f"{action.value}: refused")
            finally:
                db.session.remove()

    # Both saw it pending and approve it; whoever comes second must find it published, which
    # the state table refuses for "approve" — not log a second decision and count it twice.
    threads = [
        threading.Thread(target=attempt, args=(moderator_ids[0], Action.approve)),
        threading.Thread(target=attempt, args=(moderator_ids[1], Action.approve)),
    ]
    for thread_ in threads:
        thread_.start()
    for thread_ in threads:
        thread_.join(timeout=60)
    assert sorted(outcomes) == ["approve: refused", "approve: saved"], outcomes
    assert decisions(app) == ["approve"]
    with app.app_context():
        assert db.session.get(Thread, thread_id).comment_count == 1
