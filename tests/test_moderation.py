"""Moderation: queue, decisions with reasons, appeals, keywords, the log and the public report."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from kldialog import permissions
from kldialog.auth.models import Role, User
from kldialog.comments import services as comments
from kldialog.comments.models import Comment, CommentReport, CommentStatus, ReportReason, Thread
from kldialog.kernel.db import db
from kldialog.moderation import services
from kldialog.moderation.models import Action, Appeal, AppealOutcome, ModerationDecision
from kldialog.projects.models import Project

from .conftest import PASSWORD, count_queries, login

REASON = "Beleidigend gegenüber anderen"


@pytest.fixture
def world(app: Flask, make_user: Callable[..., Any], make_project: Callable[..., Any]) -> Any:
    """A project with a discussion, an author, three other residents and each kind of role."""

    class World:
        pass

    w = World()
    project = make_project("Radweg am Bahnhof")
    with app.app_context():
        row = db.session.get(Project, project.id)
        row.thread = comments.open_thread("project")
        db.session.commit()
        w.project_id, w.thread_id, w.slug = row.id, row.thread_id, row.slug
    w.author = make_user(name="Anna Autorin", email="anna@example.org")
    w.others = [make_user(name=f"Rita Melderin {i}") for i in range(3)]
    w.moderator = make_user(Role.moderator, name="Mira Moderatorin")
    w.staff = make_user(Role.staff, name="Sven Verwaltung")
    w.admin = make_user(Role.admin, name="Erika Admin")
    return w


def post(app: Flask, user_id: int, thread_id: int, text: str, parent_id: int | None = None) -> int:
    """Write a comment through the service; return its id."""
    with app.test_request_context():
        thread = db.session.get(Thread, thread_id)
        parent = db.session.get(Comment, parent_id) if parent_id else None
        return comments.post_comment(db.session.get(User, user_id), thread, text, parent).id


def report(app: Flask, reporter_ids: list[int], comment_id: int, reason=ReportReason.offensive):
    with app.test_request_context():
        for rid in reporter_ids:
            comment = db.session.get(Comment, comment_id)
            comments.report_comment(db.session.get(User, rid), comment, reason, "grob")


def decide(app: Flask, moderator_id: int, comment_ids: list[int], action: Action, **kw: Any):
    with app.test_request_context():
        rows = [db.session.get(Comment, cid) for cid in comment_ids]
        return [
            d.id
            for d in services.decide(
                db.session.get(User, moderator_id), rows, action, kw.pop("reason", REASON), **kw
            )
        ]


def state(app: Flask, comment_id: int) -> tuple[CommentStatus, str, int, int]:
    """Return status, hidden reason, open reports and the thread's visible count."""
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        open_reports = db.session.scalar(
            sa.select(sa.func.count(CommentReport.id)).where(
                CommentReport.comment_id == comment_id, CommentReport.resolved_at.is_(None)
            )
        )
        count = db.session.get(Thread, comment.thread_id).comment_count
        return comment.status, comment.hidden_reason, open_reports, count


# --- who may do what ------------------------------------------------------------------------------


def test_role_matrix_for_every_route(app: Flask, world: Any) -> None:
    cid = post(app, world.author.id, world.thread_id, "Ein Kommentar zum Radweg.")
    with app.app_context():
        from kldialog.comments.models import Keyword

        db.session.add(Keyword(word="spamwort"))
        db.session.commit()
        kid = db.session.scalar(sa.select(Keyword.id))
    moderator_gets = [
        "/moderation",
        f"/moderation/comments/{cid}",
        "/moderation/log",
        "/moderation/keywords",
        "/moderation?filter=appeals",
    ]
    moderator_posts = [
        "/moderation/bulk",
        f"/moderation/comments/{cid}",
        "/moderation/keywords",
        f"/moderation/keywords/{kid}/remove",
    ]
    people = {
        "resident": world.others[0],
        "staff": world.staff,
        "moderator": world.moderator,
        "admin": world.admin,
    }
    anonymous = app.test_client()
    for url in moderator_gets + ["/account/moderation"]:
        response = anonymous.get(url)
        assert response.status_code == 302 and "/login" in response.location, url
    for url in moderator_posts:
        assert anonymous.post(url, data={}).status_code == 302, url
    for url in ["/moderationsbericht", "/moderationsbericht.json"]:
        assert anonymous.get(url).status_code == 200, url
    for role, person in people.items():
        client = app.test_client()
        login(client, person)
        allowed = role in ("moderator", "admin")
        for url in moderator_gets:
            assert client.get(url).status_code == (200 if allowed else 403), (role, url)
        for url in moderator_posts[:3]:  # empty forms: refused, or re-shown with errors
            assert client.post(url, data={}).status_code == (200 if allowed else 403), (role, url)
        expected = (303, 404) if allowed else (403,)  # 404: the moderator removed it already
        response = client.post(moderator_posts[3], data={})
        assert response.status_code in expected, (role, "remove keyword")
        for url in ["/account/moderation", "/moderationsbericht", "/moderationsbericht.json"]:
            assert client.get(url).status_code == 200, (role, url)


def test_moderation_in_nav_only_for_moderators(app: Flask, world: Any) -> None:
    client = app.test_client()
    login(client, world.others[0])
    html = client.get("/account").get_data(as_text=True)
    assert 'href="/moderation"' not in html
    assert 'href="/account/moderation"' in html and 'href="/moderationsbericht"' in html
    client = app.test_client()
    login(client, world.moderator)
    assert 'href="/moderation"' in client.get("/").get_data(as_text=True)


# --- decisions -------------------------------------------------------------------------------


def test_reason_is_required_and_bad_input_never_fails(app: Flask, world: Any) -> None:
    cid = post(app, world.author.id, world.thread_id, "Ein Kommentar zum Radweg.")
    client = app.test_client()
    login(client, world.moderator)
    for data in [
        {"action": "hide", "reason": ""},
        {"action": "hide", "reason": "   "},
        {"action": "hide", "reason": "x" * 5000},
        {"action": "explode", "reason": REASON},
        {"action": "approve", "reason": REASON},  # not offered for a published comment
        {"action": "block", "reason": REASON},  # no duration
        {"action": "block", "reason": REASON, "block_days": "0"},
        {"action": "block", "reason": REASON, "block_days": "99999999999999"},
        {"action": "block", "reason": REASON, "block_days": "abc"},
        {"action": "block", "reason": REASON, "block_days": "3", "permanent": "y"},
        {},
    ]:
        response = client.post(f"/moderation/comments/{cid}", data=data)
        assert response.status_code == 200, data
        assert "kern-error" in response.get_data(as_text=True), data
    assert state(app, cid)[0] is CommentStatus.published
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(ModerationDecision.id))) == 0
        assert db.session.get(User, world.author.id).blocked_until is None
    for url in ["/moderation/comments/999999", "/moderation/comments/2147483647"]:
        assert client.get(url).status_code == 404
        assert client.post(url, data={"action": "hide", "reason": REASON}).status_code == 404
    assert client.get("/moderation/comments/99999999999999").status_code == 404
    assert client.post("/moderation/keywords/99999/remove").status_code == 404
    assert client.get("/moderation?filter=nonsense&page=-5").status_code == 200
    assert client.get("/moderation?page=abc").status_code == 200
    assert client.get("/moderation/log?page=999999").status_code == 200
    response = client.post(
        "/moderation/bulk",
        data={"ids": ["x", "-1", "99999999999"], "action": "hide", "reason": REASON},
    )
    assert response.status_code == 200
    response = client.post(
        "/moderation/bulk", data={"ids": [str(cid)], "action": "block", "reason": REASON}
    )
    assert response.status_code == 200
    assert state(app, cid)[0] is CommentStatus.published


def test_hide_through_the_page_resolves_reports_and_shows_the_reason(
    app: Flask, world: Any
) -> None:
    cid = post(app, world.author.id, world.thread_id, "Ein grober Kommentar.")
    report(app, [o.id for o in world.others[:2]], cid)
    assert state(app, cid) == (CommentStatus.published, "", 2, 1)
    client = app.test_client()
    login(client, world.moderator)
    page = client.get(f"/moderation/comments/{cid}").get_data(as_text=True)
    assert "Ein grober Kommentar." in page and "Radweg am Bahnhof" in page and "grob" in page
    response = client.post(f"/moderation/comments/{cid}", data={"action": "hide", "reason": REASON})
    assert response.status_code == 303
    assert state(app, cid) == (CommentStatus.hidden, REASON, 0, 0)
    log = client.get("/moderation/log").get_data(as_text=True)
    assert REASON in log and "Mira Moderatorin" in log
    # The queue is empty again: reports were resolved.
    assert "Hier wartet nichts" in client.get("/moderation").get_data(as_text=True)


def test_each_action_changes_status_counts_and_reports(app: Flask, world: Any) -> None:
    cid = post(app, world.author.id, world.thread_id, "Noch ein Kommentar.")
    report(app, [o.id for o in world.others], cid)  # three reports: pending review
    assert state(app, cid) == (CommentStatus.pending, "", 3, 0)
    decide(app, world.moderator.id, [cid], Action.dismiss)
    assert state(app, cid) == (CommentStatus.published, "", 0, 1)
    decide(app, world.moderator.id, [cid], Action.hide)
    assert state(app, cid) == (CommentStatus.hidden, REASON, 0, 0)
    decide(app, world.moderator.id, [cid], Action.restore, reason="Doch in Ordnung")
    assert state(app, cid) == (CommentStatus.published, "", 0, 1)
    with app.app_context():
        db.session.get(Thread, world.thread_id).is_premoderated = True
        db.session.commit()
    pending = post(app, world.others[0].id, world.thread_id, "Wartet auf Freigabe.")
    assert state(app, pending)[0] is CommentStatus.pending
    decide(app, world.moderator.id, [pending], Action.approve)
    assert state(app, pending) == (CommentStatus.published, "", 0, 2)
    with app.app_context():
        actions = db.session.scalars(
            sa.select(ModerationDecision.action).order_by(ModerationDecision.id)
        ).all()
    assert actions == [Action.dismiss, Action.hide, Action.restore, Action.approve]


def test_block_for_days_and_permanently_stops_commenting(app: Flask, world: Any) -> None:
    cid = post(app, world.author.id, world.thread_id, "Kommentar vor der Sperre.")
    client = app.test_client()
    login(client, world.moderator)
    response = client.post(
        f"/moderation/comments/{cid}",
        data={"action": "block", "reason": REASON, "block_days": "7"},
    )
    assert response.status_code == 303
    with app.test_request_context():
        author = db.session.get(User, world.author.id)
        until = author.blocked_until.replace(tzinfo=dt.UTC)
        assert dt.timedelta(days=6) < until - dt.datetime.now(dt.UTC) <= dt.timedelta(days=7)
        thread = db.session.get(Thread, world.thread_id)
        assert not permissions.can_comment(author, thread)
        assert permissions.can_comment(db.session.get(User, world.others[0].id), thread)
    assert state(app, cid)[0] is CommentStatus.published  # a block alone does not hide
    response = client.post(
        f"/moderation/comments/{cid}",
        data={"action": "block", "reason": REASON, "permanent": "y"},
    )
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(User, world.author.id).blocked_until.year == 9999
        assert (
            db.session.scalar(
                sa.select(sa.func.count()).where(ModerationDecision.action == Action.block)
            )
            == 2
        )


def test_moderator_cannot_block_themselves(app: Flask, world: Any) -> None:
    cid = post(app, world.moderator.id, world.thread_id, "Ein Kommentar der Moderatorin.")
    client = app.test_client()
    login(client, world.moderator)
    page = client.get(f"/moderation/comments/{cid}").get_data(as_text=True)
    assert 'value="block"' not in page
    client.post(
        f"/moderation/comments/{cid}", data={"action": "block", "reason": REASON, "permanent": "y"}
    )
    with app.app_context():
        assert db.session.get(User, world.moderator.id).blocked_until is None


def test_bulk_action_applies_one_reason_to_many(app: Flask, world: Any) -> None:
    ids = [post(app, world.author.id, world.thread_id, f"Kommentar {i}.") for i in range(3)]
    for cid in ids:
        report(app, [world.others[0].id], cid, ReportReason.spam)
    client = app.test_client()
    login(client, world.moderator)
    queue = client.get("/moderation?filter=reported").get_data(as_text=True)
    assert all(f'value="{cid}"' in queue for cid in ids)
    response = client.post(
        "/moderation/bulk", data={"ids": [str(ids[0]), str(ids[1])], "action": "hide", "reason": ""}
    )
    assert response.status_code == 200 and "kern-error" in response.get_data(True)
    response = client.post(
        "/moderation/bulk",
        data={"ids": [str(ids[0]), str(ids[1])], "action": "hide", "reason": "Werbung"},
    )
    assert response.status_code == 303
    assert state(app, ids[0])[:3] == (CommentStatus.hidden, "Werbung", 0)
    assert state(app, ids[1])[:3] == (CommentStatus.hidden, "Werbung", 0)
    assert state(app, ids[2])[:3] == (CommentStatus.published, "", 1)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(ModerationDecision.id))) == 2


# --- appeals ---------------------------------------------------------------------------------------


def test_appeal_once_only_own_hidden_and_upheld_restores(app: Flask, world: Any) -> None:
    cid = post(app, world.author.id, world.thread_id, "Ein strittiger Kommentar.")
    visible = post(app, world.author.id, world.thread_id, "Ein harmloser Kommentar.")
    decide(app, world.moderator.id, [cid], Action.hide)
    decide(app, world.moderator.id, [visible], Action.dismiss, reason="Kein Verstoß")
    author = app.test_client()
    login(author, world.author)
    page = author.get("/account/moderation").get_data(as_text=True)
    assert REASON in page and "Kein Verstoß" in page
    assert f'action="/account/moderation/{cid}/appeal"' in page
    assert f'action="/account/moderation/{visible}/appeal"' not in page
    # Only own (someone else's comment answers like a missing one), only hidden.
    other = app.test_client()
    login(other, world.others[0])
    assert (
        other.post(
            f"/account/moderation/{cid}/appeal", data={f"appeal-{cid}-text": "Das ist nicht meins."}
        ).status_code
        == 404
    )
    assert (
        author.post(
            f"/account/moderation/{visible}/appeal",
            data={f"appeal-{visible}-text": "Bitte nochmal prüfen."},
        ).status_code
        == 403
    )
    assert author.post("/account/moderation/999999/appeal").status_code == 404
    # Too short: the form says so.
    response = author.post(f"/account/moderation/{cid}/appeal", data={f"appeal-{cid}-text": "kurz"})
    assert response.status_code == 200 and "kern-error" in response.get_data(True)
    response = author.post(
        f"/account/moderation/{cid}/appeal",
        data={f"appeal-{cid}-text": "Das war sachliche Kritik am Projekt."},
    )
    assert response.status_code == 303
    response = author.post(
        f"/account/moderation/{cid}/appeal",
        data={f"appeal-{cid}-text": "Noch einmal, bitte prüfen."},
    )
    assert response.status_code == 303  # refused with a message; still one appeal
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Appeal.id))) == 1
    # The appeal lands in the queue.
    moderator = app.test_client()
    login(moderator, world.moderator)
    queue = moderator.get("/moderation?filter=appeals").get_data(as_text=True)
    assert f"/moderation/comments/{cid}" in queue
    item = moderator.get(f"/moderation/comments/{cid}").get_data(as_text=True)
    assert "Das war sachliche Kritik am Projekt." in item and 'value="appeal_upheld"' in item
    response = moderator.post(
        f"/moderation/comments/{cid}", data={"action": "appeal_upheld", "reason": "Zu Recht"}
    )
    assert response.status_code == 303
    assert state(app, cid)[:2] == (CommentStatus.published, "")
    with app.app_context():
        assert db.session.scalar(sa.select(Appeal.outcome)) is AppealOutcome.upheld
    assert "stattgegeben" in author.get("/account/moderation").get_data(True)
    assert f"/moderation/comments/{cid}" not in moderator.get("/moderation?filter=appeals").text


def test_appeal_rejected_keeps_it_hidden(app: Flask, world: Any) -> None:
    cid = post(app, world.author.id, world.thread_id, "Ein strittiger Kommentar.")
    decide(app, world.moderator.id, [cid], Action.hide)
    with app.app_context():
        services.appeal(
            db.session.get(User, world.author.id),
            db.session.get(Comment, cid),
            "Bitte noch einmal ansehen.",
        )
    decide(app, world.moderator.id, [cid], Action.appeal_rejected, reason="Bleibt dabei")
    assert state(app, cid)[:2] == (CommentStatus.hidden, REASON)


# --- the log is append-only --------------------------------------------------------------------------


def test_decision_table_refuses_update_and_delete(app: Flask, world: Any) -> None:
    cid = post(app, world.author.id, world.thread_id, "Ein Kommentar.")
    [did] = decide(app, world.moderator.id, [cid], Action.hide)
    with app.app_context():
        for statement in [
            sa.update(ModerationDecision).where(ModerationDecision.id == did).values(reason="x"),
            sa.delete(ModerationDecision).where(ModerationDecision.id == did),
        ]:
            with pytest.raises(sa.exc.DatabaseError):
                db.session.execute(statement)
                db.session.flush()
            db.session.rollback()
        assert db.session.get(ModerationDecision, did).reason == REASON


# --- keywords -------------------------------------------------------------------------------------------


def test_keywords_send_new_comments_to_the_queue(app: Flask, world: Any) -> None:
    client = app.test_client()
    login(client, world.moderator)
    assert client.post("/moderation/keywords", data={"word": ""}).status_code == 200
    assert client.post("/moderation/keywords", data={"word": "x" * 500}).status_code == 200
    assert client.post("/moderation/keywords", data={"word": "  Schimpfwort "}).status_code == 303
    response = client.post("/moderation/keywords", data={"word": "schimpfwort"})
    assert response.status_code == 200 and "kern-error" in response.get_data(True)
    assert "schimpfwort" in client.get("/moderation/keywords").get_data(True)
    cid = post(app, world.author.id, world.thread_id, "Das ist ein SCHIMPFWORT hier.")
    assert state(app, cid)[0] is CommentStatus.pending
    assert f"/moderation/comments/{cid}" in client.get("/moderation?filter=pending").text
    with app.app_context():
        from kldialog.comments.models import Keyword
        from kldialog.kernel.audit import AuditEntry

        kid = db.session.scalar(sa.select(Keyword.id))
        assert (
            db.session.scalar(
                sa.select(AuditEntry.action).where(AuditEntry.action.startswith("keyword."))
            )
            == "keyword.add"
        )
    assert client.post(f"/moderation/keywords/{kid}/remove").status_code == 303
    assert post_state_after_removal(app, world) is CommentStatus.published


def post_state_after_removal(app: Flask, world: Any) -> CommentStatus:
    cid = post(app, world.author.id, world.thread_id, "Wieder ein Schimpfwort.")
    return state(app, cid)[0]


# --- mail -----------------------------------------------------------------------------------------------


def test_author_gets_a_mail_with_action_and_reason(
    app: Flask, world: Any, outbox: Callable[[], list[Any]]
) -> None:
    author, moderator, thread_id = world.author, world.moderator, world.thread_id
    cid = post(app, author.id, thread_id, "Ein Kommentar.")
    decide(app, moderator.id, [cid], Action.hide)
    decide(app, moderator.id, [cid], Action.block, reason="Wiederholt", block_days=None)
    mails = outbox()
    assert len(mails) == 2
    assert all(m["To"] == "anna@example.org" for m in mails)
    first = mails[0].get_body().get_content()
    assert REASON in first and "/account/moderation" in first
    second = mails[1].get_body().get_content()
    assert "Wiederholt" in second and "9999" not in second


# --- the public report ----------------------------------------------------------------------------------


def test_public_report_splits_months_in_utc_and_times_the_first_real_decision(
    app: Flask, world: Any
) -> None:
    january = dt.datetime(2025, 1, 10, 9, 0, tzinfo=dt.UTC)
    late = dt.datetime(2025, 1, 31, 22, 0, tzinfo=dt.UTC)
    with app.app_context():
        reported = Comment(
            thread_id=world.thread_id,
            author_id=world.author.id,
            body="Gemeldet",
            created_at=january,
        )
        quiet = Comment(
            thread_id=world.thread_id, author_id=world.author.id, body="Still", created_at=late
        )
        db.session.add_all([reported, quiet])
        db.session.flush()
        for day, reporter in ((10, world.others[0]), (11, world.others[1])):
            db.session.add(
                CommentReport(
                    comment_id=reported.id,
                    reporter_id=reporter.id,
                    reason=ReportReason.spam,
                    created_at=january.replace(day=day),
                )
            )
        for comment, action, at in (
            (reported, Action.block, january.replace(day=12)),  # about the author: not timed
            (reported, Action.hide, january.replace(day=12, hour=10)),  # 49 h after 1st report
            (quiet, Action.hide, late + dt.timedelta(hours=3)),  # February, 3 h after writing
        ):
            db.session.add(
                ModerationDecision(
                    comment_id=comment.id,
                    moderator_id=world.moderator.id,
                    action=action,
                    reason="Grund",
                    created_at=at,
                )
            )
        db.session.commit()
    data = json.loads(app.test_client().get("/moderationsbericht.json").get_data(as_text=True))
    assert [(m["month"], m["hidden"], m["median_hours_to_decision"]) for m in data] == [
        ("2025-02", 1, 3.0),
        ("2025-01", 1, 49.0),
    ]
    assert [(m["published"], m["reported"], m["report_reasons"]) for m in data] == [
        (0, 0, {}),
        (2, 1, {"spam": 2}),
    ]


def test_public_report_counts_and_has_no_personal_data(app: Flask, world: Any) -> None:
    march = dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.UTC)
    with app.app_context():
        made = []
        for i in range(3):
            c = Comment(
                thread_id=world.thread_id,
                author_id=world.author.id,
                body=f"Text {i}",
                created_at=march,
            )
            db.session.add(c)
            made.append(c)
        pending = Comment(
            thread_id=world.thread_id,
            author_id=world.author.id,
            body="Wartet",
            status=CommentStatus.pending,
            created_at=march,
        )
        db.session.add(pending)
        db.session.flush()
        for reporter in world.others[:2]:
            db.session.add(
                CommentReport(
                    comment_id=made[0].id,
                    reporter_id=reporter.id,
                    reason=ReportReason.offensive,
                    created_at=march,
                )
            )
        db.session.add(
            CommentReport(
                comment_id=made[1].id,
                reporter_id=world.others[2].id,
                reason=ReportReason.spam,
                created_at=march,
            )
        )
        db.session.add(
            ModerationDecision(
                comment_id=made[0].id,
                moderator_id=world.moderator.id,
                action=Action.hide,
                reason="Beleidigung",
                created_at=march + dt.timedelta(hours=2),
            )
        )
        db.session.add(
            ModerationDecision(
                comment_id=made[1].id,
                moderator_id=world.moderator.id,
                action=Action.dismiss,
                reason="ok",
                created_at=march + dt.timedelta(hours=5),
            )
        )
        db.session.add(
            Appeal(
                comment_id=made[0].id,
                text="Bitte prüfen",
                created_at=march + dt.timedelta(days=1),
                decided_at=march + dt.timedelta(days=2),
                outcome=AppealOutcome.upheld,
            )
        )
        db.session.add(
            ModerationDecision(
                comment_id=made[0].id,
                moderator_id=world.moderator.id,
                action=Action.appeal_upheld,
                reason="Zu Recht",
                created_at=march + dt.timedelta(days=2),
            )
        )
        db.session.commit()
    client = app.test_client()
    data = json.loads(client.get("/moderationsbericht.json").get_data(as_text=True))
    assert data == [
        {
            "month": "2025-03",
            "published": 3,
            "reported": 2,
            "hidden": 1,
            "restored": 1,
            "report_reasons": {"offensive": 2, "spam": 1},
            "median_hours_to_decision": 3.5,
            "appeals": 1,
            "appeals_upheld": 1,
            "appeals_rejected": 0,
        }
    ]
    html = client.get("/moderationsbericht").get_data(as_text=True)
    assert "3,5" in html  # German by default
    assert "<caption" in html and 'scope="col"' in html and 'scope="row"' in html
    for secret in [
        "Anna",
        "anna@example.org",
        "Mira",
        "Rita",
        "Beleidigung",
        "Bitte prüfen",
        "Text 0",
    ]:
        assert secret not in html and secret not in json.dumps(data)
    client.post("/language", data={"lang": "en", "next": "/moderationsbericht"})
    assert "3.5" in client.get("/moderationsbericht").get_data(as_text=True)


# --- performance and CSRF -------------------------------------------------------------------------------


def _bulk_comments(app: Flask, world: Any, count: int) -> None:
    with app.app_context():
        authors = [world.author.id, world.others[0].id, world.others[1].id]
        db.session.add_all(
            Comment(
                thread_id=world.thread_id,
                author_id=authors[i % 3],
                body=f"K {i}",
                status=CommentStatus.pending,
            )
            for i in range(count)
        )
        db.session.commit()
        ids = db.session.scalars(sa.select(Comment.id).limit(count)).all()
        db.session.add_all(
            CommentReport(
                comment_id=cid, reporter_id=world.others[2].id, reason=ReportReason.spam, text="x"
            )
            for cid in ids[::2]
        )
        db.session.commit()


@pytest.mark.parametrize("url", ["/moderation", "/moderation?filter=reported", "/moderation/log"])
def test_queue_queries_do_not_grow_with_the_queue(
    app_factory: Callable[..., Flask], url: str
) -> None:
    assert _measure(app_factory(), 10, url) == _measure(app_factory(), 500, url)


def _measure(app: Flask, size: int, url: str) -> int:
    """Fill a fresh app with `size` queued comments by three authors; count the page's queries."""
    from kldialog.auth import services as accounts

    with app.app_context():
        thread = comments.open_thread("project")
        users = [
            accounts.create_confirmed_user(
                email=f"q{i}@example.org", password=PASSWORD, display_name=f"Q {i}", roles=[]
            )
            for i in range(4)
        ]
        moderator = accounts.create_confirmed_user(
            email="mod@example.org", password=PASSWORD, display_name="Mod", roles=[Role.moderator]
        )
        db.session.commit()
        rows = [
            Comment(
                thread_id=thread.id,
                author_id=users[i % 3].id,
                body=f"K {i}",
                status=CommentStatus.pending if i % 2 else CommentStatus.published,
            )
            for i in range(size)
        ]
        db.session.add_all(rows)
        db.session.flush()
        db.session.add_all(
            CommentReport(
                comment_id=c.id, reporter_id=users[3].id, reason=ReportReason.spam, text="x"
            )
            for c in rows[::2]
        )
        db.session.add_all(
            ModerationDecision(
                comment_id=c.id, moderator_id=moderator.id, action=Action.dismiss, reason="ok"
            )
            for c in rows[: min(size, 60)]
        )
        db.session.commit()
    client = app.test_client()
    client.post("/login", data={"email": "mod@example.org", "password": PASSWORD})
    with app.app_context(), count_queries() as statements:
        response = client.get(url)
    assert response.status_code == 200
    assert response.get_data(as_text=True).count("kern-table__row") > 5
    return len(statements)


def test_posts_without_csrf_token_are_refused(app_factory: Callable[..., Flask]) -> None:
    from kldialog.auth import services as accounts

    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        thread = comments.open_thread("project")
        author, moderator = (
            accounts.create_confirmed_user(
                email=f"{name}@example.org", password=PASSWORD, display_name=name, roles=roles
            )
            for name, roles in [("autor", []), ("moderatorin", [Role.moderator])]
        )
        db.session.commit()
        thread_id = thread.id
        author_id, moderator_email = author.id, moderator.email
    cid = post(app, author_id, thread_id, "Ein Kommentar.")
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(
        "/login", data={"email": moderator_email, "password": PASSWORD, "csrf_token": token}
    )
    for url, data in [
        (f"/moderation/comments/{cid}", {"action": "hide", "reason": REASON}),
        ("/moderation/bulk", {"ids": [str(cid)], "action": "hide", "reason": REASON}),
        ("/moderation/keywords", {"word": "neu"}),
    ]:
        assert client.post(url, data=data).status_code in (200, 400), url
    assert state(app, cid)[0] is CommentStatus.published
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(ModerationDecision.id))) == 0
