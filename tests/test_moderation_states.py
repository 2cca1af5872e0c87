"""The moderation state machine: every (state, action) pair, single and bulk, exact outcomes.

The expected outcomes are written out here, not read from kldialog.moderation.states, so a
change to the table (or a path that skips it) shows up as a failing case.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
import sqlalchemy as sa
from flask import Flask

from kldialog.auth.models import Role, User
from kldialog.comments import services as comments
from kldialog.comments.models import Comment, CommentReport, CommentStatus, ReportReason, Thread
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation
from kldialog.moderation import services
from kldialog.moderation.models import Action, Appeal, AppealOutcome, ModerationDecision
from kldialog.projects.models import Project

from .conftest import login

REASON = "Verstößt gegen die Regeln"
OLD_REASON = "Alter Grund"
STATES = ("pending", "published", "hidden", "appealed", "withdrawn")
BULK_ACTIONS = (Action.approve, Action.hide, Action.restore, Action.dismiss)


class Outcome(NamedTuple):
    """What one comment looks like after the decision."""

    status: CommentStatus
    hidden_reason: str
    open_reports: int
    appeal: str | None  # None: no appeal; "open"; or the outcome's value
    counted: int  # how much it adds to the thread's visible comment count
    author_blocked: bool


P, H, W = CommentStatus.published, CommentStatus.hidden, CommentStatus.pending
REFUSED = None
EXPECTED: dict[tuple[str, Action], Outcome | None] = {
    ("pending", Action.approve): Outcome(P, "", 0, None, 1, False),
    ("pending", Action.hide): Outcome(H, REASON, 0, None, 0, False),
    ("pending", Action.restore): REFUSED,
    ("pending", Action.dismiss): Outcome(P, "", 0, None, 1, False),
    ("pending", Action.block): Outcome(W, "", 1, None, 0, True),
    ("pending", Action.appeal_upheld): REFUSED,
    ("pending", Action.appeal_rejected): REFUSED,
    ("published", Action.approve): REFUSED,
    ("published", Action.hide): Outcome(H, REASON, 0, None, 0, False),
    ("published", Action.restore): REFUSED,
    ("published", Action.dismiss): Outcome(P, "", 0, None, 1, False),
    ("published", Action.block): Outcome(P, "", 1, None, 1, True),
    ("published", Action.appeal_upheld): REFUSED,
    ("published", Action.appeal_rejected): REFUSED,
    ("hidden", Action.approve): Outcome(P, "", 0, None, 1, False),
    ("hidden", Action.hide): REFUSED,
    ("hidden", Action.restore): Outcome(P, "", 0, None, 1, False),
    ("hidden", Action.dismiss): REFUSED,
    ("hidden", Action.block): Outcome(H, OLD_REASON, 1, None, 0, True),
    ("hidden", Action.appeal_upheld): REFUSED,
    ("hidden", Action.appeal_rejected): REFUSED,
    ("appealed", Action.approve): Outcome(P, "", 0, "upheld", 1, False),
    ("appealed", Action.hide): REFUSED,
    ("appealed", Action.restore): Outcome(P, "", 0, "upheld", 1, False),
    ("appealed", Action.dismiss): REFUSED,
    ("appealed", Action.block): Outcome(H, OLD_REASON, 1, "open", 0, True),
    ("appealed", Action.appeal_upheld): Outcome(P, "", 0, "upheld", 1, False),
    ("appealed", Action.appeal_rejected): Outcome(H, OLD_REASON, 0, "rejected", 0, False),
    ("withdrawn", Action.approve): REFUSED,
    ("withdrawn", Action.hide): REFUSED,
    ("withdrawn", Action.restore): REFUSED,
    ("withdrawn", Action.dismiss): Outcome(P, "", 0, None, 1, False),
    ("withdrawn", Action.block): Outcome(P, "", 1, None, 1, True),
    ("withdrawn", Action.appeal_upheld): REFUSED,
    ("withdrawn", Action.appeal_rejected): REFUSED,
}
# Before any decision: the same fields, for checking that a refusal changed nothing.
BEFORE = {
    "pending": Outcome(W, "", 1, None, 0, False),
    "published": Outcome(P, "", 1, None, 1, False),
    "hidden": Outcome(H, OLD_REASON, 1, None, 0, False),
    "appealed": Outcome(H, OLD_REASON, 1, "open", 0, False),
    "withdrawn": Outcome(P, "", 1, None, 1, False),
}
ALL_PAIRS = [(state, action) for state in STATES for action in Action]
BULK_PAIRS = [(state, action) for state in STATES for action in BULK_ACTIONS]


def test_the_expected_table_covers_every_state_and_action() -> None:
    assert set(EXPECTED) == set(ALL_PAIRS)
    assert len(EXPECTED) == 35


class World(NamedTuple):
    """The ids and accounts a test needs."""

    thread_id: int
    author: Any
    reporter: Any
    moderator: Any


@pytest.fixture
def world(app: Flask, make_user: Callable[..., Any], make_project: Callable[..., Any]) -> World:
    """A project with a discussion, an author, a reporter and a moderator."""
    project = make_project("Radweg am Bahnhof")
    with app.app_context():
        row = db.session.get(Project, project.id)
        row.thread = comments.open_thread("project")
        db.session.commit()
        thread_id = row.thread_id
    return World(
        thread_id,
        make_user(name="Anna Autorin"),
        make_user(name="Rita Melderin"),
        make_user(Role.moderator, name="Mira Moderatorin"),
    )


def make_comment(app: Flask, world: World, state: str) -> int:
    """Store a comment in a moderation state, with one open report; return its id."""
    status = {"pending": W, "published": P, "withdrawn": P}.get(state, H)
    with app.app_context():
        comment = Comment(
            thread_id=world.thread_id,
            author_id=world.author.id,
            body="" if state == "withdrawn" else f"Ein Kommentar ({state}).",
            status=status,
            hidden_reason=OLD_REASON if status is H else "",
            deleted_at=dt.datetime.now(dt.UTC) if state == "withdrawn" else None,
        )
        db.session.add(comment)
        db.session.flush()
        if status is P:  # the services count visible places, withdrawn ones included
            db.session.get(Thread, world.thread_id).comment_count += 1
        db.session.add(
            CommentReport(
                comment_id=comment.id, reporter_id=world.reporter.id, reason=ReportReason.spam
            )
        )
        if state == "appealed":
            db.session.add(Appeal(comment_id=comment.id, text="Bitte noch einmal ansehen."))
        db.session.commit()
        return comment.id


def outcome(app: Flask, world: World, comment_id: int) -> Outcome:
    """Read one comment's state back from the database."""
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        reports = db.session.scalar(
            sa.select(sa.func.count(CommentReport.id)).where(
                CommentReport.comment_id == comment_id, CommentReport.resolved_at.is_(None)
            )
        )
        appeal = db.session.scalar(sa.select(Appeal).where(Appeal.comment_id == comment_id))
        appeal_state = None
        if appeal is not None:
            appeal_state = "open" if appeal.decided_at is None else appeal.outcome.value
        counted = int(comment.status is P)
        blocked = db.session.get(User, world.author.id).is_blocked()
        return Outcome(
            comment.status, comment.hidden_reason, reports, appeal_state, counted, blocked
        )


def thread_count(app: Flask, world: World) -> int:
    with app.app_context():
        return db.session.get(Thread, world.thread_id).comment_count


def decision_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(ModerationDecision.id)))


def decide(app: Flask, world: World, ids: list[int], action: Action) -> None:
    """Decide through the service, as both the item page and the bulk form do."""
    with app.test_request_context():
        rows = [db.session.get(Comment, cid) for cid in ids]
        moderator = db.session.get(User, world.moderator.id)
        try:
            services.decide(moderator, rows, action, REASON, block_days=7)
        finally:
            db.session.rollback()


def check(app: Flask, world: World, ids: list[int], state: str, action: Action) -> None:
    """Assert every comment, the thread count and the log are as the table says."""
    expected = EXPECTED[(state, action)]
    after = expected if expected is not None else BEFORE[state]
    for cid in ids:
        assert outcome(app, world, cid) == after
    assert thread_count(app, world) == len(ids) * after.counted
    assert decision_count(app) == (0 if expected is None else len(ids))


@pytest.mark.parametrize(("state", "action"), ALL_PAIRS)
def test_single_decision_follows_the_table(
    app: Flask, world: World, state: str, action: Action
) -> None:
    cid = make_comment(app, world, state)
    assert outcome(app, world, cid) == BEFORE[state]
    if EXPECTED[(state, action)] is None:
        with pytest.raises(RuleViolation):
            decide(app, world, [cid], action)
    else:
        decide(app, world, [cid], action)
    check(app, world, [cid], state, action)


@pytest.mark.parametrize(("state", "action"), ALL_PAIRS)
def test_bulk_decision_in_the_service_follows_the_table(
    app: Flask, world: World, state: str, action: Action
) -> None:
    ids = [make_comment(app, world, state), make_comment(app, world, state)]
    if EXPECTED[(state, action)] is None:
        with pytest.raises(RuleViolation):
            decide(app, world, ids, action)
    else:
        decide(app, world, ids, action)
    check(app, world, ids, state, action)


@pytest.mark.parametrize(("state", "action"), BULK_PAIRS)
def test_bulk_form_follows_the_table(app: Flask, world: World, state: str, action: Action) -> None:
    ids = [make_comment(app, world, state), make_comment(app, world, state)]
    client = app.test_client()
    login(client, world.moderator)
    client.post("/language", data={"lang": "de"})
    response = client.post(
        "/moderation/bulk",
        data={"ids": [str(i) for i in ids], "action": action.value, "reason": REASON},
    )
    if EXPECTED[(state, action)] is None:
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert "Es wurde nichts geändert" in page
        assert f"#{ids[0]}, #{ids[1]}" in page
    else:
        assert response.status_code == 303
    check(app, world, ids, state, action)


def test_one_refused_comment_stops_the_whole_bulk_action(app: Flask, world: World) -> None:
    pending = make_comment(app, world, "pending")
    withdrawn = make_comment(app, world, "withdrawn")
    client = app.test_client()
    login(client, world.moderator)
    client.post("/language", data={"lang": "de"})
    response = client.post(
        "/moderation/bulk",
        data={"ids": [str(pending), str(withdrawn)], "action": "hide", "reason": REASON},
    )
    assert response.status_code == 200
    assert (
        f"für 1 der ausgewählten Kommentare in ihrem jetzigen Zustand nicht möglich (#{withdrawn})"
        in (response.get_data(as_text=True))
    )
    assert outcome(app, world, pending) == BEFORE["pending"]
    assert outcome(app, world, withdrawn) == BEFORE["withdrawn"]
    assert decision_count(app) == 0


def test_bulk_approve_of_an_appealed_comment_closes_the_appeal(app: Flask, world: World) -> None:
    cid = make_comment(app, world, "appealed")
    client = app.test_client()
    login(client, world.moderator)
    assert f"/moderation/comments/{cid}" in client.get("/moderation?filter=appeals").text
    response = client.post(
        "/moderation/bulk", data={"ids": [str(cid)], "action": "approve", "reason": REASON}
    )
    assert response.status_code == 303
    with app.app_context():
        appeal = db.session.scalar(sa.select(Appeal).where(Appeal.comment_id == cid))
        assert appeal.decided_at is not None
        assert appeal.outcome is AppealOutcome.upheld
    assert outcome(app, world, cid) == Outcome(P, "", 0, "upheld", 1, False)
    assert f"/moderation/comments/{cid}" not in client.get("/moderation?filter=appeals").text


def test_hide_on_a_withdrawn_comment_is_refused_with_the_reason(app: Flask, world: World) -> None:
    cid = make_comment(app, world, "withdrawn")
    client = app.test_client()
    login(client, world.moderator)
    client.post("/language", data={"lang": "de"})
    response = client.post(
        "/moderation/bulk", data={"ids": [str(cid)], "action": "hide", "reason": REASON}
    )
    assert response.status_code == 200
    assert "Die Verfasser:in hat diesen Kommentar zurückgezogen" in response.text
    page = client.get(f"/moderation/comments/{cid}").text
    assert 'value="hide"' not in page
    response = client.post(f"/moderation/comments/{cid}", data={"action": "hide", "reason": REASON})
    assert response.status_code == 200
    assert outcome(app, world, cid) == BEFORE["withdrawn"]
    assert decision_count(app) == 0


@pytest.mark.parametrize(
    ("state", "offered"),
    [
        ("pending", ["approve", "hide", "block"]),
        ("published", ["hide", "dismiss", "block"]),
        ("hidden", ["restore", "block"]),
        ("appealed", ["appeal_upheld", "appeal_rejected", "block"]),
        ("withdrawn", ["dismiss", "block"]),
    ],
)
def test_item_page_offers_what_the_table_allows(
    app: Flask, world: World, state: str, offered: list[str]
) -> None:
    cid = make_comment(app, world, state)
    client = app.test_client()
    login(client, world.moderator)
    page = client.get(f"/moderation/comments/{cid}").text
    found = {a.value: page.find(f'name="action" value="{a.value}"') for a in Action}
    shown = [value for at, value in sorted((at, v) for v, at in found.items()) if at >= 0]
    assert shown == offered  # in the order the page lists them


def test_withdrawn_comments_leave_the_queue_except_for_open_reports(
    app: Flask, world: World
) -> None:
    cid = make_comment(app, world, "appealed")
    pending = make_comment(app, world, "pending")
    with app.app_context():
        for comment in db.session.scalars(sa.select(Comment).where(Comment.id.in_([cid, pending]))):
            comment.deleted_at = dt.datetime.now(dt.UTC)
        db.session.commit()
    client = app.test_client()
    login(client, world.moderator)
    for url in ["/moderation?filter=appeals", "/moderation?filter=pending"]:
        page = client.get(url).text
        assert f"/moderation/comments/{cid}" not in page
        assert f"/moderation/comments/{pending}" not in page
    page = client.get("/moderation?filter=reported").text
    assert f"/moderation/comments/{cid}" in page
    assert f"/moderation/comments/{pending}" in page


def test_a_moderator_cannot_block_staff_through_the_service(
    app: Flask, world: World, make_user: Callable[..., Any]
) -> None:
    staff = make_user(Role.staff, name="Sven Verwaltung")
    with app.test_request_context():
        thread = db.session.get(Thread, world.thread_id)
        cid = comments.post_comment(db.session.get(User, staff.id), thread, "Von der Stadt.").id
    with app.test_request_context(), pytest.raises(RuleViolation):
        services.decide(
            db.session.get(User, world.moderator.id),
            [db.session.get(Comment, cid)],
            Action.block,
            REASON,
        )
    with app.app_context():
        assert db.session.get(User, staff.id).blocked_until is None
    assert decision_count(app) == 0


@pytest.mark.parametrize("page", ["10" + "0" * 20, "²", "٣", "-4", "", "abc"])
def test_bulk_page_parameter_is_bounded(app: Flask, world: World, page: str) -> None:
    cid = make_comment(app, world, "published")
    client = app.test_client()
    login(client, world.moderator)
    response = client.post(
        "/moderation/bulk",
        data={"ids": [str(cid)], "action": "approve", "reason": REASON, "page": page},
    )
    assert response.status_code == 200
    assert f'value="{cid}"' in response.text
