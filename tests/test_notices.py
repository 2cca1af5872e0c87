"""Participation notices (issue 14 §2): opt-in, queue, one-click unsubscribe, digest, retries."""

from __future__ import annotations

import datetime as dt
import logging
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from kldialog.auth.models import Role, User
from kldialog.comments.models import Comment, CommentStatus
from kldialog.kernel.db import db
from kldialog.notices import preferences, producers, sender
from kldialog.notices.models import MailState, NoticeKind, NoticePreference, QueuedMail
from kldialog.personal_data import services as personal_data
from kldialog.priorities.models import Method, PriorityRound, RoundState
from kldialog.projects import threads
from kldialog.projects.models import (
    Project,
    ProjectFollow,
    ProjectStatusChange,
    ProjectUpdate,
    Status,
)
from kldialog.surveys.models import Survey, SurveyState
from kldialog.windows.models import Eligibility

from .conftest import login

BASE = "https://beteiligung.example"
NOW = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)  # a Monday


def _round(app: Flask, title: str = "Haushalt 2027", **fields: Any) -> int:
    with app.app_context():
        fields.setdefault("opens_at", NOW - dt.timedelta(hours=1))
        fields.setdefault("closes_at", NOW + dt.timedelta(days=14))
        round_ = PriorityRound(
            title=title, method=Method.approval, state=RoundState.published, **fields
        )
        db.session.add(round_)
        db.session.commit()
        return round_.id


def _opt_in(app: Flask, user: Any, *, openings: bool = True, digest: bool = False) -> None:
    user_id = user if isinstance(user, int) else user.id
    with app.app_context():
        preferences.set_preferences(db.session.get(User, user_id), openings=openings, digest=digest)


def _person(app: Flask, email: str) -> int:
    """Create a confirmed resident in an app made by app_factory; return the id."""
    from kldialog.auth import services as accounts

    with app.app_context():
        user = accounts.create_confirmed_user(
            email=email, password="correct horse battery staple",
            display_name=email.split("@")[0][:30], roles=[Role.resident],
        )  # fmt: skip
        db.session.commit()
        return user.id


def _queue(app: Flask, now: dt.datetime = NOW) -> dict[str, int]:
    with app.test_request_context(base_url=BASE):
        return producers.queue_due(now)


def _send(app: Flask, now: dt.datetime = NOW) -> sender.SendReport:
    with app.test_request_context(base_url=BASE):
        return sender.send_due(now)


def _mails(app: Flask) -> list[QueuedMail]:
    with app.app_context():
        return list(db.session.scalars(sa.select(QueuedMail).order_by(QueuedMail.id)))


# --- opt-in --------------------------------------------------------------------------------


def test_notices_are_off_until_the_person_ticks_them(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    user = make_user(Role.resident, language="en")
    login(client, user)
    page = client.get("/account").get_data(as_text=True)
    assert 'id="notice_openings" name="openings" value="y">' in page
    assert 'id="notice_digest" name="digest" value="y">' in page
    with app.app_context():
        stored = preferences.preference_of(db.session.get(User, user.id))
        assert (stored.openings, stored.digest) == (False, False)
    response = client.post("/account/notices", data={"openings": "y"})
    assert response.status_code == 303
    page = client.get("/account").get_data(as_text=True)
    assert 'id="notice_openings" name="openings" value="y" checked>' in page
    assert 'id="notice_digest" name="digest" value="y">' in page


def test_saving_the_settings_needs_the_csrf_token(
    app_factory: Callable[..., Flask], make_user: Callable[..., Any]
) -> None:
    app = app_factory(WTF_CSRF_ENABLED=True)
    user_id = _person(app, "csrf@example.org")
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    data = {"email": "csrf@example.org", "password": "correct horse battery staple"}
    assert client.post("/login", data={**data, "csrf_token": token[1]}).status_code == 303
    assert client.post("/account/notices", data={"openings": "y"}).status_code == 400
    with app.app_context():
        assert db.session.get(NoticePreference, user_id) is None
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/account").text)
    assert token is not None
    client.post("/account/notices", data={"openings": "y", "csrf_token": token[1]})
    with app.app_context():
        assert db.session.get(NoticePreference, user_id).openings is True


def test_no_mail_without_opt_in(
    app: Flask, make_user: Callable[..., Any], outbox: Callable[[], list[Any]]
) -> None:
    make_user(Role.resident, email="quiet@example.org")
    _opt_in(app, make_user(Role.resident, email="digest@example.org"), openings=False, digest=True)
    wanted = make_user(Role.resident, email="wants@example.org")
    _opt_in(app, wanted)
    _round(app)
    assert _queue(app) == {"openings": 1, "digest": 0}
    _send(app)
    assert [mail["To"] for mail in outbox()] == ["wants@example.org"]


def test_verified_rounds_only_notify_verified_residents(
    app: Flask, make_user: Callable[..., Any], outbox: Callable[[], list[Any]]
) -> None:
    for verified in (True, False):
        _opt_in(
            app,
            make_user(
                Role.resident, email=f"v{str(verified).lower()}@example.org", is_verified=verified
            ),
        )
    _round(app, eligibility=Eligibility.verified)
    _queue(app)
    _send(app)
    assert [mail["To"] for mail in outbox()] == ["vtrue@example.org"]


def test_queuing_only_writes_rows_and_the_sender_sends(
    app: Flask, make_user: Callable[..., Any], outbox: Callable[[], list[Any]]
) -> None:
    _opt_in(app, make_user(Role.resident))
    _round(app)
    _queue(app)
    assert outbox() == []
    assert [mail.state for mail in _mails(app)] == [MailState.due]
    _send(app)
    assert len(outbox()) == 1
    assert [mail.state for mail in _mails(app)] == [MailState.sent]


def test_saving_settings_in_a_request_sends_nothing(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any], outbox: Callable[[], list[Any]]
) -> None:
    _round(app)
    login(client, make_user(Role.resident))
    assert client.post("/account/notices", data={"openings": "y"}).status_code == 303
    assert outbox() == []
    assert _mails(app) == []


# --- idempotent ----------------------------------------------------------------------------


def test_a_round_is_queued_once_per_person_however_often_cron_runs(
    app: Flask, make_user: Callable[..., Any], outbox: Callable[[], list[Any]]
) -> None:
    _opt_in(app, make_user(Role.resident))
    _round(app)
    assert _queue(app)["openings"] == 1
    _send(app)
    assert _queue(app, NOW + dt.timedelta(minutes=5))["openings"] == 0
    _send(app, NOW + dt.timedelta(minutes=5))
    assert len(outbox()) == 1


def test_the_database_refuses_a_second_mail_for_the_same_round(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    user = make_user(Role.resident)
    with app.app_context():
        for _ in range(2):
            db.session.add(
                QueuedMail(user_id=user.id, kind=NoticeKind.openings, dedupe_key="round:1")
            )
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()


# --- language and unsubscribe --------------------------------------------------------------


def test_mail_is_in_the_persons_language(
    app: Flask, make_user: Callable[..., Any], outbox: Callable[[], list[Any]]
) -> None:
    for language in ("de", "en"):
        _opt_in(app, make_user(Role.resident, email=f"{language}@example.org", language=language))
    _round(app, title="Haushalt")
    _queue(app)
    _send(app)
    subjects = {mail["To"]: mail["Subject"] for mail in outbox()}
    assert subjects == {
        "de@example.org": "Jetzt offen: Priorisierungsrunde „Haushalt“",
        "en@example.org": "Now open: priority round “Haushalt”",
    }


def _unsubscribe_path(mail: Any) -> str:
    header = mail["List-Unsubscribe"]
    assert header.startswith(f"<{BASE}/notices/unsubscribe/")
    return urlsplit(header.strip("<>")).path


def test_one_click_unsubscribe_needs_no_login_and_no_csrf(
    app_factory: Callable[..., Flask], outbox: Callable[[], list[Any]]
) -> None:
    app = app_factory(WTF_CSRF_ENABLED=True)
    user_id = _person(app, "one@example.org")
    _opt_in(app, user_id, openings=True, digest=True)
    _round(app)
    _queue(app)
    _send(app)
    (mail,) = outbox()
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = _unsubscribe_path(mail)
    client = app.test_client()
    # GET only asks: a link scanner opening it changes nothing.
    page = client.get(path)
    assert page.status_code == 200
    assert f'action="{path}"' in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(NoticePreference, user_id).openings is True
    # What a mail program sends (RFC 8058 §3.1): no cookie, no CSRF token.
    response = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 303
    with app.app_context():
        stored = db.session.get(NoticePreference, user_id)
        assert (stored.openings, stored.digest) == (False, True)


def test_a_forged_unsubscribe_token_is_refused(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        token = preferences.unsubscribe_token(1, NoticeKind.openings)
    assert client.post(f"/notices/unsubscribe/{token[:-2]}xx").status_code == 400
    assert client.get("/notices/unsubscribe/nonsense").status_code == 400


def test_opting_out_drops_the_mails_still_waiting(
    app: Flask, make_user: Callable[..., Any], outbox: Callable[[], list[Any]]
) -> None:
    user = make_user(Role.resident)
    _opt_in(app, user)
    _round(app)
    _queue(app)
    _opt_in(app, user, openings=False)
    assert _mails(app) == []
    # A mail queued before an opt-out that bypassed the settings (e.g. a restored backup) is
    # checked again when sending.
    _opt_in(app, user)
    _queue(app, NOW + dt.timedelta(minutes=1))
    with app.app_context():
        db.session.execute(sa.update(NoticePreference).values(openings=False))
        db.session.commit()
    assert _send(app, NOW + dt.timedelta(minutes=1)).dropped == 1
    assert outbox() == []


# --- retries --------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_failed_mail_is_retried_with_backoff_and_given_up_without_the_address(
    app_factory: Callable[..., Flask],
    make_user: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = app_factory(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=_closed_port(), MAIL_USE_TLS=False,
        NOTICES_MAX_ATTEMPTS=3, NOTICES_RETRY_MINUTES=10,
    )  # fmt: skip
    user_id = _person(app, "retry.marker@example.org")
    _opt_in(app, user_id)
    _round(app)
    _queue(app)
    caplog.set_level(logging.INFO)
    assert _send(app).retried == 1
    (mail,) = _mails(app)
    assert (mail.attempts, mail.next_attempt_at) == (1, NOW + dt.timedelta(minutes=10))
    assert _send(app, NOW + dt.timedelta(minutes=9)).retried == 0  # not due yet
    assert _send(app, NOW + dt.timedelta(minutes=10)).retried == 1
    (mail,) = _mails(app)
    assert (mail.attempts, mail.next_attempt_at) == (2, NOW + dt.timedelta(minutes=30))
    assert _send(app, NOW + dt.timedelta(minutes=30)).given_up == 1
    (mail,) = _mails(app)
    assert (mail.state, mail.attempts) == (MailState.failed, 3)
    assert _send(app, NOW + dt.timedelta(days=1)).given_up == 0
    assert f"Queued mail {mail.id} (openings) given up after 3 attempts" in caplog.text
    assert "retry.marker" not in caplog.text


# --- one SMTP connection per batch ------------------------------------------------------------


@pytest.fixture
def smtp_server() -> Iterator[Any]:
    """A local SMTP server (aiosmtpd) that records each connection's messages."""
    from aiosmtpd.controller import Controller

    class Recorder:
        def __init__(self) -> None:
            self.sessions: list[Any] = []  # kept alive, so id() stays unique
            self.messages: list[bytes] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if all(known is not session for known in self.sessions):
                self.sessions.append(session)
            self.messages.append(envelope.content)
            return "250 OK"

    recorder = Recorder()
    recorder.port = _closed_port()  # type: ignore[attr-defined]
    controller = Controller(recorder, hostname="127.0.0.1", port=recorder.port)  # type: ignore[attr-defined]
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()


def test_the_sender_uses_one_smtp_connection_per_batch(
    app_factory: Callable[..., Flask], smtp_server: Any
) -> None:
    app = app_factory(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port, MAIL_USE_TLS=False,
        NOTICES_BATCH_SIZE=3,
    )  # fmt: skip
    with app.app_context():
        from kldialog.auth import services as accounts

        for number in range(7):
            user = accounts.create_confirmed_user(
                email=f"batch{number}@example.org", password="correct horse battery staple",
                display_name=f"Batch {number}", roles=[Role.resident],
            )  # fmt: skip
            db.session.add(NoticePreference(user_id=user.id, openings=True))
        db.session.commit()
    _round(app)
    _queue(app)
    assert _send(app).sent == 7
    assert len(smtp_server.messages) == 7
    assert len(smtp_server.sessions) == 3  # batches of 3, 3 and 1


# --- weekly digest -------------------------------------------------------------------------


def test_weekly_digest_is_one_mail_per_person_and_week(
    app: Flask,
    make_user: Callable[..., Any],
    make_project: Callable[..., Project],
    outbox: Callable[[], list[Any]],
) -> None:
    reader = make_user(Role.resident, email="reader@example.org", language="en")
    make_user(Role.resident, email="nofollow@example.org")
    quiet = make_user(Role.resident, email="quiet@example.org")
    _opt_in(app, reader, openings=False, digest=True)
    _opt_in(app, quiet, openings=False, digest=True)
    busy = make_project("Freies WLAN")
    calm = make_project("Ruhiges Projekt")
    with app.app_context():
        db.session.add(ProjectFollow(user_id=reader.id, project_id=busy.id))
        db.session.add(ProjectFollow(user_id=quiet.id, project_id=calm.id))
        project = db.session.get(Project, busy.id)
        for title in ("Erste Hotspots", "Zweite Hotspots"):
            db.session.add(
                ProjectUpdate(
                    project_id=busy.id, published_on=NOW.date(), title=title,
                    created_at=NOW - dt.timedelta(days=2),
                )
            )  # fmt: skip
        thread = threads.thread_of(project, create=True)
        for _ in range(3):
            db.session.add(
                Comment(
                    thread_id=thread.id, author_id=quiet.id, body="Gut",
                    status=CommentStatus.published, created_at=NOW - dt.timedelta(days=1),
                )
            )  # fmt: skip
        # The history entries make_project wrote are "now" in real time, not in the week.
        db.session.execute(sa.text("UPDATE project_status_change SET created_at = '2020-01-01'"))
        db.session.add(
            ProjectStatusChange(
                project_id=busy.id, changed_on=NOW.date(), old_status=Status.planned,
                new_status=Status.in_progress, created_at=NOW - dt.timedelta(days=3),
            )
        )  # fmt: skip
        db.session.commit()
    app.config["NOTICES_DIGEST_WEEKDAY"] = 1  # Tuesday: nothing on Monday
    assert _queue(app, NOW.replace(hour=1))["digest"] == 0
    app.config["NOTICES_DIGEST_WEEKDAY"] = 0
    assert _queue(app, NOW.replace(hour=1))["digest"] == 1
    assert _queue(app, NOW.replace(hour=2))["digest"] == 0  # same week
    assert _queue(app, NOW + dt.timedelta(days=1))["digest"] == 0  # not the digest weekday
    _send(app)
    (mail,) = outbox()
    assert mail["To"] == "reader@example.org"
    body = mail.get_content()
    assert "Freies WLAN" in body
    assert "New status: in progress" in body
    assert "News: Erste Hotspots" in body
    assert "News: Zweite Hotspots" in body
    assert "3 new comments" in body
    assert "Ruhiges Projekt" not in body
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_the_digest_does_not_count_the_readers_own_comments(
    app: Flask,
    make_user: Callable[..., Any],
    make_project: Callable[..., Project],
    outbox: Callable[[], list[Any]],
) -> None:
    writer = make_user(Role.resident, email="writer@example.org", language="en")
    other = make_user(Role.resident, email="other@example.org")
    _opt_in(app, writer, openings=False, digest=True)
    lively = make_project("Lebhaftes Projekt")
    mine_only = make_project("Nur eigene Beiträge")
    with app.app_context():
        db.session.execute(sa.text("UPDATE project_status_change SET created_at = '2020-01-01'"))
        for project, authors in ((lively, [writer, writer, other]), (mine_only, [writer])):
            db.session.add(ProjectFollow(user_id=writer.id, project_id=project.id))
            thread = threads.thread_of(db.session.get(Project, project.id), create=True)
            for author in authors:
                db.session.add(
                    Comment(
                        thread_id=thread.id, author_id=author.id, body="Meinung",
                        status=CommentStatus.published, created_at=NOW - dt.timedelta(days=1),
                    )
                )  # fmt: skip
        db.session.commit()
    app.config["NOTICES_DIGEST_WEEKDAY"] = 0
    assert _queue(app, NOW.replace(hour=1))["digest"] == 1
    _send(app)
    (mail,) = outbox()
    body = mail.get_content()
    assert "Lebhaftes Projekt" in body
    assert "1 new comment" in body
    assert "3 new comments" not in body
    assert "Nur eigene Beiträge" not in body  # nothing there but what the reader wrote


def test_no_digest_when_the_only_news_is_the_readers_own(
    app: Flask, make_user: Callable[..., Any], make_project: Callable[..., Project]
) -> None:
    writer = make_user(Role.resident, email="alone@example.org")
    _opt_in(app, writer, openings=False, digest=True)
    project = make_project("Stilles Projekt")
    with app.app_context():
        db.session.execute(sa.text("UPDATE project_status_change SET created_at = '2020-01-01'"))
        db.session.add(ProjectFollow(user_id=writer.id, project_id=project.id))
        thread = threads.thread_of(db.session.get(Project, project.id), create=True)
        db.session.add(
            Comment(
                thread_id=thread.id, author_id=writer.id, body="Ich",
                status=CommentStatus.published, created_at=NOW - dt.timedelta(days=1),
            )
        )  # fmt: skip
        db.session.commit()
    app.config["NOTICES_DIGEST_WEEKDAY"] = 0
    assert _queue(app, NOW.replace(hour=1))["digest"] == 0


# --- personal data --------------------------------------------------------------------------


def test_preferences_and_queued_mail_are_exported_and_erased(
    app: Flask, make_user: Callable[..., Any], outbox: Callable[[], list[Any]]
) -> None:
    user = make_user(Role.resident)
    _opt_in(app, user, openings=True, digest=True)
    _round(app)
    _queue(app)
    with app.app_context():
        person = db.session.get(User, user.id)
        data = personal_data.export_user_data(person)
        assert data["notice_settings"] == {"openings": True, "weekly_digest": True}
        assert [(m["about"], m["state"]) for m in data["notice_mails"]] == [("round:1", "due")]
        personal_data.erase_person(person)
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(QueuedMail)) == 0
        assert db.session.get(NoticePreference, user.id) is None
    _send(app)
    assert outbox() == []


def test_an_opened_survey_is_announced_too(
    app: Flask, make_user: Callable[..., Any], outbox: Callable[[], list[Any]]
) -> None:
    _opt_in(app, make_user(Role.resident, language="en"))
    with app.app_context():
        db.session.add(
            Survey(
                title="Radwege", state=SurveyState.published,
                opens_at=NOW - dt.timedelta(hours=2), closes_at=NOW + dt.timedelta(days=7),
            )
        )  # fmt: skip
        db.session.add(
            Survey(
                title="Entwurf", opens_at=NOW - dt.timedelta(hours=2),
                closes_at=NOW + dt.timedelta(days=7),
            )
        )  # fmt: skip
        db.session.commit()
    assert _queue(app)["openings"] == 1
    _send(app)
    (mail,) = outbox()
    assert mail["Subject"] == "Now open: survey “Radwege”"
    assert "/surveys/" in mail.get_content()


def test_cron_command_queues_and_sends(
    app: Flask, make_user: Callable[..., Any], outbox: Callable[[], list[Any]]
) -> None:
    _opt_in(app, make_user(Role.resident))
    now = dt.datetime.now(dt.UTC)
    _round(app, opens_at=now - dt.timedelta(minutes=3), closes_at=now + dt.timedelta(days=3))
    result = app.test_cli_runner().invoke(args=["mail", "send-due"])
    assert result.exit_code == 0, result.output
    assert "Queued 1, sent 1, retry later 0, given up 0, dropped 0." in result.output
    assert len(outbox()) == 1
    result = app.test_cli_runner().invoke(args=["notices", "queue-due"])
    assert "Queued 0 opening notice(s) and 0 digest(s)." in result.output
