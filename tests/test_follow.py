"""Following projects: the button, "projects I follow", mail to followers, one-click unsubscribe."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from kldialog.auth import services as accounts
from kldialog.auth.models import Role, User
from kldialog.kernel.db import db
from kldialog.kernel.time import utcnow
from kldialog.personal_data import services as personal_data
from kldialog.projects import following, roadmap_io, roadmap_parse
from kldialog.projects import staff as staff_changes
from kldialog.projects.models import Category, Project, ProjectFollow, Status, Visibility

from .conftest import PASSWORD, count_queries, login
from .test_staff_roadmap import ROLES, audit_log, english, text


def follows(app: Flask) -> set[tuple[int, int]]:
    """Return every (user id, project id) follow."""
    with app.app_context():
        return set(db.session.execute(sa.select(ProjectFollow.user_id, ProjectFollow.project_id)))


def add_follow(app: Flask, user: User, project: Project) -> None:
    """Let a person follow a project directly in the database."""
    with app.app_context():
        db.session.add(ProjectFollow(user_id=user.id, project_id=project.id))
        db.session.commit()


def link_in(message: Any, path: str) -> str:
    """Return the site-relative link to `path` in a mail body."""
    body = message.get_content()
    match = re.search(rf"http://localhost({re.escape(path)}\S+)", body)
    assert match, body
    return match.group(1)


@pytest.fixture
def project(make_project: Callable[..., Project]) -> Project:
    """Return a published project, planned since 1 June 2024."""
    return make_project(
        "Offenes WLAN", status=Status.planned, status_changed_on=dt.date(2024, 6, 1)
    )


@pytest.fixture
def resident(make_user: Callable[..., Any]) -> User:
    """Return a resident writing in English."""
    return make_user(name="Anna B", language="en")


@pytest.fixture
def staff(make_user: Callable[..., Any]) -> User:
    """Return a staff member."""
    return make_user(Role.staff, name="Staff Member")


def change_status(app: Flask, staff: User, project: Project, **kwargs: Any) -> int:
    """Change a project's status through the service, as the staff console does."""
    with app.test_request_context():
        actor = db.session.get(User, staff.id)
        row = db.session.get(Project, project.id)
        values = {"status": Status.in_progress, "reason": "Die Mittel sind freigegeben."}
        values.update(kwargs)
        return staff_changes.change_project_status(actor, row, **values)


# --- the button ---------------------------------------------------------------------------


def test_anonymous_visitors_see_a_login_link(client: FlaskClient, project: Project) -> None:
    english(client)
    html = text(client.get("/projects/offenes-wlan"))
    assert 'href="/login?next=/projects/offenes-wlan">Log in to follow</a>' in html
    assert "/follow" not in html
    response = client.post("/projects/offenes-wlan/follow")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?next=/projects/offenes-wlan"
    assert client.post("/projects/offenes-wlan/unfollow").status_code == 302
    assert client.get("/account/following").status_code == 302


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_confirmed_account_can_follow_and_unfollow(
    app: Flask,
    client: FlaskClient,
    make_user: Callable[..., Any],
    project: Project,
    role: str,
) -> None:
    user = make_user(*ROLES[role])
    english(client)
    login(client, user)
    html = text(client.get("/projects/offenes-wlan"))
    assert 'action="/projects/offenes-wlan/follow"' in html
    assert "Follow this project" in html
    response = client.post("/projects/offenes-wlan/follow")
    assert response.status_code == 303
    assert response.headers["Location"] == "/projects/offenes-wlan"
    assert follows(app) == {(user.id, project.id)}
    html = text(client.get("/projects/offenes-wlan"))
    assert "You now follow “Offenes WLAN”." in html
    assert 'action="/projects/offenes-wlan/unfollow"' in html
    assert client.post("/projects/offenes-wlan/unfollow").status_code == 303
    assert follows(app) == set()
    assert "You no longer follow “Offenes WLAN”." in text(client.get("/projects/offenes-wlan"))


@pytest.mark.parametrize(
    "fields",
    [
        {"email_confirmed_at": None},
        {"blocked_until": dt.datetime(2999, 1, 1, tzinfo=dt.UTC)},
        {"accepted_terms_version": "2000-01"},
    ],
)
def test_accounts_not_ready_to_take_part_cannot_follow(
    app: Flask,
    client: FlaskClient,
    make_user: Callable[..., Any],
    project: Project,
    fields: dict[str, Any],
) -> None:
    english(client)
    login(client, make_user(**fields))
    html = text(client.get("/projects/offenes-wlan"))
    assert "To follow projects, your account must be ready to take part" in html
    assert "/follow" not in html
    assert client.post("/projects/offenes-wlan/follow").status_code == 403
    assert follows(app) == set()


def test_drafts_cannot_be_followed(
    app: Flask, client: FlaskClient, resident: User, make_project: Callable[..., Project]
) -> None:
    make_project("Entwurf", state=Visibility.draft)
    login(client, resident)
    assert client.post("/projects/entwurf/follow").status_code == 404
    assert client.post("/projects/no-such-project/follow").status_code == 404
    assert client.post("/projects/BAD%20SLUG/follow").status_code == 404
    assert follows(app) == set()


def test_archived_projects_can_be_followed(
    app: Flask, client: FlaskClient, resident: User, make_project: Callable[..., Project]
) -> None:
    archived = make_project("Archiv", state=Visibility.archived)
    login(client, resident)
    assert client.post("/projects/archiv/follow").status_code == 303
    assert follows(app) == {(resident.id, archived.id)}


def test_following_twice_keeps_one_follow(
    app: Flask, client: FlaskClient, resident: User, project: Project
) -> None:
    english(client)
    login(client, resident)
    client.post("/projects/offenes-wlan/follow")
    client.post("/projects/offenes-wlan/follow")  # a double click
    assert "You already follow this project." in text(client.get("/projects/offenes-wlan"))
    assert follows(app) == {(resident.id, project.id)}
    client.post("/projects/offenes-wlan/unfollow")
    client.post("/projects/offenes-wlan/unfollow")
    assert "You did not follow this project." in text(client.get("/projects/offenes-wlan"))


def test_a_parallel_double_follow_is_absorbed_by_the_primary_key(
    app: Flask, resident: User, project: Project
) -> None:
    with app.app_context():
        user = db.session.get(User, resident.id)
        row = db.session.get(Project, project.id)
        assert following.follow_project(user, row) is True
        # The second request's INSERT hits the primary key: no error, just "already".
        assert following.follow_project(user, row) is False
        assert following.is_following(user, row)
    assert follows(app) == {(resident.id, project.id)}


def test_follow_posts_need_a_csrf_token(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        user = accounts.create_confirmed_user(
            email="anna@example.org", password=PASSWORD, display_name="Anna", roles=[]
        )
        project = Project(slug="wlan", title="WLAN", category_id=None, status=Status.planned)
        project.category = Category(name="IT", slug="it")
        db.session.add(project)
        db.session.commit()
        user_id, project_id = user.id, project.id
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', text(client.get("/login"))).group(1)
    client.post(
        "/login", data={"email": "anna@example.org", "password": PASSWORD, "csrf_token": token}
    )
    assert client.post("/projects/wlan/follow").status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ProjectFollow)) == 0
    page = text(client.get("/projects/wlan"))
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.split("follow-box")[1]).group(
        1
    )
    assert client.post("/projects/wlan/follow", data={"csrf_token": token}).status_code == 303
    assert client.post("/projects/wlan/unfollow").status_code == 400
    with app.app_context():
        assert db.session.get(ProjectFollow, (user_id, project_id)) is not None


def test_the_following_page_lists_projects_with_unfollow_buttons(
    app: Flask,
    client: FlaskClient,
    resident: User,
    make_project: Callable[..., Project],
) -> None:
    first = make_project("Zebra-Projekt")
    second = make_project("Alpha-Projekt", state=Visibility.archived)
    hidden = make_project("Wieder Entwurf", state=Visibility.draft)
    for item in (first, second, hidden):
        add_follow(app, resident, item)
    english(client)
    login(client, resident)
    html = text(client.get("/account/following"))
    assert html.index("Alpha-Projekt") < html.index("Zebra-Projekt")
    assert "Wieder Entwurf" not in html  # drafts are not public, not even here
    assert re.findall(r'action="(/projects/[^"]+/unfollow)"', html) == [
        "/projects/alpha-projekt/unfollow",
        "/projects/zebra-projekt/unfollow",
    ]
    response = client.post("/projects/zebra-projekt/unfollow", data={"next": "/account/following"})
    assert response.headers["Location"] == "/account/following"
    html = text(client.get("/account/following"))
    assert "You no longer follow “Zebra-Projekt”." in html
    assert 'action="/projects/zebra-projekt/unfollow"' not in html
    assert (resident.id, first.id) not in follows(app)
    # `next` never leaves the site.
    response = client.post(
        "/projects/alpha-projekt/unfollow", data={"next": "https://evil.example/"}
    )
    assert response.headers["Location"] == "/projects/alpha-projekt"


def test_the_following_page_without_follows(client: FlaskClient, resident: User) -> None:
    english(client)
    login(client, resident)
    assert "You do not follow any project yet." in text(client.get("/account/following"))


# --- mail to followers --------------------------------------------------------------------


def test_followers_get_a_status_mail_in_their_language_with_one_click_unsubscribe(
    app: Flask,
    make_user: Callable[..., Any],
    staff: User,
    project: Project,
    outbox: Callable[[], list[Any]],
) -> None:
    english_reader = make_user(name="Anna B", email="anna@example.org", language="en")
    german_reader = make_user(name="Bernd C", email="bernd@example.org", language="de")
    unconfirmed = make_user(name="Carla D", email="carla@example.org", email_confirmed_at=None)
    stranger = make_user(name="Dora E", email="dora@example.org")
    gone = make_user(name="Emil F", email="emil@example.org")
    for user in (english_reader, german_reader, unconfirmed, gone):
        add_follow(app, user, project)
    with app.app_context():  # erase the account, but leave a follow behind
        personal_data.erase_person(db.session.get(User, gone.id))
        db.session.add(ProjectFollow(user_id=gone.id, project_id=project.id))
        db.session.commit()
    assert change_status(app, staff, project, changed_on=dt.date(2024, 9, 2)) == 2
    mails = {m["To"]: m for m in outbox()}
    assert set(mails) == {"anna@example.org", "bernd@example.org"}
    assert stranger.email not in mails
    english_mail, german_mail = mails["anna@example.org"], mails["bernd@example.org"]
    assert english_mail["Subject"] == "Status changed: Offenes WLAN"
    body = english_mail.get_content()
    assert "Hello Anna B," in body
    assert "Before: planned" in body and "Now: in progress" in body
    assert "As of: Sep 2, 2024" in body
    assert "Die Mittel sind freigegeben." in body
    assert "http://localhost/projects/offenes-wlan" in body
    assert "Bernd" not in body and "bernd@example.org" not in body
    assert "02.09.2024" in german_mail.get_content()  # German date format
    unsubscribe = link_in(english_mail, "/unsubscribe/")
    assert english_mail["List-Unsubscribe"] == f"<http://localhost{unsubscribe}>"
    assert english_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link_in(german_mail, "/unsubscribe/") != unsubscribe


def test_followers_get_updates_by_mail(
    app: Flask, resident: User, staff: User, project: Project, outbox: Callable[[], list[Any]]
) -> None:
    add_follow(app, resident, project)
    with app.test_request_context():
        notified = staff_changes.post_project_update(
            db.session.get(User, staff.id),
            db.session.get(Project, project.id),
            title="Erste Hotspots online",
            body="Am Stiftsplatz.\n\nWeitere folgen.",
            published_on=dt.date(2024, 10, 2),
            author="Referat IT",
        )
    assert notified == 1
    (mail,) = outbox()
    assert mail["Subject"] == "News about Offenes WLAN"
    body = mail.get_content()
    assert "Erste Hotspots online" in body and "Weitere folgen." in body
    assert "Oct 2, 2024 · Referat IT" in body
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_status_changes_from_the_console_tell_the_followers(
    app: Flask,
    client: FlaskClient,
    resident: User,
    staff: User,
    project: Project,
    outbox: Callable[[], list[Any]],
) -> None:
    add_follow(app, resident, project)
    english(client)
    login(client, staff)
    response = client.post(
        f"/staff/projects/{project.id}/status",
        data={"status": "completed", "reason": "Fertig."},
    )
    assert response.status_code == 303
    assert "1 follower was told by e-mail." in text(client.get(response.headers["Location"]))
    assert [m["To"] for m in outbox()] == [resident.email]
    assert [e["action"] for e in audit_log(app, "project.status")] == ["project.status"]


def test_drafts_send_no_mail(
    app: Flask, resident: User, staff: User, project: Project, outbox: Callable[[], list[Any]]
) -> None:
    add_follow(app, resident, project)
    with app.app_context():
        db.session.get(Project, project.id).state = Visibility.draft
        db.session.commit()
    assert change_status(app, staff, project) == 0
    assert outbox() == []


def test_imports_tell_followers_of_status_changes(
    app: Flask, resident: User, staff: User, project: Project, outbox: Callable[[], list[Any]]
) -> None:
    add_follow(app, resident, project)
    csv_text = "slug,title,category,status\noffenes-wlan,Offenes WLAN,Verwaltung,completed\n"
    with app.test_request_context():
        roadmap, fmt = roadmap_parse.read_roadmap_upload(
            csv_text.encode(), "r.csv", status_reason="Laut Lenkungsausschuss erledigt."
        )
        roadmap_io.import_roadmap_upload(
            db.session.get(User, staff.id), roadmap, filename="r.csv", fmt=fmt
        )
    (mail,) = outbox()
    assert "Now: completed" in mail.get_content()
    assert "Laut Lenkungsausschuss erledigt." in mail.get_content()


def test_a_failing_mail_does_not_stop_the_others_or_undo_the_change(
    app: Flask,
    make_user: Callable[..., Any],
    staff: User,
    project: Project,
    outbox: Callable[[], list[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = make_user(email="first@example.org")
    second = make_user(email="second@example.org")
    add_follow(app, first, project)
    add_follow(app, second, project)
    real = following.send_mail

    def flaky(to: str, *args: Any, **kwargs: Any) -> Any:
        if to == "first@example.org":
            raise OSError("mail server refused")
        return real(to, *args, **kwargs)

    monkeypatch.setattr(following, "send_mail", flaky)
    assert change_status(app, staff, project) == 1
    assert [m["To"] for m in outbox()] == ["second@example.org"]
    with app.app_context():
        assert db.session.get(Project, project.id).status is Status.in_progress


def test_sending_runs_one_query_however_many_followers(
    app_factory: Callable[..., Flask],
) -> None:
    measured = []
    for followers in (2, 25):
        app = app_factory()
        with app.app_context():
            project = Project(
                slug="wlan",
                title="WLAN",
                status=Status.planned,
                category=Category(name="IT", slug="it"),
            )
            db.session.add(project)
            db.session.add_all(
                User(
                    email=f"p{i}@example.org",
                    password_hash="x",
                    display_name=f"P{i}",
                    display_name_key=f"p{i}",
                    email_confirmed_at=utcnow(),
                    language="de" if i % 2 else "en",
                )
                for i in range(followers)
            )
            db.session.flush()
            for user_id in db.session.scalars(sa.select(User.id)):
                db.session.add(ProjectFollow(user_id=user_id, project_id=project.id))
            db.session.commit()
            project_id = project.id
        with app.test_request_context():
            row = db.session.get(Project, project_id)
            with count_queries() as statements:
                sent = following.notify_followers(
                    row,
                    "Betreff",
                    "project_status",
                    old_status=Status.planned,
                    new_status=Status.completed,
                    changed_on=dt.date(2024, 1, 1),
                    precision="day",
                    reason="Fertig",
                )
            assert sent == followers
            measured.append(len(statements))
    assert measured == [1, 1], measured


# --- one-click unsubscribe ----------------------------------------------------------------


def mailed_unsubscribe_link(
    app: Flask, user: User, staff: User, project: Project, outbox: Callable[[], list[Any]]
) -> str:
    """Follow, have the status change, and return the unsubscribe path from the mail."""
    add_follow(app, user, project)
    change_status(app, staff, project)
    return link_in(outbox()[-1], "/unsubscribe/")


def test_unsubscribe_works_without_login_and_only_once(
    app_factory: Callable[..., Flask],
    outbox: Callable[[], list[Any]],
) -> None:
    app = app_factory(WTF_CSRF_ENABLED=True)  # the POST works without a CSRF token
    with app.app_context():
        user = accounts.create_confirmed_user(
            email="anna@example.org", password=PASSWORD, display_name="Anna", roles=[]
        )
        staff = accounts.create_confirmed_user(
            email="staff@example.org", password=PASSWORD, display_name="Staff", roles=[Role.staff]
        )
        project = Project(
            slug="wlan",
            title="WLAN",
            status=Status.planned,
            category=Category(name="IT", slug="it"),
        )
        db.session.add(project)
        db.session.commit()
        for item in (user, staff, project):
            db.session.refresh(item)
            db.session.expunge(item)
    path = mailed_unsubscribe_link(app, user, staff, project, outbox)
    client = app.test_client()
    english(client)
    page = client.get(path)
    assert page.status_code == 200
    assert 'You follow “<span lang="de">WLAN</span>”.' in text(page)  # German, marked
    assert f'action="{path}"' in text(page)
    assert follows(app) == {(user.id, project.id)}  # GET changes nothing (mail scanners)
    response = client.post(path)
    assert response.status_code == 303
    assert response.headers["Location"] == "/unsubscribed"
    assert "You no longer follow “WLAN” and get no more e-mail about it." in text(
        client.get("/unsubscribed")
    )
    assert follows(app) == set()
    for method in (client.get, client.post):
        again = method(path)
        assert again.status_code == 400
        assert "This link has already been used" in text(again)


def test_mail_programs_can_unsubscribe_with_one_click(
    app: Flask,
    client: FlaskClient,
    resident: User,
    staff: User,
    project: Project,
    outbox: Callable[[], list[Any]],
) -> None:
    path = mailed_unsubscribe_link(app, resident, staff, project, outbox)
    response = client.post(
        path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 303
    assert follows(app) == set()


def test_an_old_link_does_not_end_a_new_follow(
    app: Flask,
    client: FlaskClient,
    resident: User,
    staff: User,
    project: Project,
    outbox: Callable[[], list[Any]],
) -> None:
    path = mailed_unsubscribe_link(app, resident, staff, project, outbox)
    assert client.post(path).status_code == 303
    add_follow(app, resident, project)  # follows again later
    assert client.post(path).status_code == 400
    assert follows(app) == {(resident.id, project.id)}


@pytest.mark.parametrize(
    "token",
    [
        "nonsense",
        "WzEsMSwiYWJjIl0.invalid-signature",
        "x" * 1000,
        "%00",
        "eyJ1c2VyIjoxfQ",
    ],
)
def test_wrong_tokens_get_a_clear_400_page(client: FlaskClient, token: str) -> None:
    english(client)
    for method in (client.get, client.post):
        response = method(f"/unsubscribe/{token}")
        assert response.status_code == 400, token
        html = text(response)
        if token != "%00":  # NUL bytes are refused before the view
            assert "This unsubscribe link is not valid." in html
            assert "<h1" in html and html.count("<h1") == 1


def test_tokens_signed_for_another_purpose_or_shape_are_refused(
    app: Flask, client: FlaskClient
) -> None:
    from itsdangerous import URLSafeSerializer

    english(client)
    with app.app_context():
        secret = app.config["SECRET_KEY"]
    for payload, salt in [
        ([1, 1, "x"], "kldialog-confirm"),
        ({"user": 1}, "kldialog-unsubscribe"),
        ([True, 1, "x"], "kldialog-unsubscribe"),
        ([2**40, 1, "x"], "kldialog-unsubscribe"),
        ([1, 1], "kldialog-unsubscribe"),
    ]:
        token = URLSafeSerializer(secret, salt=salt).dumps(payload)
        response = client.get(f"/unsubscribe/{token}")
        assert response.status_code == 400, payload
        assert "This unsubscribe link is not valid." in text(response)
    token = URLSafeSerializer(secret, salt="kldialog-unsubscribe").dumps([1, 1, "x"])
    assert "This link has already been used" in text(client.get(f"/unsubscribe/{token}"))


def test_the_unsubscribed_page_without_a_flash(client: FlaskClient) -> None:
    english(client)
    response = client.get("/unsubscribed")
    assert response.status_code == 200
    assert "E-mails stopped" in text(response)
