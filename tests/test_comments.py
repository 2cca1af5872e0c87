"""Comments from the residents' side: pages, rules, permissions, limits, privacy, queries."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from kldialog.auth.models import Role
from kldialog.comments import services
from kldialog.comments.models import Comment, CommentReport, CommentStatus, CommentSupport, Thread
from kldialog.kernel.db import db
from kldialog.projects.models import Project, Visibility

from .conftest import PASSWORD, count_queries, login


@pytest.fixture
def project(make_project: Any) -> Project:
    return make_project("Freies WLAN")


def comments(app: Flask) -> list[Comment]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(Comment).order_by(Comment.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def post(client: Any, slug: str, body: str, **kw: Any) -> Any:
    return client.post(f"/projects/{slug}/comments", data={"body": body}, **kw)


def test_resident_posts_and_sees_comment(
    app: Flask, client: Any, make_user: Any, project: Project
) -> None:
    user = make_user(Role.resident, name="Anna")
    login(client, user)
    response = post(client, project.slug, "Gute Idee!\nZweite Zeile")
    assert response.status_code == 303
    [comment] = comments(app)
    assert response.location.endswith(f"/projects/{project.slug}#comment-{comment.id}")
    page = client.get(f"/projects/{project.slug}").get_data(as_text=True)
    assert "Gute Idee!<br>" in page
    assert "Anna" in page
    with app.app_context():
        assert db.session.get(Project, project.id).thread.comment_count == 1


def make_comment(
    app: Flask, author: Any, project: Project, body: str = "Text", **fields: Any
) -> int:
    """Write a comment directly (service), return its id."""
    from kldialog.auth.models import User
    from kldialog.projects import threads

    with app.app_context():
        proj = db.session.get(Project, project.id)
        thread = threads.thread_of(proj, create=True)
        parent = db.session.get(Comment, fields.pop("parent")) if "parent" in fields else None
        comment = services.post_comment(db.session.get(User, author.id), thread, body, parent)
        for key, value in fields.items():
            setattr(comment, key, value)
        db.session.commit()
        return comment.id


def get(app: Flask, model: Any, key: Any) -> Any:
    with app.app_context():
        row = db.session.get(model, key)
        if row is not None:
            db.session.expunge(row)
        return row


# --- permission matrix ------------------------------------------------------------------------


ROLES = ["anonymous", "unconfirmed", "blocked", "resident", "author", "moderator"]


def person(kind: str, make_user: Any, author: Any) -> Any:
    if kind == "anonymous":
        return None
    if kind == "author":
        return author
    if kind == "unconfirmed":
        return make_user(Role.resident, email_confirmed_at=None)
    if kind == "blocked":
        return make_user(Role.resident, blocked_until=dt.datetime(9999, 1, 1, tzinfo=dt.UTC))
    if kind == "moderator":
        return make_user(Role.resident, Role.moderator)
    return make_user(Role.resident)


# expected status per route for each role: 303 done, 403 refused, 302 to login
MATRIX = {
    "post": {
        "anonymous": 302,
        "unconfirmed": 403,
        "blocked": 403,
        "resident": 303,
        "author": 303,
        "moderator": 303,
    },
    "reply": {
        "anonymous": 302,
        "unconfirmed": 403,
        "blocked": 403,
        "resident": 303,
        "author": 303,
        "moderator": 303,
    },
    "support": {
        "anonymous": 302,
        "unconfirmed": 403,
        "blocked": 403,
        "resident": 303,
        "author": 403,
        "moderator": 303,
    },
    "report": {
        "anonymous": 302,
        "unconfirmed": 403,
        "blocked": 403,
        "resident": 303,
        "author": 403,
        "moderator": 303,
    },
    "edit": {
        "anonymous": 302,
        "unconfirmed": 403,
        "blocked": 403,
        "resident": 403,
        "author": 303,
        "moderator": 403,
    },
    "delete": {
        "anonymous": 302,
        "unconfirmed": 403,
        "blocked": 403,
        "resident": 403,
        "author": 303,
        "moderator": 403,
    },
    "close": {
        "anonymous": 302,
        "unconfirmed": 403,
        "blocked": 403,
        "resident": 403,
        "author": 403,
        "moderator": 303,
    },
}


@pytest.mark.parametrize("action", list(MATRIX))
@pytest.mark.parametrize("kind", ROLES)
def test_permission_matrix(
    app: Flask, client: Any, make_user: Any, project: Project, action: str, kind: str
) -> None:
    author = make_user(Role.resident, name="Autorin")
    cid = make_comment(app, author, project, "Erster Kommentar")
    user = person(kind, make_user, author)
    if user is not None:
        login(client, user)
    url, data = {
        "post": (f"/projects/{project.slug}/comments", {"body": "Neu"}),
        "reply": (f"/comments/{cid}/reply", {"body": "Antwort"}),
        "support": (f"/comments/{cid}/support", {}),
        "report": (f"/comments/{cid}/report", {"reason": "spam"}),
        "edit": (f"/comments/{cid}/edit", {"body": "Geändert"}),
        "delete": (f"/comments/{cid}/delete", {}),
        "close": (f"/projects/{project.slug}/discussion/close", {"note": "Genug"}),
    }[action]
    response = client.post(url, data=data)
    assert response.status_code == MATRIX[action][kind], response.get_data(as_text=True)[:300]
    if MATRIX[action][kind] == 302:
        assert "/login" in response.location


def test_blocked_author_may_still_delete_own_comment(
    app: Flask, client: Any, make_user: Any, project: Project
) -> None:
    author = make_user(Role.resident)
    cid = make_comment(app, author, project)
    with app.app_context():
        from kldialog.auth.models import User

        db.session.get(User, author.id).blocked_until = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
        db.session.commit()
    login(client, author)
    assert client.post(f"/comments/{cid}/delete").status_code == 303


# --- posting and replying ---------------------------------------------------------------------


def test_reply_and_reply_to_reply_join_the_thread(
    app: Flask, client: Any, make_user: Any, project: Project
) -> None:
    a, b = make_user(Role.resident), make_user(Role.resident)
    cid = make_comment(app, a, project, "Frage")
    login(client, b)
    response = client.post(f"/comments/{cid}/reply", data={"body": "Antwort"})
    assert response.status_code == 303
    reply_id = comments(app)[-1].id
    assert response.location.endswith(f"/comments/{cid}#comment-{reply_id}")
    response = client.post(f"/comments/{reply_id}/reply", data={"body": "Antwort auf Antwort"})
    assert response.status_code == 303
    *_, first, second = comments(app)
    assert first.parent_id == cid and second.parent_id == cid
    assert get(app, Comment, cid).reply_count == 2
    page = client.get(f"/comments/{cid}").get_data(as_text=True)
    assert "Antwort auf Antwort" in page
    assert client.get(f"/comments/{reply_id}").status_code == 302


def test_reply_page_get_and_unknown_ids(
    app: Flask, client: Any, make_user: Any, project: Project
) -> None:
    a = make_user(Role.resident)
    cid = make_comment(app, a, project)
    login(client, make_user(Role.resident))
    assert client.get(f"/comments/{cid}/reply").status_code == 200
    for path in (
        "/comments/999",
        "/comments/999/reply",
        "/comments/999/report",
        "/comments/999/edit",
    ):
        assert client.get(path).status_code == 404
    assert client.post("/projects/unbekannt/comments", data={"body": "x"}).status_code == 404


@pytest.mark.parametrize("query", ["page=%C2%B2", "page=%D9%A3", f"page={10**20}", "sort=%20"])
def test_discussion_pages_read_page_and_sort_only_from_ascii_and_known_values(
    app: Flask, client: Any, make_user: Any, project: Project, query: str
) -> None:
    cid = make_comment(app, make_user(Role.resident), project)
    for path in (f"/projects/{project.slug}?{query}", f"/comments/{cid}?{query}"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert f'id="comment-{cid}"' in response.get_data(as_text=True), path


def test_comments_of_draft_projects_are_404_for_the_public(
    app: Flask, client: Any, make_user: Any, make_project: Any
) -> None:
    draft = make_project("Entwurf", state=Visibility.draft)
    staff = make_user(Role.staff)
    cid = make_comment(app, staff, draft)
    assert client.get(f"/comments/{cid}").status_code == 404
    login(client, make_user(Role.resident))
    assert client.get(f"/comments/{cid}").status_code == 404
    assert client.post(f"/comments/{cid}/support").status_code == 404
    assert post(client, draft.slug, "Hallo").status_code == 404


def test_replies_to_hidden_comments_are_refused(
    app: Flask, client: Any, make_user: Any, project: Project
) -> None:
    a = make_user(Role.resident)
    cid = make_comment(app, a, project, status=CommentStatus.hidden, hidden_reason="Beleidigung")
    login(client, make_user(Role.resident))
    assert client.post(f"/comments/{cid}/reply", data={"body": "Doch!"}).status_code == 403
    assert len(comments(app)) == 1
    page = client.get(f"/projects/{project.slug}").get_data(as_text=True)
    assert "von der Moderation ausgeblendet: Beleidigung" in page
    assert "Text" not in re.sub(r"<[^>]+>", " ", page.split('id="discussion"')[1]).split()


def test_closed_discussion_refuses_and_shows_the_note(
    app: Flask, client: Any, make_user: Any, project: Project
) -> None:
    moderator = make_user(Role.resident, Role.moderator)
    login(client, moderator)
    assert (
        client.post(f"/projects/{project.slug}/discussion/close", data={"note": ""}).status_code
        == 422
    )
    response = client.post(
        f"/projects/{project.slug}/discussion/close", data={"note": "Projekt beendet"}
    )
    assert response.status_code == 303
    client.post("/logout")
    login(client, make_user(Role.resident))
    page = client.get(f"/projects/{project.slug}").get_data(as_text=True)
    assert "Projekt beendet" in page and 'name="body"' not in page
    assert post(client, project.slug, "Trotzdem").status_code == 403
    assert comments(app) == []
    with app.app_context():
        thread = db.session.get(Project, project.id).thread
        with pytest.raises(services.RuleViolation):
            services.post_comment(
                db.session.get(
                    __import__("kldialog.auth.models", fromlist=["User"]).User, moderator.id
                ),
                thread,
                "x",
            )


def test_oversize_body_keeps_text_and_writes_nothing(
    app: Flask, client: Any, make_user: Any, project: Project
) -> None:
    login(client, make_user(Role.resident))
    text = "ä" * (app.config["COMMENT_MAX_LENGTH"] + 5)
    response = post(client, project.slug, text)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "höchstens 2.000" in page
    assert text in page
    assert comments(app) == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Thread.id))) == 0


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "javascript:alert(1)",
        '"><svg onload=alert(1)>',
    ],
)
def test_html_payloads_are_shown_as_text(
    app: Flask, client: Any, make_user: Any, project: Project, payload: str
) -> None:
    login(client, make_user(Role.resident))
    post(client, project.slug, payload + " https://example.org/x?a=1&b=2")
    page = client.get(f"/projects/{project.slug}").get_data(as_text=True)
    if "<" in payload:
        assert payload not in page.split('id="discussion"')[1]
    assert str(services.escape(payload)) in page
    assert 'href="https://example.org/x?a=1&amp;b=2" rel="nofollow ugc noopener"' in page
    assert 'href="javascript' not in page


# --- edit, delete -----------------------------------------------------------------------------


def test_edit_within_window_and_refused_after(
    app: Flask, client: Any, make_user: Any, project: Project
) -> None:
    author = make_user(Role.resident)
    cid = make_comment(app, author, project, "Alt")
    login(client, author)
    assert client.get(f"/comments/{cid}/edit").status_code == 200
    assert client.post(f"/comments/{cid}/edit", data={"body": "Neu"}).status_code == 303
    comment = get(app, Comment, cid)
    assert comment.body == "Neu" and comment.edited_at is not None
    assert "bearbeitet" in client.get(f"/projects/{project.slug}").get_data(as_text=True)
    with app.app_context():
        row = db.session.get(Comment, cid)
        row.created_at = row.created_at - dt.timedelta(
            minutes=app.config["COMMENT_EDIT_MINUTES"] + 1
        )
        db.session.commit()
    response = client.post(f"/comments/{cid}/edit", data={"body": "Zu spät"})
    assert response.status_code == 303
    assert get(app, Comment, cid).body == "Neu"


def test_delete_own_comment_keeps_replies(
    app: Flask, client: Any, make_user: Any, project: Project
) -> None:
    author, other = make_user(Role.resident), make_user(Role.resident)
    cid = make_comment(app, author, project, "Geheim")
    make_comment(app, other, project, "Eine Antwort", parent=cid)
    login(client, author)
    assert client.get(f"/comments/{cid}/delete").status_code == 200
    assert client.post(f"/comments/{cid}/delete").status_code == 303
    page = client.get(f"/projects/{project.slug}").get_data(as_text=True)
    assert "vom Verfasser gelöscht" in page and "Eine Antwort" in page and "Geheim" not in page


# --- support and report -----------------------------------------------------------------------


def test_support_once_and_withdraw(
    app: Flask, client: Any, make_user: Any, project: Project
) -> None:
    author, fan = make_user(Role.resident), make_user(Role.resident)
    cid = make_comment(app, author, project)
    login(client, fan)
    assert client.post(f"/comments/{cid}/support").status_code == 303
    assert client.post(f"/comments/{cid}/support").status_code == 303
    assert get(app, Comment, cid).support_count == 1
    with app.app_context():
        from kldialog.auth.models import User

        # a parallel request that got past the check: the primary key refuses, the count stays
        services.support_comment(db.session.get(User, fan.id), db.session.get(Comment, cid))
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CommentSupport)) == 1
    assert get(app, Comment, cid).support_count == 1
    assert client.post(f"/comments/{cid}/unsupport").status_code == 303
    assert get(app, Comment, cid).support_count == 0


def test_report_once_and_auto_hide(
    app: Flask, client: Any, make_user: Any, project: Project
) -> None:
    author = make_user(Role.resident)
    cid = make_comment(app, author, project, "Spam spam")
    login(client, author)
    assert client.get(f"/comments/{cid}/report").status_code == 403
    client.post("/logout")
    limit = app.config["REPORTS_TO_HIDE"]
    reporters = [make_user(Role.resident) for _ in range(limit)]
    login(client, reporters[0])
    assert client.get(f"/comments/{cid}/report").status_code == 200
    assert (
        client.post(f"/comments/{cid}/report", data={"reason": "other", "text": ""}).status_code
        == 422
    )
    assert client.post(f"/comments/{cid}/report", data={"reason": "spam"}).status_code == 303
    assert client.post(f"/comments/{cid}/report", data={"reason": "spam"}).status_code == 303
    for reporter in reporters[1:]:
        client.post("/logout")
        login(client, reporter)
        assert (
            client.post(f"/comments/{cid}/report", data={"reason": "offensive"}).status_code == 303
        )
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CommentReport)) == limit
    assert get(app, Comment, cid).status is CommentStatus.pending
    client.post("/logout")
    assert "Spam spam" not in client.get(f"/projects/{project.slug}").get_data(as_text=True)


def test_pending_comment_visible_only_to_its_author(
    app: Flask, client: Any, make_user: Any, project: Project
) -> None:
    author = make_user(Role.resident)
    cid = make_comment(app, author, project, "Geduldsprobe-7", status=CommentStatus.pending)
    assert "Geduldsprobe-7" not in client.get(f"/projects/{project.slug}").get_data(as_text=True)
    assert client.get(f"/comments/{cid}").status_code == 404
    login(client, author)
    page = client.get(f"/projects/{project.slug}").get_data(as_text=True)
    assert "Geduldsprobe-7" in page and "wartet auf Freigabe" in page


# --- security and limits ----------------------------------------------------------------------


def test_post_without_csrf_token_is_refused(app_factory: Any, make_project: Any) -> None:
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        from kldialog.auth import services as accounts
        from kldialog.projects.models import Category, Status

        user = accounts.create_confirmed_user(
            email="c@example.org", password=PASSWORD, display_name="Csrf", roles=[Role.resident]
        )
        cat = Category(name="K", slug="k")
        db.session.add(Project(slug="p", title="P", category=cat, status=Status.planned))
        db.session.commit()
        user_id = user.id
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = f"{user_id}:{get(app, type(user), user_id).session_token}"
        session["_fresh"] = True
    response = client.post("/projects/p/comments", data={"body": "Ohne Token"})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Comment.id))) == 0


def test_posting_is_rate_limited_per_account(app_factory: Any) -> None:
    app = app_factory(
        RATELIMIT_ENABLED=True, RATELIMIT_COMMENT="2 per minute", RATELIMIT_LOGIN="100 per minute"
    )
    with app.app_context():
        from kldialog.auth import services as accounts
        from kldialog.projects.models import Category, Status

        user = accounts.create_confirmed_user(
            email="r@example.org", password=PASSWORD, display_name="Rate", roles=[Role.resident]
        )
        db.session.add(
            Project(
                slug="p", title="P", category=Category(name="K", slug="k"), status=Status.planned
            )
        )
        db.session.commit()
        db.session.refresh(user)
        db.session.expunge(user)
    client = app.test_client()
    login(client, user)
    assert post(client, "p", "Eins").status_code == 303
    assert post(client, "p", "Zwei").status_code == 303
    response = post(client, "p", "Drei")
    assert response.status_code == 429
    assert "Zu viele Kommentare" in response.get_data(as_text=True)
    assert client.get("/projects/p").status_code == 200  # reading is not limited


def test_project_page_queries_do_not_grow_with_comments(
    app: Flask, client: Any, make_user: Any, make_project: Any
) -> None:
    author, reader = make_user(Role.resident), make_user(Role.resident)
    login(client, reader)

    def fill(title: str, count: int) -> str:
        project = make_project(title)
        with app.app_context():
            proj = db.session.get(Project, project.id)
            thread = Thread(kind="project", comment_count=count)
            proj.thread = thread
            db.session.flush()
            now = dt.datetime.now(dt.UTC)
            db.session.execute(
                sa.insert(Comment),
                [
                    {
                        "thread_id": thread.id,
                        "author_id": author.id,
                        "body": f"K {n}",
                        "created_at": now - dt.timedelta(seconds=n),
                    }
                    for n in range(count)
                ],
            )
            top = db.session.scalars(
                sa.select(Comment.id).where(Comment.thread_id == thread.id).limit(30)
            ).all()
            db.session.execute(
                sa.insert(Comment),
                [
                    {
                        "thread_id": thread.id,
                        "author_id": author.id,
                        "parent_id": parent,
                        "body": "R",
                    }
                    for parent in top
                    for _ in range(5)
                ],
            )
            db.session.commit()
        return project.slug

    small, large = fill("Klein", 10), fill("Groß", 2000)
    counts = []
    for slug in (small, large, small, large):
        with app.app_context(), count_queries() as statements:
            assert client.get(f"/projects/{slug}").status_code == 200
        counts.append(len(statements))
    assert counts[2] == counts[3], counts


# --- mail and account -------------------------------------------------------------------------


def test_reply_mail_only_when_opted_in(app_factory: Any, outbox: Any) -> None:
    app = app_factory()
    with app.app_context():
        from kldialog.auth import services as accounts
        from kldialog.auth.models import User
        from kldialog.projects.models import Category, Status

        a = accounts.create_confirmed_user(
            email="a@example.org", password=PASSWORD, display_name="Anna", roles=[Role.resident]
        )
        b = accounts.create_confirmed_user(
            email="b@example.org", password=PASSWORD, display_name="Bert", roles=[Role.resident]
        )
        db.session.add(
            Project(
                slug="p", title="P", category=Category(name="K", slug="k"), status=Status.planned
            )
        )
        db.session.commit()
        db.session.refresh(a)
        db.session.refresh(b)
        db.session.expunge_all()
    client = app.test_client()
    login(client, a)
    post(client, "p", "Frage")
    cid = comments(app)[0].id
    client.post("/logout")
    login(client, b)
    before = len(outbox())
    client.post(f"/comments/{cid}/reply", data={"body": "Antwort 1"})
    assert len(outbox()) == before
    client.post("/logout")
    login(client, a)
    assert client.post("/account/notifications", data={"notify_replies": "y"}).status_code == 303
    with app.app_context():
        assert db.session.get(User, a.id).notify_replies is True
    client.post("/logout")
    login(client, b)
    client.post(f"/comments/{cid}/reply", data={"body": "Antwort 2"})
    mails = outbox()[before:]
    assert [m["To"] for m in mails] == ["a@example.org"]
    assert f"/comments/{cid}" in mails[0].get_content()


def test_account_page_has_the_reply_mail_setting(client: Any, make_user: Any) -> None:
    login(client, make_user(Role.resident))
    page = client.get("/account").get_data(as_text=True)
    assert 'id="notify_replies"' in page


def test_export_and_deletion(app: Flask, client: Any, make_user: Any, project: Project) -> None:
    author, fan = make_user(Role.resident, name="Anna"), make_user(Role.resident)
    cid = make_comment(app, author, project, "Bleibt stehen")
    other = make_comment(app, fan, project, "Von Fan")
    login(client, author)
    client.post(f"/comments/{other}/support")
    data = client.get("/account/data.json").get_json()
    assert data["comments"][0]["text"] == "Bleibt stehen"
    assert data["comments"][0]["project"] == project.slug
    assert data["supported_comments"] == [
        {"comment": other, "since": data["supported_comments"][0]["since"]}
    ]
    assert get(app, Comment, other).support_count == 1
    response = client.post("/account/delete", data={"password": PASSWORD, "confirm": "y"})
    assert response.status_code == 303
    assert get(app, Comment, other).support_count == 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CommentSupport)) == 0
    assert get(app, Comment, cid).body == "Bleibt stehen"
    page = client.get(f"/projects/{project.slug}").get_data(as_text=True)
    assert "Bleibt stehen" in page and "gelöschtes Konto" in page and "Anna" not in page
