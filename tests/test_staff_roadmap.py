"""The staff console: projects, status, updates, visibility, categories, import/export, audit."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from kldialog.auth import services as accounts
from kldialog.auth.models import Role, User
from kldialog.kernel.audit import AuditEntry
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation
from kldialog.projects import reading, rules
from kldialog.projects import staff as staff_changes
from kldialog.projects.models import (
    Category,
    DatePrecision,
    Project,
    ProjectStatusChange,
    ProjectUpdate,
    Status,
    Visibility,
)

from .conftest import PASSWORD, count_queries, login
from .test_projects import create_projects, text_of

ROLES = {
    "resident": (),
    "moderator": (Role.moderator,),
    "council": (Role.council,),
    "staff": (Role.staff,),
    "admin": (Role.admin,),
}
STAFF_ROLES = {"staff", "admin"}


# --- helpers ------------------------------------------------------------------------------


def english(client: FlaskClient) -> None:
    """Show pages in English (the source language), so assertions survive translation."""
    with client.session_transaction() as session:
        session["lang"] = "en"


def text(response: Any) -> str:
    """Return a response body as text."""
    return response.get_data(as_text=True)


def audit_log(app: Flask, action: str | None = None) -> list[dict[str, Any]]:
    """Return audit entries (optionally of one action) as plain dicts, oldest first."""
    with app.app_context():
        query = sa.select(AuditEntry).order_by(AuditEntry.id)
        if action:
            query = query.where(AuditEntry.action == action)
        return [
            {
                "action": e.action,
                "actor_id": e.actor_id,
                "target_type": e.target_type,
                "target_id": e.target_id,
                "reason": e.reason,
                "details": e.details,
            }
            for e in db.session.scalars(query)
        ]


def project_row(app: Flask, project_id: int) -> Project:
    """Load a project (detached, with its category) to look at its fields."""
    with app.app_context():
        project = db.session.get(Project, project_id)
        assert project is not None
        db.session.expunge(project)
        return project


def project_by_slug(app: Flask, slug: str) -> Project | None:
    """Load a project by slug (detached), or None."""
    with app.app_context():
        project = db.session.scalar(sa.select(Project).where(Project.slug == slug))
        if project is not None:
            db.session.expunge(project)
        return project


def count(app: Flask, model: Any) -> int:
    """Count the rows of a table."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def category_id(app: Flask, name: str = "Verwaltung") -> int:
    """Return a category's id, creating it if needed."""
    with app.app_context():
        category = db.session.scalar(sa.select(Category).where(Category.name == name))
        if category is None:
            category = Category(name=name, slug=rules.slugify(name))
            db.session.add(category)
            db.session.commit()
        return category.id


def new_project_form(app: Flask, **changes: str) -> dict[str, str]:
    """Return a valid "new project" form."""
    data = {
        "title": "Digitale Bürgerdienste",
        "slug": "",
        "summary": "Anträge online stellen.",
        "description": "Erster Absatz.\n\nZweiter Absatz.",
        "category": str(category_id(app)),
        "department": "Referat Digitalisierung",
        "progress": "",
        "status": "planned",
        "visibility": "draft",
    }
    data.update(changes)
    return data


def edit_form(project: Project, **changes: str) -> dict[str, str]:
    """Return the edit form as the page fills it in, with changes."""
    data = {
        "title": project.title,
        "slug": project.slug,
        "summary": project.summary,
        "description": project.description,
        "category": str(project.category_id),
        "department": project.department,
        "progress": "" if project.progress is None else str(project.progress),
        "visibility": project.state.value,
    }
    data.update(changes)
    return data


def errors_of(html: str) -> list[str]:
    """Return the field error messages shown on a page."""
    return [
        text_of(m).strip() for m in re.findall(r'<p class="kern-error"[^>]*>(.*?)</p>', html, re.S)
    ]


def flashes_of(html: str) -> list[str]:
    """Return the flash messages (and notices) shown on a page."""
    return [text_of(m).strip() for m in re.findall(r'<span class="kern-title">(.*?)</span>', html)]


@pytest.fixture
def staff(make_user: Callable[..., Any]) -> User:
    """Return a staff member's account."""
    return make_user(Role.staff, name="Staff Member")


@pytest.fixture
def staff_client(client: FlaskClient, staff: User) -> FlaskClient:
    """Return a client logged in as staff, pages in English."""
    english(client)
    login(client, staff)
    return client


@pytest.fixture
def project(make_project: Callable[..., Project]) -> Project:
    """Return a published project, planned since 1 June 2024."""
    return make_project(
        "Offenes WLAN",
        status=Status.planned,
        status_changed_on=dt.date(2024, 6, 1),
        department="Referat IT",
        summary="WLAN in der Innenstadt.",
    )


# --- who may use the console --------------------------------------------------------------


def staff_pages(app: Flask, project: Project) -> list[str]:
    """Return every staff GET page for a project and its category."""
    return [
        "/staff/projects",
        "/staff/projects?q=wlan&visibility=draft&sort=title&page=2",
        "/staff/projects/new",
        f"/staff/projects/{project.id}",
        f"/staff/projects/{project.id}/status",
        f"/staff/projects/{project.id}/updates/new",
        f"/staff/projects/{project.id}/visibility/archived",
        f"/staff/projects/{project.id}/visibility/published",
        f"/staff/projects/{project.id}/visibility/draft",
        "/staff/categories",
        f"/staff/categories/{project.category_id}",
        f"/staff/categories/{project.category_id}/delete",
        "/staff/roadmap/import",
        "/staff/roadmap/export.json",
        "/staff/roadmap/export.csv",
    ]


def staff_posts(project: Project) -> list[str]:
    """Return every staff POST address."""
    return [
        "/staff/projects/new",
        f"/staff/projects/{project.id}",
        f"/staff/projects/{project.id}/status",
        f"/staff/projects/{project.id}/updates/new",
        f"/staff/projects/{project.id}/visibility/archived",
        "/staff/categories",
        f"/staff/categories/{project.category_id}",
        f"/staff/categories/{project.category_id}/move",
        f"/staff/categories/{project.category_id}/delete",
        "/staff/roadmap/import",
    ]


def test_anonymous_visitors_are_sent_to_the_login(
    app: Flask, client: FlaskClient, project: Project
) -> None:
    for path in staff_pages(app, project):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next="), path
    for path in staff_posts(project):
        assert client.post(path, data={"name": "x"}).status_code == 302, path
    assert audit_log(app) == []


@pytest.mark.parametrize("role", sorted(ROLES))
def test_only_staff_and_admins_may_open_the_console(
    app: Flask,
    client: FlaskClient,
    make_user: Callable[..., Any],
    project: Project,
    role: str,
) -> None:
    login(client, make_user(*ROLES[role]))
    expected = 200 if role in STAFF_ROLES else 403
    for path in staff_pages(app, project):
        assert client.get(path).status_code == expected, (role, path)
    if role not in STAFF_ROLES:
        for path in staff_posts(project):
            response = client.post(path, data={"name": "Neu", "direction": "up"})
            assert response.status_code == 403, (role, path)
        assert [e["action"] for e in audit_log(app)] == ["account.create"]
        assert project_row(app, project.id).state is Visibility.published


@pytest.mark.parametrize("role", sorted(ROLES))
def test_the_navigation_offers_the_console_to_staff_only(
    client: FlaskClient, make_user: Callable[..., Any], role: str
) -> None:
    english(client)
    login(client, make_user(*ROLES[role]))
    html = text(client.get("/"))
    assert ('href="/staff/projects"' in html) is (role in STAFF_ROLES)


def test_unknown_and_absurd_ids_give_404(staff_client: FlaskClient) -> None:
    for path in [
        "/staff/projects/999999",
        "/staff/projects/99999999999999999999999",
        "/staff/projects/0/status",
        "/staff/projects/999999/updates/new",
        "/staff/projects/999999/visibility/archived",
        "/staff/projects/1/visibility/secret",
        "/staff/categories/999999",
        "/staff/categories/99999999999999999999999/delete",
        "/staff/roadmap/export.xml",
    ]:
        assert staff_client.get(path).status_code == 404, path
    assert (
        staff_client.post("/staff/categories/999999/move", data={"direction": "up"}).status_code
        == 404
    )


def test_posts_without_csrf_token_are_refused(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        accounts.create_confirmed_user(
            email="staff@example.org", password=PASSWORD, display_name="Staff", roles=[Role.staff]
        )
        category = Category(name="Bildung", slug="bildung")
        db.session.add(category)
        db.session.commit()
        category_id = category.id
    client = app.test_client()
    english(client)
    token = re.search(r'name="csrf_token" value="([^"]+)"', text(client.get("/login"))).group(1)
    response = client.post(
        "/login", data={"email": "staff@example.org", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303
    form = {
        "title": "Ohne Token",
        "category": str(category_id),
        "status": "planned",
        "visibility": "draft",
    }
    response = client.post("/staff/projects/new", data=form)
    assert response.status_code == 400
    assert "The form had expired or was sent twice" in text(response)
    for path in [
        "/staff/categories",
        f"/staff/categories/{category_id}/delete",
        "/staff/roadmap/import",
    ]:
        assert client.post(path, data={"name": "Neu"}).status_code == 400, path
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Project)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Category)) == 1
    # With the token from the page it works.
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', text(client.get("/staff/projects/new"))
    ).group(1)
    assert client.post("/staff/projects/new", data={**form, "csrf_token": token}).status_code == 303


# --- the project list ---------------------------------------------------------------------


def test_list_shows_every_project_with_visibility_and_filters(
    app: Flask, staff_client: FlaskClient, make_project: Callable[..., Project]
) -> None:
    make_project("Öffentliches Projekt")
    make_project("Entwurf Schule", state=Visibility.draft)
    make_project("Altes Archiv", state=Visibility.archived)
    html = text(staff_client.get("/staff/projects"))
    for title in ("Öffentliches Projekt", "Entwurf Schule", "Altes Archiv"):
        assert title in html
    assert "3 projects" in text_of(html)
    assert ">draft<" in html and ">archived<" in html and ">published<" in html
    html = text(staff_client.get("/staff/projects?visibility=draft"))
    assert "Entwurf Schule" in html and "Altes Archiv" not in html
    html = text(staff_client.get("/staff/projects?q=öffentlich"))
    assert "Öffentliches Projekt" in html and "Entwurf Schule" not in html
    html = text(staff_client.get("/staff/projects?sort=title"))
    assert html.index("Altes Archiv") < html.index("Entwurf Schule") < html.index("Öffentliches")
    # The public list shows only the published one.
    public = text(staff_client.get("/projects"))
    assert "Öffentliches Projekt" in public and "Entwurf Schule" not in public
    assert "Altes Archiv" not in public


@pytest.mark.parametrize(
    "query",
    [
        "visibility=secret",
        "visibility=%20",
        "sort=%20",
        "page=%C2%B2",
        "page=abc",
        "page=-4",
        "sort=%3Cscript%3E",
        "q=" + "x" * 500,
        "page=99999999999999999999",
    ],
)
def test_bad_list_parameters_are_ignored_with_a_notice(
    staff_client: FlaskClient, make_project: Callable[..., Project], query: str
) -> None:
    make_project("Ein Projekt")
    response = staff_client.get(f"/staff/projects?{query}")
    assert response.status_code == 200
    assert "was not valid and was ignored" in text(response)
    assert "<script>" not in text(response)


def test_list_is_paginated(app: Flask, staff_client: FlaskClient) -> None:
    with app.app_context():
        create_projects(120)
    html = text(staff_client.get("/staff/projects?sort=title"))
    assert "page 1 of 3" in html
    assert html.count('href="/staff/projects/') - html.count('href="/staff/projects/new') == 50
    html = text(staff_client.get("/staff/projects?sort=title&page=3"))
    assert "page 3 of 3" in html
    assert 'href="/staff/projects?sort=title&amp;page=2"' in html


def test_staff_list_query_count_does_not_grow_with_the_roadmap(
    app_factory: Callable[..., Flask],
) -> None:
    measured = []
    for number in (10, 500):
        app = app_factory()
        with app.app_context():
            create_projects(number)
            accounts.create_confirmed_user(
                email="s@example.org", password=PASSWORD, display_name="Staff", roles=[Role.staff]
            )
        client = app.test_client()
        client.post("/login", data={"email": "s@example.org", "password": PASSWORD})
        client.get("/staff/projects")  # warm up
        for path in ("/staff/projects", "/staff/projects?q=projekt&visibility=published&page=2"):
            with app.app_context(), count_queries() as statements:
                response = client.get(path)
            assert response.status_code == 200
            measured.append((number, path, len(statements)))
        with app.app_context():
            db.session.remove()
    small = [n for number, _path, n in measured if number == 10]
    large = [n for number, _path, n in measured if number == 500]
    assert small == large, measured
    assert max(large) <= 4, measured  # the session's user, count, page


# --- creating and editing projects --------------------------------------------------------


def test_a_new_project_is_a_draft_with_history_and_audit_entry(
    app: Flask, staff_client: FlaskClient, staff: User, client: FlaskClient
) -> None:
    response = staff_client.post("/staff/projects/new", data=new_project_form(app, progress="40 %"))
    assert response.status_code == 303
    project = project_by_slug(app, "digitale-buergerdienste")
    assert project is not None
    assert response.headers["Location"] == f"/staff/projects/{project.id}"
    assert project.state is Visibility.draft
    assert project.progress == 40
    assert project.description == "Erster Absatz.\n\nZweiter Absatz."
    assert project.status_changed_on == dt.date.today()
    with app.app_context():
        history = db.session.scalars(sa.select(ProjectStatusChange)).all()
        assert [(h.old_status, h.new_status, h.author) for h in history] == [
            (None, Status.planned, "Referat Digitalisierung")
        ]
    entry = audit_log(app, "project.create")[0]
    assert entry["actor_id"] == staff.id
    assert entry["target_id"] == project.id
    assert entry["details"]["visibility"] == "draft"
    html = text(staff_client.get(response.headers["Location"]))
    assert "was saved as a draft" in html
    # Staff preview the draft at its public address; nobody else finds it.
    preview = text(staff_client.get("/projects/digitale-buergerdienste"))
    assert "Preview: this project is a draft." in preview
    assert "Follow this project" not in preview
    assert "Digitale Bürgerdienste" not in text(staff_client.get("/projects"))
    assert "Digitale Bürgerdienste" not in text(staff_client.get("/"))


def test_anonymous_and_residents_do_not_see_drafts(
    app: Flask,
    client: FlaskClient,
    make_user: Callable[..., Any],
    make_project: Callable[..., Project],
) -> None:
    make_project("Geheimer Entwurf", state=Visibility.draft)
    assert client.get("/projects/geheimer-entwurf").status_code == 404
    login(client, make_user())
    assert client.get("/projects/geheimer-entwurf").status_code == 404
    assert "Geheimer Entwurf" not in text(client.get("/projects"))


def test_a_project_can_be_published_at_once(app: Flask, staff_client: FlaskClient) -> None:
    form = new_project_form(app, visibility="published", slug="Mein Projekt 2026")
    assert staff_client.post("/staff/projects/new", data=form).status_code == 303
    project = project_by_slug(app, "mein-projekt-2026")
    assert project is not None and project.state is Visibility.published
    assert "Digitale Bürgerdienste" in text(staff_client.get("/projects"))


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": ""}, "title", "Please enter a title."),
        ({"title": "   "}, "title", "Please enter a title."),
        ({"title": "x" * 301}, "title", "Please use at most 300 characters."),
        ({"summary": "x" * 2001}, "summary", "Please use at most 2,000 characters."),
        ({"description": "x" * 20001}, "description", "Please use at most 20,000 characters."),
        ({"progress": "abc"}, "progress", "Please enter a whole number from 0 to 100"),
        ({"progress": "101"}, "progress", "Please enter a whole number from 0 to 100"),
        ({"progress": "-1"}, "progress", "Please enter a whole number from 0 to 100"),
        ({"progress": "4.5"}, "progress", "Please enter a whole number from 0 to 100"),
        ({"category": ""}, "category", "Please choose a category."),
        ({"category": "abc"}, "category", "Please choose a category from the list."),
        ({"category": "999999"}, "category", "Please choose a category from the list."),
        ({"visibility": "public"}, "visibility", "Please choose a visibility from the list."),
        ({"status": "done"}, "status", "Please choose a status from the list."),
        ({"slug": "!!!"}, "slug", "Please use letters a–z, digits and hyphens for the address."),
        ({"slug": "s" * 121}, "slug", "Please use at most 120 characters."),
    ],
)
def test_bad_input_is_refused_with_a_message_and_kept(
    app: Flask, staff_client: FlaskClient, changes: dict[str, str], field: str, message: str
) -> None:
    form = new_project_form(app, **changes)
    response = staff_client.post("/staff/projects/new", data=form)
    assert response.status_code == 200
    html = text(response)
    assert any(message in error for error in errors_of(html)), errors_of(html)
    assert f'href="#{field}"' in html  # the error summary links to the field
    assert "<title>Error: New project" in html
    assert 'value="Referat Digitalisierung"' in html  # what was typed stays
    assert form["summary"] in html
    assert count(app, Project) == 0
    assert audit_log(app, "project.create") == []


def test_missing_fields_and_wrong_types_never_give_500(
    app: Flask, staff_client: FlaskClient
) -> None:
    for data in [
        {},
        {"title": ["a", "b"], "category": ["1", "2"]},
        {"title": "x", "category": str(category_id(app)), "status": "planned"},
        {"title": "\u202e\u200b", "category": str(category_id(app)), "visibility": "draft"},
    ]:
        response = staff_client.post("/staff/projects/new", data=data)
        assert response.status_code in (200, 303), data
    response = staff_client.post(
        "/staff/projects/new", data=new_project_form(app, title="Nul\x00byte")
    )
    assert response.status_code == 400


def test_html_and_unicode_are_stored_as_text_and_shown_escaped(
    app: Flask, staff_client: FlaskClient
) -> None:
    title = "<script>alert('x')</script> Ärger & Ölförderung 🚲 東京"
    form = new_project_form(app, title=title, visibility="published", slug="unicode-test")
    assert staff_client.post("/staff/projects/new", data=form).status_code == 303
    project = project_by_slug(app, "unicode-test")
    assert project is not None and project.title == title
    for path in ("/projects/unicode-test", f"/staff/projects/{project.id}", "/staff/projects"):
        html = text(staff_client.get(path))
        assert "<script>alert" not in html, path
        assert (
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Ärger &amp; Ölförderung 🚲 東京"
            in html
        )


def test_a_title_without_letters_still_gets_an_address(
    app: Flask, staff_client: FlaskClient
) -> None:
    assert (
        staff_client.post(
            "/staff/projects/new", data=new_project_form(app, title="東京 🚲")
        ).status_code
        == 303
    )
    assert project_by_slug(app, "projekt") is not None


def test_a_taken_address_is_refused_and_double_submits_create_one_project(
    app: Flask, staff_client: FlaskClient, project: Project
) -> None:
    response = staff_client.post(
        "/staff/projects/new", data=new_project_form(app, slug="offenes-wlan")
    )
    assert response.status_code == 200
    assert (
        "The address “offenes-wlan” is already used by another project."
        in errors_of(text(response))[0]
    )
    form = new_project_form(app)
    assert staff_client.post("/staff/projects/new", data=form).status_code == 303
    second = staff_client.post("/staff/projects/new", data=form)  # the same form again
    assert second.status_code == 200
    assert "is already used by another project" in text(second)
    assert count(app, Project) == 2
    assert len(audit_log(app, "project.create")) == 1


def test_a_lost_race_on_the_address_gives_a_message_not_a_500(
    app: Flask, staff_client: FlaskClient, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = staff_changes._slug_taken
    calls = []

    def blind_first(slug: str, project_id: int | None) -> bool:
        calls.append(slug)
        return False if len(calls) == 1 else real(slug, project_id)

    # Another request takes the address between our check and our commit.
    monkeypatch.setattr(staff_changes, "_slug_taken", blind_first)
    response = staff_client.post(
        "/staff/projects/new", data=new_project_form(app, slug="offenes-wlan")
    )
    assert response.status_code == 200
    assert "is already used by another project" in text(response)
    assert count(app, Project) == 1
    assert audit_log(app, "project.create") == []


def test_editing_records_the_changed_fields(
    app: Flask, staff_client: FlaskClient, staff: User, project: Project
) -> None:
    path = f"/staff/projects/{project.id}"
    html = text(staff_client.get(path))
    assert 'value="Offenes WLAN"' in html and "WLAN in der Innenstadt." in html
    other = category_id(app, "Bildung")
    response = staff_client.post(
        path,
        data=edit_form(project, title="Offenes WLAN für alle", progress="75", category=str(other)),
    )
    assert response.status_code == 303 and response.headers["Location"] == path
    changed = project_row(app, project.id)
    assert (changed.title, changed.progress, changed.category_id) == (
        "Offenes WLAN für alle",
        75,
        other,
    )
    assert changed.slug == "offenes-wlan"  # the address stays unless changed on purpose
    entry = audit_log(app, "project.edit")[0]
    assert entry["actor_id"] == staff.id
    assert sorted(entry["details"]["fields"]) == ["category", "progress", "title"]
    assert "Your changes to the project were saved." in text(staff_client.get(path))
    # Searching finds the new title.
    assert "Offenes WLAN für alle" in text(staff_client.get("/projects?q=für+alle"))


def test_saving_without_changes_writes_nothing(
    app: Flask, staff_client: FlaskClient, project: Project
) -> None:
    response = staff_client.post(f"/staff/projects/{project.id}", data=edit_form(project, slug=""))
    assert response.status_code == 303
    assert "Nothing was changed." in text(staff_client.get(f"/staff/projects/{project.id}"))
    assert audit_log(app, "project.edit") == []


def test_editing_the_address_and_visibility(
    app: Flask, staff_client: FlaskClient, project: Project, make_project: Callable[..., Project]
) -> None:
    make_project("Anderes Projekt")
    path = f"/staff/projects/{project.id}"
    response = staff_client.post(path, data=edit_form(project, slug="anderes-projekt"))
    assert response.status_code == 200
    assert "is already used by another project" in text(response)
    response = staff_client.post(path, data=edit_form(project, slug="wlan", visibility="draft"))
    assert response.status_code == 303
    assert staff_client.get("/projects/wlan").status_code == 200  # staff preview
    assert staff_client.get("/projects/offenes-wlan").status_code == 404
    assert sorted(audit_log(app, "project.edit")[0]["details"]["fields"]) == ["slug", "visibility"]


# --- status -------------------------------------------------------------------------------


def test_status_change_writes_public_history_and_audit(
    app: Flask, staff_client: FlaskClient, staff: User, project: Project
) -> None:
    path = f"/staff/projects/{project.id}/status"
    html = text(staff_client.get(path))
    assert '<option value="planned">planned (current status)</option>' in html
    assert f'value="{dt.date.today().isoformat()}"' in html
    assert 'value="Referat IT"' in html
    response = staff_client.post(
        path,
        data={
            "status": "in_progress",
            "reason": "Der Stadtrat hat die Mittel freigegeben.",
            "changed_on": "2024-09-01",
            "author": "Referat IT",
        },
    )
    assert response.status_code == 303
    changed = project_row(app, project.id)
    assert changed.status is Status.in_progress
    assert changed.status_changed_on == dt.date(2024, 9, 1)
    assert changed.status_precision is DatePrecision.day
    with app.app_context():
        latest = db.session.scalars(
            sa.select(ProjectStatusChange).order_by(ProjectStatusChange.id.desc())
        ).first()
        assert (latest.old_status, latest.new_status, latest.changed_on, latest.author) == (
            Status.planned,
            Status.in_progress,
            dt.date(2024, 9, 1),
            "Referat IT",
        )
    entry = audit_log(app, "project.status")[0]
    assert entry["actor_id"] == staff.id
    assert entry["reason"] == "Der Stadtrat hat die Mittel freigegeben."
    assert entry["details"] == {"old": "planned", "new": "in_progress", "date": "2024-09-01"}
    public = text(staff_client.get("/projects/offenes-wlan"))
    assert "Der Stadtrat hat die Mittel freigegeben." in public
    assert "Status changed from “planned” to “in progress”." in public


def test_status_change_date_defaults_to_today(
    app: Flask, staff_client: FlaskClient, project: Project
) -> None:
    response = staff_client.post(
        f"/staff/projects/{project.id}/status", data={"status": "completed", "reason": "Fertig."}
    )
    assert response.status_code == 303
    assert project_row(app, project.id).status_changed_on == dt.date.today()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"status": "in_progress", "reason": ""}, "Please give a reason."),
        ({"status": "in_progress", "reason": "  \n  "}, "Please give a reason."),
        ({"status": "in_progress", "reason": "x" * 2001}, "Please use at most 2,000 characters."),
        (
            {"status": "planned", "reason": "Nochmal"},
            "The project already has the status “planned”.",
        ),
        ({"status": "", "reason": "Grund"}, "Please choose the new status."),
        ({"status": "bogus", "reason": "Grund"}, "Please choose a status from the list."),
        (
            {"status": "in_progress", "reason": "Grund", "changed_on": "2999-01-01"},
            "must not be in the future",
        ),
        (
            {"status": "in_progress", "reason": "Grund", "changed_on": "2020-01-01"},
            "must not be before the current status began",
        ),
        (
            {"status": "in_progress", "reason": "Grund", "changed_on": "31.12.2024"},
            "Not a valid date value",
        ),
    ],
)
def test_status_change_is_refused_with_a_clear_message(
    app: Flask, staff_client: FlaskClient, project: Project, data: dict[str, str], message: str
) -> None:
    response = staff_client.post(f"/staff/projects/{project.id}/status", data=data)
    assert response.status_code == 200
    assert message in " ".join(errors_of(text(response))), errors_of(text(response))
    if data["reason"].strip():
        assert data["reason"] in text(response)  # what was typed stays
    assert project_row(app, project.id).status is Status.planned
    assert audit_log(app, "project.status") == []


def test_the_same_status_again_is_refused_by_the_service(
    app: Flask, staff: User, project: Project
) -> None:
    with app.test_request_context():
        actor = db.session.get(User, staff.id)
        row = db.session.get(Project, project.id)
        with pytest.raises(RuleViolation, match="hat bereits den Status") as caught:
            staff_changes.change_project_status(actor, row, status=Status.planned, reason="Wieder")
        assert caught.value.field == "status"
        assert count(app, ProjectStatusChange) == 1


def test_a_double_submitted_status_change_is_written_once(
    app: Flask, staff_client: FlaskClient, project: Project
) -> None:
    data = {"status": "completed", "reason": "Abgeschlossen."}
    assert staff_client.post(f"/staff/projects/{project.id}/status", data=data).status_code == 303
    second = staff_client.post(f"/staff/projects/{project.id}/status", data=data)
    assert second.status_code == 200
    assert "The project already has the status “completed”." in text(second)
    assert count(app, ProjectStatusChange) == 2
    assert len(audit_log(app, "project.status")) == 1


def test_a_concurrent_status_change_is_detected(app: Flask, staff: User, project: Project) -> None:
    with app.test_request_context():
        actor = db.session.get(User, staff.id)
        row = db.session.get(Project, project.id)
        assert row.status is Status.planned
        # Someone else completes the project after this request loaded it (the row object
        # here still says "planned").
        db.session.execute(
            sa.update(Project).where(Project.id == project.id).values(status=Status.completed),
            execution_options={"synchronize_session": False},
        )
        assert row.status is Status.planned
        with pytest.raises(RuleViolation, match="gleichzeitig geändert"):
            staff_changes.change_project_status(
                actor, row, status=Status.in_progress, reason="Begonnen"
            )
    assert count(app, ProjectStatusChange) == 1
    assert audit_log(app, "project.status") == []


# --- updates ------------------------------------------------------------------------------


def test_posting_an_update(
    app: Flask, staff_client: FlaskClient, staff: User, project: Project
) -> None:
    path = f"/staff/projects/{project.id}/updates/new"
    data = {
        "title": "Erste Hotspots online",
        "body": "Am Stiftsplatz.\r\n\r\nWeitere folgen.",
        "published_on": "2024-10-02",
        "author": "Referat IT",
    }
    response = staff_client.post(path, data=data)
    assert response.status_code == 303
    with app.app_context():
        update = db.session.scalars(sa.select(ProjectUpdate)).one()
        assert (update.title, update.body, update.published_on, update.author) == (
            "Erste Hotspots online",
            "Am Stiftsplatz.\n\nWeitere folgen.",
            dt.date(2024, 10, 2),
            "Referat IT",
        )
    entry = audit_log(app, "project.update")[0]
    assert entry["actor_id"] == staff.id and entry["details"]["title"] == "Erste Hotspots online"
    public = text(staff_client.get("/projects/offenes-wlan"))
    assert "Erste Hotspots online" in public and "Weitere folgen." in public
    # The same update again (double click, reloaded form) is refused.
    again = staff_client.post(path, data=data)
    assert again.status_code == 200
    assert "This update has already been posted." in text(again)
    assert count(app, ProjectUpdate) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"title": "", "body": "Text"}, "Please enter a title."),
        ({"title": "x" * 301}, "Please use at most 300 characters."),
        ({"title": "Zukunft", "published_on": "2999-01-01"}, "must not be in the future"),
        ({"title": "Datum", "published_on": "morgen"}, "Not a valid date value"),
        ({"title": "Lang", "body": "x" * 20001}, "Please use at most 20,000 characters."),
    ],
)
def test_bad_updates_are_refused(
    app: Flask, staff_client: FlaskClient, project: Project, data: dict[str, str], message: str
) -> None:
    response = staff_client.post(f"/staff/projects/{project.id}/updates/new", data=data)
    assert response.status_code == 200
    assert message in " ".join(errors_of(text(response)))
    assert count(app, ProjectUpdate) == 0


# --- visibility ---------------------------------------------------------------------------


def test_archive_and_unarchive_with_confirmation(
    app: Flask, staff_client: FlaskClient, client: FlaskClient, project: Project
) -> None:
    path = f"/staff/projects/{project.id}/visibility/archived"
    confirm = text(staff_client.get(path))
    assert "The project leaves the project list and the start page." in confirm
    assert project_row(app, project.id).state is Visibility.published  # GET changes nothing
    assert staff_client.post(path).status_code == 303
    assert project_row(app, project.id).state is Visibility.archived
    assert "Offenes WLAN" not in text(staff_client.get("/projects"))
    page = staff_client.get("/projects/offenes-wlan")
    assert page.status_code == 200
    assert "This project is archived." in text(page)
    # Again: a clear message, nothing written.
    staff_client.post(path)
    assert "This project is already archived." in text(
        staff_client.get(f"/staff/projects/{project.id}")
    )
    assert "already has this visibility" in text(staff_client.get(path))
    unarchive = f"/staff/projects/{project.id}/visibility/published"
    assert "Unarchive the project" in text(staff_client.get(unarchive))
    assert staff_client.post(unarchive).status_code == 303
    assert project_row(app, project.id).state is Visibility.published
    assert [e["action"] for e in audit_log(app) if e["action"].startswith("project.")] == [
        "project.archive",
        "project.unarchive",
    ]


def test_publishing_a_draft(
    app: Flask, staff_client: FlaskClient, make_project: Callable[..., Project]
) -> None:
    draft = make_project("Neuer Entwurf", state=Visibility.draft)
    assert staff_client.post(f"/staff/projects/{draft.id}/visibility/published").status_code == 303
    assert "Neuer Entwurf" in text(staff_client.get("/projects"))
    assert staff_client.post(f"/staff/projects/{draft.id}/visibility/draft").status_code == 303
    assert "Neuer Entwurf" not in text(staff_client.get("/projects"))
    assert [e["action"] for e in audit_log(app) if e["target_type"] == "project"] == [
        "project.publish",
        "project.unpublish",
    ]


# --- categories ---------------------------------------------------------------------------


def category_names(app: Flask) -> list[str]:
    """Return the category names in roadmap order."""
    with app.app_context():
        return [c.name for c in reading.all_categories()]


def test_categories_are_created_renamed_reordered_and_deleted(
    app: Flask, staff_client: FlaskClient, staff: User
) -> None:
    for name in ("Bildung", "Verkehr & Mobilität", "Kultur"):
        assert staff_client.post("/staff/categories", data={"name": name}).status_code == 303
    assert category_names(app) == ["Bildung", "Verkehr & Mobilität", "Kultur"]
    with app.app_context():
        ids = {c.name: c.id for c in reading.all_categories()}
        assert db.session.get(Category, ids["Verkehr & Mobilität"]).slug == "verkehr-mobilitaet"
    html = text(staff_client.get("/staff/categories"))
    assert "Verkehr &amp; Mobilität" in html
    # Reorder.
    response = staff_client.post(
        f"/staff/categories/{ids['Kultur']}/move", data={"direction": "up"}
    )
    assert response.status_code == 303
    assert category_names(app) == ["Bildung", "Kultur", "Verkehr & Mobilität"]
    staff_client.post(f"/staff/categories/{ids['Bildung']}/move", data={"direction": "down"})
    assert category_names(app) == ["Kultur", "Bildung", "Verkehr & Mobilität"]
    staff_client.post(f"/staff/categories/{ids['Kultur']}/move", data={"direction": "up"})
    assert "cannot move further" in text(staff_client.get("/staff/categories"))
    assert (
        staff_client.post(
            f"/staff/categories/{ids['Kultur']}/move", data={"direction": "left"}
        ).status_code
        == 400
    )
    # Rename; the address stays.
    response = staff_client.post(
        f"/staff/categories/{ids['Kultur']}", data={"name": "Kultur & Freizeit"}
    )
    assert response.status_code == 303
    with app.app_context():
        renamed = db.session.get(Category, ids["Kultur"])
        assert (renamed.name, renamed.slug) == ("Kultur & Freizeit", "kultur")
    # Delete an empty one after confirmation.
    assert "No project belongs to it." in text(
        staff_client.get(f"/staff/categories/{ids['Bildung']}/delete")
    )
    assert staff_client.post(f"/staff/categories/{ids['Bildung']}/delete").status_code == 303
    assert category_names(app) == ["Kultur & Freizeit", "Verkehr & Mobilität"]
    actions = [
        (e["action"], e["actor_id"]) for e in audit_log(app) if e["target_type"] == "category"
    ]
    assert [a for a, _ in actions] == [
        "category.create",
        "category.create",
        "category.create",
        "category.move",
        "category.move",
        "category.rename",
        "category.delete",
    ]
    assert {actor for _, actor in actions} == {staff.id}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Please enter a name."),
        ("   ", "Please enter a name."),
        ("x" * 121, "Please use at most 120 characters."),
        ("verwaltung", "A category called “Verwaltung” already exists."),
        ("  VERWALTUNG ", "A category called “Verwaltung” already exists."),
    ],
)
def test_bad_category_names_are_refused(
    app: Flask, staff_client: FlaskClient, name: str, message: str
) -> None:
    category_id(app, "Verwaltung")
    response = staff_client.post("/staff/categories", data={"name": name})
    assert response.status_code == 200
    assert message in " ".join(errors_of(text(response)))
    assert category_names(app) == ["Verwaltung"]


def test_renaming_to_an_existing_name_is_refused(app: Flask, staff_client: FlaskClient) -> None:
    first, second = category_id(app, "Bildung"), category_id(app, "Kultur")
    response = staff_client.post(f"/staff/categories/{second}", data={"name": "BILDUNG"})
    assert response.status_code == 200
    assert "A category called “Bildung” already exists." in text(response)
    assert (
        staff_client.post(f"/staff/categories/{first}", data={"name": "Bildung"}).status_code == 303
    )
    assert "Nothing was changed." in text(staff_client.get("/staff/categories"))
    assert audit_log(app, "category.rename") == []


def test_a_category_with_projects_cannot_be_deleted(
    app: Flask, staff_client: FlaskClient, project: Project, make_project: Callable[..., Project]
) -> None:
    make_project("Entwurf", state=Visibility.draft)  # drafts count too
    path = f"/staff/categories/{project.category_id}/delete"
    page = text(staff_client.get(path))
    assert "still contains 2 projects. Move them to other categories first." in page
    assert "Delete category" not in page
    assert staff_client.post(path).status_code == 303
    html = text(staff_client.get("/staff/categories"))
    assert "The category “Verwaltung” still contains 2 projects." in html
    assert category_names(app) == ["Verwaltung"]
    assert audit_log(app, "category.delete") == []


# --- import and export --------------------------------------------------------------------

VALID_JSON = {
    "as_of": "2025-03",
    "categories": ["Bildung"],
    "projects": [
        {
            "slug": "tablets",
            "title": "Tablets für Schulen",
            "category": "Bildung",
            "status": "planned",
        },
        {"title": "Schul-WLAN", "category": "Bildung", "status": "in Umsetzung", "progress": 30},
    ],
}


def upload(client: FlaskClient, content: bytes, filename: str, **fields: str) -> Any:
    """Post a file to the import form ("run" imports, otherwise only a check)."""
    data: dict[str, Any] = {"file": (io.BytesIO(content), filename), **fields}
    return client.post("/staff/roadmap/import", data=data, content_type="multipart/form-data")


def test_importing_a_json_file(app: Flask, staff_client: FlaskClient, staff: User) -> None:
    body = json.dumps(VALID_JSON).encode()
    response = upload(staff_client, body, "roadmap.json", run="y", author="Referat Digitalisierung")
    assert response.status_code == 303
    assert "Imported. Projects new: 2, changed: 0, unchanged: 0. New categories: 1." in text(
        staff_client.get("/staff/roadmap/import")
    )
    tablets = project_by_slug(app, "tablets")
    assert tablets is not None and tablets.status_changed_on == dt.date(2025, 3, 1)
    entry = audit_log(app, "roadmap.import")[0]
    assert entry["actor_id"] == staff.id
    assert entry["details"] == {
        "file": "roadmap.json",
        "format": "json",
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "categories_created": 1,
    }
    # The same file again changes nothing.
    upload(staff_client, body, "roadmap.json", run="y")
    assert audit_log(app, "roadmap.import")[1]["details"]["unchanged"] == 2


def test_checking_a_file_changes_nothing(app: Flask, staff_client: FlaskClient) -> None:
    response = upload(staff_client, json.dumps(VALID_JSON).encode(), "roadmap.json", check="y")
    assert response.status_code == 200
    html = text(response)
    assert "The file is valid. Nothing has been changed yet." in html
    assert "projects new: 2, changed: 0, unchanged: 0; new categories: 1." in html
    assert count(app, Project) == 0 and count(app, Category) == 0
    assert audit_log(app, "roadmap.import") == []


def test_importing_a_csv_file_changes_status_with_a_reason(
    app: Flask, staff_client: FlaskClient, project: Project
) -> None:
    csv_text = (
        "slug;title;category;status\n"
        "offenes-wlan;Offenes WLAN;Verwaltung;abgeschlossen\n"
        "neu;Neues Projekt;Verwaltung;planned\n"
    )
    response = upload(
        staff_client,
        ("\ufeff" + csv_text).encode(),
        "Roadmap.CSV",
        run="y",
        as_of="2025-01-15",
        status_reason="Laut Lenkungsausschuss erledigt.",
    )
    assert response.status_code == 303
    assert project_row(app, project.id).status is Status.completed
    with app.app_context():
        latest = db.session.scalars(
            sa.select(ProjectStatusChange)
            .where(ProjectStatusChange.project_id == project.id)
            .order_by(ProjectStatusChange.id.desc())
        ).first()
        assert (latest.reason, latest.changed_on) == (
            "Laut Lenkungsausschuss erledigt.",
            dt.date(2025, 1, 15),
        )
    assert audit_log(app, "roadmap.import")[0]["details"]["format"] == "csv"


def test_an_invalid_file_lists_every_problem_and_changes_nothing(
    app: Flask, staff_client: FlaskClient, project: Project
) -> None:
    csv_text = (
        "slug,title,category,status,progress\n"
        "offenes-wlan,Offenes WLAN,Verwaltung,completed,\n"
        ",,Bildung,fertig,\n"
        "x,Projekt X,Bildung,planned,150\n"
    )
    response = upload(staff_client, csv_text.encode(), "roadmap.csv", run="y")
    assert response.status_code == 200
    html = text(response)
    assert "The file has 3 problems. Nothing was imported." in html
    assert "<title>Error: Import and export" in html
    problems = [text_of(p) for p in re.findall(r"<code>(.*?)</code>", html)]
    assert any(p.startswith("line 3") and "'title'" in p for p in problems), problems
    assert any(p.startswith("line 3") and "'status'" in p for p in problems), problems
    assert any(p.startswith("line 4") and "'progress'" in p for p in problems), problems
    assert project_row(app, project.id).status is Status.planned
    assert count(app, Project) == 1 and category_names(app) == ["Verwaltung"]
    assert audit_log(app, "roadmap.import") == []


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"\xff\xfe\x00n\x00o", "roadmap.csv", "not UTF-8 text"),
        (b'{"projects": [', "roadmap.json", "line 1, column 15: invalid JSON"),
        (b"[" * 100_000, "roadmap.json", "nested too deeply"),
        (b'{"projects": [{"progress": ' + b"9" * 5000 + b"}]}", "roadmap.json", "invalid JSON"),
        (b"   \n", "roadmap.json", "the file is empty"),
        (b"[1, 2]", "roadmap.json", "must contain a JSON object"),
        (b"title;category\nA;B\n", "roadmap.csv", "missing column(s) status"),
        (b'{"projects": []}', "roadmap.txt", "Please upload a .json or .csv file."),
        (b"", "", "Please choose a file."),
    ],
)
def test_broken_files_get_a_clear_message(
    app: Flask, staff_client: FlaskClient, content: bytes, filename: str, message: str
) -> None:
    response = upload(staff_client, content, filename, run="y")
    assert response.status_code == 200
    assert message in text_of(text(response))
    assert count(app, Project) == 0


def test_an_import_without_file_field_is_a_form_error(staff_client: FlaskClient) -> None:
    response = staff_client.post("/staff/roadmap/import", data={"run": "y"})
    assert response.status_code == 200
    assert "Please choose a file." in text(response)


def test_a_file_over_the_limit_gets_the_413_page(app: Flask, staff_client: FlaskClient) -> None:
    big = b"slug,title,category,status\n" + b"x" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    # Written out by hand: the test client would spool a large upload to a temporary file.
    body = (
        b'--b\r\nContent-Disposition: form-data; name="run"\r\n\r\ny\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="roadmap.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n" + big + b"\r\n--b--\r\n"
    )
    response = staff_client.post(
        "/staff/roadmap/import", data=body, content_type="multipart/form-data; boundary=b"
    )
    assert response.status_code == 413
    assert "What you sent is larger than we accept." in text(response)
    assert count(app, Project) == 0


def test_export_downloads_json_and_csv_that_import_back_unchanged(
    app: Flask, staff_client: FlaskClient, project: Project, make_project: Callable[..., Project]
) -> None:
    make_project("=SUMME(A1)", state=Visibility.draft)
    response = staff_client.get("/staff/roadmap/export.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    today = dt.date.today().isoformat()
    assert response.headers["Content-Disposition"] == f'attachment; filename="roadmap-{today}.json"'
    data = json.loads(text(response))
    assert {p["slug"] for p in data["projects"]} == {"offenes-wlan", "summe-a1"}
    response = staff_client.get("/staff/roadmap/export.csv")
    assert response.mimetype == "text/csv"
    assert "'=SUMME(A1)" in text(response)  # no formula for spreadsheets
    assert upload(staff_client, response.data, "export.csv", run="y").status_code == 303
    assert audit_log(app, "roadmap.import")[0]["details"]["unchanged"] == 2
    assert project_row(app, project.id).state is Visibility.published
