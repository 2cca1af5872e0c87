"""English texts of roadmap content: shown on English pages, German fallback marked lang="de"."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale

from kldialog.auth.models import Role
from kldialog.kernel.audit import AuditEntry
from kldialog.kernel.db import db
from kldialog.priorities.models import PriorityRound
from kldialog.projects import roadmap_io, roadmap_parse
from kldialog.projects.models import Category, Project, Status
from kldialog.surveys.models import Survey
from kldialog.templating import LocalizedLater, localized

from .conftest import login
from .test_priorities import end_round, make_round, round_form
from .test_staff_roadmap import edit_form, new_project_form
from .test_surveys import make_survey, staff  # noqa: F401  (fixtures)

GERMAN_SPAN = re.compile(r'<span lang="de">([^<]*)</span>')


def english(client: FlaskClient) -> FlaskClient:
    """Show the client's pages in English."""
    with client.session_transaction() as session:
        session["lang"] = "en"
    return client


def body(response: Any) -> str:
    """Return a page's HTML; every page here must answer 200."""
    assert response.status_code == 200, response.status_code
    return str(response.get_data(as_text=True))


def marked_german(page: str) -> set[str]:
    """Return the texts a page marks as German with a span."""
    return set(GERMAN_SPAN.findall(page))


@pytest.fixture
def two_projects(make_project: Callable[..., Project], app: Flask) -> tuple[Project, Project]:
    """Return a translated project (in a translated category) and an untranslated one."""
    translated = make_project(
        "Handyparken",
        category="Verkehr",
        summary="Parktickets per App",
        title_en="Mobile parking",
        summary_en="Parking tickets by app",
        description="Erster Absatz.\n\nZweiter Absatz.",
    )
    plain = make_project("Bürgerkonto", category="Verwaltung", summary="Ein Konto für alles")
    with app.app_context():
        db.session.execute(
            sa.update(Category).where(Category.name == "Verkehr").values(name_en="Transport")
        )
        db.session.commit()
    return translated, plain


# --- the helper -----------------------------------------------------------------------------


def test_localized_gives_english_or_german_marked_and_nothing_in_german(app: Flask) -> None:
    item = {"title": "Freies WLAN & mehr", "title_en": "Free Wi-Fi & more", "summary": "Kurz"}
    with app.test_request_context(), force_locale("en"):
        title, summary = localized(item, "title"), localized(item, "summary")
        assert (title.text, title.lang, title.foreign) == ("Free Wi-Fi & more", "en", False)
        assert title.__html__() == "Free Wi-Fi &amp; more"
        assert summary.lang == "de" and summary.foreign
        assert summary.__html__() == '<span lang="de">Kurz</span>'
        assert summary.lang_attr == ' lang="de"' and title.lang_attr == ""
        assert str(summary) == "Kurz"  # <title>, attributes and mail: the text alone
        assert not localized({"summary": ""}, "summary")  # empty stays empty, no span
    with app.test_request_context(), force_locale("de"):
        title = localized(item, "title")
        assert (title.text, title.foreign, title.__html__()) == (
            "Freies WLAN & mehr",
            False,
            "Freies WLAN &amp; mehr",
        )


def test_localized_later_picks_the_language_when_it_becomes_text(app: Flask) -> None:
    project = Project(title="Handyparken", title_en="Mobile parking")
    later = LocalizedLater(project, "title")
    project.title_en = None  # copied already: an expired object at mail time changes nothing
    with app.test_request_context():
        with force_locale("en"):
            assert str(later) == "Mobile parking"
        with force_locale("de"):
            assert str(later) == "Handyparken"


# --- public pages --------------------------------------------------------------------------


def test_project_list_is_english_where_translated_and_marks_the_rest_german(
    client: FlaskClient, two_projects: tuple[Project, Project]
) -> None:
    german = body(client.get("/projects"))
    assert "Handyparken" in german and "Mobile parking" not in german
    assert marked_german(german) == set()  # German pages need no lang on German texts
    page = body(english(client).get("/projects"))
    assert '<html lang="en"' in page
    assert ">Mobile parking</a>" in page and "Parking tickets by app" in page
    assert ">Transport</p>" in page
    assert marked_german(page) >= {"Bürgerkonto", "Verwaltung"}
    assert '<p class="kern-body kern-body--small" lang="de">Ein Konto für alles</p>' in page
    assert "Handyparken" not in page
    # The category filter offers the English name.
    assert ">Transport</option>" in page


def test_project_page_marks_german_paragraphs_and_titles_the_page_in_english(
    client: FlaskClient, two_projects: tuple[Project, Project]
) -> None:
    translated, plain = two_projects
    page = body(english(client).get(f"/projects/{translated.slug}"))
    assert "<title>Mobile parking" in page
    assert '<h1 class="kern-heading-x-large">Mobile parking</h1>' in page
    assert '<p class="kern-body kern-body--large prose">Parking tickets by app</p>' in page
    # No English description: the German paragraphs, their container marked German.
    assert '<div class="prose project-detail__description" lang="de">' in page
    page = body(client.get(f"/projects/{plain.slug}"))
    assert "<title>Bürgerkonto" in page  # no lang possible in <title>: the German text
    assert '<h1 class="kern-heading-x-large"><span lang="de">Bürgerkonto</span></h1>' in page


def test_home_page_names_categories_in_english(
    client: FlaskClient, two_projects: tuple[Project, Project]
) -> None:
    page = body(english(client).get("/"))
    assert ">Transport</a>" in page
    assert '<span lang="de">Verwaltung</span>' in page


def test_rounds_and_surveys_show_english_titles_or_marked_german(
    app: Flask,
    client: FlaskClient,
    make_user: Callable[..., Any],
    two_projects: tuple[Project, Project],
    make_survey: Callable[..., int],  # noqa: F811
) -> None:
    translated, plain = two_projects
    round_id = make_round(
        app,
        [translated, plain],
        title_en="What matters to you?",
        explanation="Sagen Sie es uns.",
    )
    survey_id = make_survey(title="Umfrage zur Verkehrslenkung")
    login(client, make_user(Role.resident))
    english(client)
    listing = body(client.get("/priorities"))
    assert ">What matters to you?</a>" in listing
    ballot = body(client.get(f"/priorities/{round_id}"))
    assert "<title>What matters to you?" in ballot
    assert '<div class="prose" lang="de"><p class="kern-body">Sagen Sie es uns.</p>' in ballot
    assert "Mobile parking" in ballot and '<span lang="de">Bürgerkonto</span>' in ballot
    surveys = body(client.get("/surveys"))
    assert '<span lang="de">Umfrage zur Verkehrslenkung</span>' in surveys
    with app.app_context():
        db.session.execute(
            sa.update(Survey)
            .where(Survey.id == survey_id)
            .values(title_en="Traffic survey", intro_en="What do you think?")
        )
        db.session.commit()
    answer = body(client.get(f"/surveys/{survey_id}"))
    assert '<h1 class="kern-heading-x-large">Traffic survey</h1>' in answer
    assert '<p class="kern-body prose">What do you think?</p>' in answer
    assert "Umfrage zur Verkehrslenkung" not in answer
    # Questions have no English version yet: shown in German, marked as such.
    assert '<span lang="de">Wie oft fahren Sie in die Innenstadt?</span>' in answer
    assert (
        '<label class="kern-label" for="q' in answer and '<span lang="de">täglich</span>' in answer
    )
    with client.session_transaction() as session:
        session["lang"] = "de"
    assert marked_german(body(client.get(f"/surveys/{survey_id}"))) == set()


def test_frozen_round_results_show_todays_english_titles(
    app: Flask,
    client: FlaskClient,
    make_user: Callable[..., Any],
    two_projects: tuple[Project, Project],
) -> None:
    from kldialog.priorities import services

    translated, plain = two_projects
    round_id = make_round(app, [translated, plain])
    with app.app_context():
        round_ = db.session.get(PriorityRound, round_id)
        voters = [make_user(Role.resident) for _ in range(6)]
        for voter in voters:
            services.cast_ballot(voter, round_, {translated.id: 1, plain.id: 1})
    end_round(app, round_id, close=True)
    german = body(client.get(f"/priorities/{round_id}/results"))
    assert "Handyparken" in german and marked_german(german) == set()
    page = body(english(client).get(f"/priorities/{round_id}/results"))
    assert '<th class="kern-table__header" scope="row">Mobile parking</th>' in page
    assert '<th class="kern-table__header" scope="row"><span lang="de">Bürgerkonto</span>' in page
    assert ">Transport</td>" in page
    # The downloads keep the frozen German record.
    assert "Mobile parking" not in client.get(f"/priorities/{round_id}/results.json").text


def test_english_pages_come_from_their_own_cache_entry(
    app_factory: Callable[..., Flask],
) -> None:
    app = app_factory(PAGE_CACHE_ENABLED=True)
    with app.app_context():
        category = Category(name="Verkehr", slug="verkehr", name_en="Transport")
        db.session.add(
            Project(slug="p", title="Handyparken", title_en="Mobile parking", category=category,
                    status=Status.planned)
        )  # fmt: skip
        db.session.commit()
    visitor = app.test_client()
    for _ in range(2):  # the second German request is a hit
        assert "Handyparken" in body(visitor.get("/projects"))
    page = body(english(visitor).get("/projects"))
    assert "Mobile parking" in page and "Handyparken" not in page


# --- staff console -------------------------------------------------------------------------


@pytest.fixture
def staff_client(client: FlaskClient, make_user: Callable[..., Any]) -> FlaskClient:
    """Return a client logged in as staff, pages in English."""
    login(client, make_user(Role.staff, name="Staff Member"))
    return english(client)


def stored(app: Flask, model: Any, *columns: str) -> list[tuple[Any, ...]]:
    """Return the given columns of every row of a model."""
    with app.app_context():
        rows = db.session.execute(sa.select(*(getattr(model, c) for c in columns))).all()
        return [tuple(row) for row in rows]


def test_staff_store_and_clear_english_project_texts_audited(
    app: Flask, staff_client: FlaskClient, make_project: Callable[..., Project]
) -> None:
    make_project("Vorhanden")  # the category the form chooses
    form = new_project_form(app, title_en="  Online services ", summary_en="Apply online.\r\n")
    page = body(staff_client.get("/staff/projects/new"))
    assert 'name="title_en"' in page and 'lang="en"' in page and "Title (English)" in page
    response = staff_client.post("/staff/projects/new", data=form)
    assert response.status_code == 303
    [(project_id,)] = [row for row in stored(app, Project, "id") if row[0] != 1]
    with app.app_context():
        project = db.session.get(Project, project_id)
        assert (project.title_en, project.summary_en, project.description_en) == (
            "Online services",
            "Apply online.",
            None,
        )
    edit = body(staff_client.get(f"/staff/projects/{project_id}"))
    assert 'value="Online services"' in edit
    with app.app_context():
        project = db.session.get(Project, project_id)
        response = staff_client.post(
            f"/staff/projects/{project_id}",
            data=edit_form(project, title_en="", summary_en="Apply online.", description_en="Hi"),
        )
    assert response.status_code == 303
    with app.app_context():
        project = db.session.get(Project, project_id)
        assert (project.title_en, project.description_en) == (None, "Hi")  # empty: NULL
        entry = db.session.scalars(
            sa.select(AuditEntry.details).where(AuditEntry.action == "project.edit")
        ).one()
    assert {"title_en", "description_en"} <= set(entry["fields"])


def test_too_long_english_title_is_refused_next_to_the_field(
    app: Flask, staff_client: FlaskClient, make_project: Callable[..., Project]
) -> None:
    make_project("Vorhanden")
    response = staff_client.post(
        "/staff/projects/new", data=new_project_form(app, title_en="x" * 301)
    )
    assert response.status_code == 200
    page = body(response)
    assert 'id="title_en-error-1"' in page and "at most 300 characters" in page
    assert len(stored(app, Project, "id")) == 1  # nothing written


def test_staff_name_categories_in_english_and_rename_keeps_or_clears_it(
    app: Flask, staff_client: FlaskClient
) -> None:
    response = staff_client.post("/staff/categories", data={"name": "Bildung", "name_en": "Ed"})
    assert response.status_code == 303
    [(category_id, name_en)] = stored(app, Category, "id", "name_en")
    assert name_en == "Ed"
    staff_client.post(
        f"/staff/categories/{category_id}", data={"name": "Bildung", "name_en": "Education"}
    )
    assert stored(app, Category, "name_en") == [("Education",)]
    staff_client.post(f"/staff/categories/{category_id}", data={"name": "Bildung", "name_en": ""})
    assert stored(app, Category, "name_en") == [(None,)]
    long = staff_client.post("/staff/categories", data={"name": "Kultur", "name_en": "x" * 121})
    assert long.status_code == 200 and "at most 120 characters" in body(long)
    with app.app_context():
        actions = db.session.scalars(
            sa.select(AuditEntry.details)
            .where(AuditEntry.action.like("category.%"))
            .order_by(AuditEntry.id)
        ).all()
    assert actions[0]["name_en"] == "Ed"
    assert (actions[1]["old_en"], actions[1]["new_en"]) == ("Ed", "Education")
    assert (actions[2]["old_en"], actions[2]["new_en"]) == ("Education", None)


def test_staff_give_rounds_and_surveys_english_texts(
    app: Flask, staff_client: FlaskClient, make_project: Callable[..., Project]
) -> None:
    projects = [make_project("Eins"), make_project("Zwei")]
    response = staff_client.post(
        "/staff/rounds/new",
        data=round_form(projects, title_en="Priorities 2027", explanation_en="Tell us."),
    )
    assert response.status_code == 303
    assert stored(app, PriorityRound, "title_en", "explanation_en") == [
        ("Priorities 2027", "Tell us.")
    ]
    refused = staff_client.post("/staff/rounds/new", data=round_form(projects, title_en="x" * 201))
    assert refused.status_code == 400 and "at most 200 characters" in refused.text
    response = staff_client.post(
        "/staff/surveys/new",
        data={"title": "Umfrage", "title_en": "Survey", "intro": "", "intro_en": " Hello ",
              "opens_at": "2026-01-01T09:00", "closes_at": "2099-01-01T09:00",
              "eligibility": "resident"},
    )  # fmt: skip
    assert response.status_code == 303
    assert stored(app, Survey, "title_en", "intro_en") == [("Survey", "Hello")]


# --- import, export, API, mail -------------------------------------------------------------


def test_roadmap_json_and_csv_round_trip_english_texts(
    app: Flask, app_factory: Callable[..., Flask], two_projects: tuple[Project, Project]
) -> None:
    with app.app_context():
        exported = roadmap_io.export_roadmap_json()
        csv_text = roadmap_io.export_roadmap_csv()
    assert {"name": "Verkehr", "name_en": "Transport"} in exported["categories"]
    assert "Verwaltung" in exported["categories"]
    header, *lines = csv_text.splitlines()
    assert header.endswith("title_en,summary_en,description_en,category_en")
    for source in ("json", "csv"):
        other = app_factory()
        with other.app_context():
            if source == "json":
                roadmap = roadmap_parse.parse_roadmap_json(json.loads(json.dumps(exported)))
            else:
                roadmap = roadmap_parse.parse_roadmap_csv(csv_text)
            roadmap_io.import_roadmap(roadmap)
            rows = db.session.execute(
                sa.select(Project.slug, Project.title_en, Project.summary_en, Category.name_en)
                .join(Category)
                .order_by(Project.slug)
            ).all()
        assert [tuple(row) for row in rows] == [
            ("buergerkonto", None, None, None),
            ("handyparken", "Mobile parking", "Parking tickets by app", "Transport"),
        ], source


def test_old_roadmap_files_import_and_leave_english_texts_alone(
    app: Flask, two_projects: tuple[Project, Project]
) -> None:
    old_csv = "title,category,status,summary\nHandyparken,Verkehr,completed,Neu\n"
    with app.app_context():
        roadmap_io.import_roadmap(roadmap_parse.parse_roadmap_csv(old_csv))
        project = db.session.scalar(sa.select(Project).where(Project.slug == "handyparken"))
        assert (project.summary, project.title_en, project.category.name_en) == (
            "Neu",
            "Mobile parking",
            "Transport",
        )


def test_conflicting_or_too_long_english_fields_are_listed_as_problems() -> None:
    data = {
        "categories": [{"name": "Kultur", "name_en": 7}],
        "projects": [
            {"title": "A", "category": "Bildung", "status": "planned", "category_en": "Ed"},
            {"title": "B", "category": "Bildung", "status": "planned", "category_en": "School"},
            {"title": "C", "category": "Bildung", "status": "planned", "title_en": "x" * 301},
        ],
    }
    with pytest.raises(roadmap_parse.RoadmapError) as raised:
        roadmap_parse.parse_roadmap_json(data)
    problems = "\n".join(raised.value.problems)
    assert "category 1, field 'name_en': must be text" in problems
    assert "project 2 ('B'), field 'category_en': 'School' differs from 'Ed'" in problems
    assert "project 3 ('C'), field 'title_en': is 301 characters long" in problems


def test_api_carries_the_english_fields_or_null(
    client: FlaskClient, two_projects: tuple[Project, Project]
) -> None:
    items = {item["slug"]: item for item in client.get("/api/v1/projects").json["items"]}
    assert (items["handyparken"]["title_en"], items["handyparken"]["summary_en"]) == (
        "Mobile parking",
        "Parking tickets by app",
    )
    assert items["buergerkonto"]["title_en"] is None
    detail = client.get("/api/v1/projects/handyparken").json
    assert "description_en" in detail and detail["description_en"] is None
    names = {c["slug"]: c["name_en"] for c in client.get("/api/v1/categories").json["items"]}
    assert names == {"verkehr": "Transport", "verwaltung": None}


def test_followers_get_the_title_in_their_own_language(
    app_factory: Callable[..., Flask], tmp_path: Any, make_user: Any, outbox: Any
) -> None:
    from kldialog.projects import staff as staff_changes
    from kldialog.projects.following import follow_project

    app = app_factory()
    with app.app_context():
        project = Project(slug="p", title="Handyparken", title_en="Mobile parking",
                          category=Category(name="Verkehr", slug="verkehr"), status=Status.planned,
                          status_changed_on=dt.date(2020, 1, 1))  # fmt: skip
        db.session.add(project)
        db.session.commit()
        people = []
        for language in ("en", "de"):
            from kldialog.auth import services as accounts

            person = accounts.create_confirmed_user(
                email=f"{language}@example.org", password="correct horse battery staple",
                display_name=f"Person {language}", roles=[Role.resident],
            )  # fmt: skip
            person.language = language
            db.session.commit()
            follow_project(person, project)
            people.append(person)
        staff = accounts.create_confirmed_user(
            email="s@example.org", password="correct horse battery staple", display_name="Staff",
            roles=[Role.staff],
        )  # fmt: skip
        with app.test_request_context():
            staff_changes.change_project_status(
                staff, project, status=Status.completed, reason="Fertig"
            )
    subjects = {mail["To"]: mail["Subject"] for mail in outbox()}
    assert subjects["en@example.org"] == "Status changed: Mobile parking"
    assert subjects["de@example.org"] == "Status geändert: Handyparken"


def test_english_project_list_sorts_by_the_title_it_shows(
    client: FlaskClient, two_projects: tuple[Project, Project], make_project: Any
) -> None:
    make_project("Zentrale Dienste", title_en="Central services")
    german = body(client.get("/projects?sort=title"))
    assert german.index("Bürgerkonto") < german.index("Handyparken") < german.index("Zentrale")
    page = body(english(client).get("/projects?sort=title"))
    assert page.index("Bürgerkonto") < page.index("Central services") < page.index("Mobile")


def test_notices_name_rounds_and_projects_in_the_readers_language(
    app: Flask, make_user: Callable[..., Any], make_project: Any, outbox: Callable[[], list[Any]]
) -> None:
    from kldialog.projects.models import ProjectFollow, ProjectStatusChange

    from .test_notices import NOW, _opt_in, _queue, _round, _send

    readers = {}
    for language in ("de", "en"):
        readers[language] = make_user(
            Role.resident, email=f"{language}@example.org", language=language
        )
        _opt_in(app, readers[language], digest=True)
    _round(app, title="Haushalt", title_en="Budget")
    project = make_project("Handyparken", title_en="Mobile parking")
    with app.app_context():
        db.session.execute(sa.text("UPDATE project_status_change SET created_at = '2020-01-01'"))
        for reader in readers.values():
            db.session.add(ProjectFollow(user_id=reader.id, project_id=project.id))
        db.session.add(
            ProjectStatusChange(
                project_id=project.id, changed_on=NOW.date(), old_status=Status.planned,
                new_status=Status.in_progress, created_at=NOW - dt.timedelta(days=3),
            )
        )  # fmt: skip
        db.session.commit()
    app.config["NOTICES_DIGEST_WEEKDAY"] = 0
    _queue(app, NOW.replace(hour=1))  # the digest (the round opens at 7:00)
    _queue(app)
    _send(app)
    mails: dict[tuple[str, str], str] = {}
    for mail in outbox():
        kind = "open" if re.match("Now open|Jetzt offen", mail["Subject"]) else "digest"
        mails[(mail["To"], kind)] = f"{mail['Subject']}\n{mail.get_content()}"
    assert "Now open: priority round “Budget”" in mails[("en@example.org", "open")]
    assert "„Haushalt“" in mails[("de@example.org", "open")]
    assert "Budget" not in mails[("de@example.org", "open")]
    assert "Mobile parking" in mails[("en@example.org", "digest")]
    assert "Handyparken" in mails[("de@example.org", "digest")]
    assert "Mobile parking" not in mails[("de@example.org", "digest")]


def test_project_updates_in_english_on_the_page_in_mail_export_and_api(
    app: Flask,
    staff_client: FlaskClient,
    make_user: Callable[..., Any],
    make_project: Any,
    outbox: Callable[[], list[Any]],
) -> None:
    from kldialog.projects.following import follow_project

    project = make_project("Handyparken")
    follower = make_user(Role.resident, email="en@example.org", language="en")
    with app.app_context():
        follow_project(follower, db.session.get(Project, project.id))
    response = staff_client.post(
        f"/staff/projects/{project.id}/updates/new",
        data={"title": "Neue App", "body": "Jetzt im Store.", "title_en": "New app",
              "body_en": "", "author": "Referat"},
    )  # fmt: skip
    assert response.status_code == 303
    page = body(staff_client.get(f"/projects/{project.slug}"))
    assert '<h3 class="kern-heading-small">New app</h3>' in page
    assert '<p class="kern-body" lang="de">Jetzt im Store.</p>' in page
    (mail,) = outbox()
    assert "New app" in mail.get_content() and "Jetzt im Store." in mail.get_content()
    with app.app_context():
        [update] = roadmap_io.export_roadmap_json()["projects"][0]["updates"]
    assert (update["title_en"], update["body_en"]) == ("New app", None)
    [api_update] = staff_client.get(f"/api/v1/projects/{project.slug}").json["updates"]
    assert (api_update["title_en"], api_update["body_en"]) == ("New app", None)
    refused = staff_client.post(
        f"/staff/projects/{project.id}/updates/new",
        data={"title": "Zweite", "title_en": "x" * 301},
    )
    assert refused.status_code == 200 and "at most 300 characters" in refused.text


def test_search_finds_projects_by_their_english_title_too(
    client: FlaskClient, two_projects: tuple[Project, Project]
) -> None:
    page = body(english(client).get("/projects?q=parking"))
    assert ">Mobile parking</a>" in page and "Bürgerkonto" not in page
    items = client.get("/api/v1/projects?q=Parking").json["items"]
    assert [item["slug"] for item in items] == ["handyparken"]


def test_english_pages_run_as_many_statements_as_german_ones(
    app: Flask, client: FlaskClient, make_project: Any
) -> None:
    from .conftest import count_queries

    def statements(path: str) -> int:
        with app.app_context(), count_queries() as seen:
            body(client.get(path))
        return len(seen)

    make_project("Erstes", title_en="First")
    german = {path: statements(path) for path in ("/", "/projects", "/projects/erstes")}
    for number in range(10):
        make_project(f"Weiteres {number}", category=f"Kategorie {number}",
                     **({"title_en": f"More {number}"} if number % 2 else {}))  # fmt: skip
    english(client)
    assert {path: statements(path) for path in german} == german


def test_survey_questions_and_options_in_english_stored_shown_and_copied(
    app: Flask, staff_client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    from kldialog.surveys import builder
    from kldialog.surveys.models import Option, Question

    response = staff_client.post(
        "/staff/surveys/new",
        data={"title": "Umfrage", "opens_at": "2026-01-01T09:00", "closes_at": "2099-01-01T09:00",
              "eligibility": "resident"},
    )  # fmt: skip
    survey_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        section_id = db.session.get(Survey, survey_id).sections[0].id
    question = {"section_id": section_id, "kind": "single", "text": "Fahren Sie Rad?",
                "options": "ja\nnein\nmanchmal"}  # fmt: skip
    refused = staff_client.post(
        f"/staff/surveys/{survey_id}/questions/new",
        data={**question, "text_en": "Do you cycle?", "options_en": "yes\nno"},
    )
    assert refused.status_code == 200
    assert "Please give one English option per option, in the same order (3), or none." in (
        refused.text
    )
    assert stored(app, Question, "id") == []
    response = staff_client.post(
        f"/staff/surveys/{survey_id}/questions/new",
        data={**question, "text_en": "Do you cycle?", "options_en": "yes\n\nno\nsometimes\n"},
    )
    assert response.status_code == 303
    assert stored(app, Question, "text_en") == [("Do you cycle?",)]
    assert stored(app, Option, "label", "label_en") == [
        ("ja", "yes"), ("nein", "no"), ("manchmal", "sometimes")
    ]  # fmt: skip
    with app.app_context():
        survey = db.session.get(Survey, survey_id)
        builder.publish_survey(_staff(app), survey)
    resident = english(app.test_client())
    login(resident, make_user(Role.resident))
    page = body(resident.get(f"/surveys/{survey_id}"))
    assert '<legend class="kern-label">Do you cycle?' in page and ">sometimes</label>" in page
    assert "Fahren Sie Rad?" not in page and "manchmal" not in page
    # A new version keeps the English texts.
    with app.app_context():
        survey = db.session.get(Survey, survey_id)
        copy = builder.copy_survey(_staff(app), survey)
        copied = copy.questions()[0]
        assert (copied.text_en, [o.label_en for o in copied.options]) == (
            "Do you cycle?",
            ["yes", "no", "sometimes"],
        )


def test_page_headings_help_texts_and_scale_labels_in_english_stored_shown_and_copied(
    app: Flask, staff_client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    from kldialog.surveys import builder
    from kldialog.surveys.models import Question, SurveySection

    response = staff_client.post(
        "/staff/surveys/new",
        data={"title": "Umfrage", "opens_at": "2026-01-01T09:00", "closes_at": "2099-01-01T09:00",
              "eligibility": "resident"},
    )  # fmt: skip
    survey_id = int(response.headers["Location"].rsplit("/", 1)[1])
    added = staff_client.post(
        f"/staff/surveys/{survey_id}/sections",
        data={"section-title": "Ihr Viertel", "section-title_en": "Your neighbourhood"},
    )
    assert added.status_code == 303
    with app.app_context():
        sections = db.session.get(Survey, survey_id).sections
        assert [(s.title, s.title_en) for s in sections][-1] == (
            "Ihr Viertel",
            "Your neighbourhood",
        )
        first_id, section_id = sections[0].id, sections[-1].id
    # The new page alone: the first (empty) one goes, so the survey opens on it.
    assert (
        staff_client.post(f"/staff/surveys/{survey_id}/sections/{first_id}/delete").status_code
        == 303
    )
    too_long = staff_client.post(
        f"/staff/surveys/{survey_id}/questions/new",
        data={"section_id": section_id, "kind": "scale", "text": "Wie gern wohnen Sie hier?",
              "scale_low_label_en": "x" * 81},
    )  # fmt: skip
    assert too_long.status_code == 200 and "x" * 81 in too_long.text  # kept for correcting
    assert stored(app, Question, "id") == []
    saved = staff_client.post(
        f"/staff/surveys/{survey_id}/questions/new",
        data={"section_id": section_id, "kind": "scale", "text": "Wie gern wohnen Sie hier?",
              "text_en": "How much do you like living here?",
              "help_text": "Denken Sie an Ihre Straße.", "help_text_en": "Think of your street.",
              "scale_low_label": "gar nicht", "scale_low_label_en": "not at all",
              "scale_high_label": "sehr", "scale_high_label_en": "very much"},
    )  # fmt: skip
    assert saved.status_code == 303
    assert stored(app, Question, "help_text_en", "scale_low_label_en", "scale_high_label_en") == [
        ("Think of your street.", "not at all", "very much")
    ]
    with app.app_context():
        builder.publish_survey(_staff(app), db.session.get(Survey, survey_id))
    resident = english(app.test_client())
    login(resident, make_user(Role.resident))
    page = body(resident.get(f"/surveys/{survey_id}"))
    assert "Your neighbourhood" in page and "Think of your street." in page
    assert "1 – not at all" in page and "5 – very much" in page
    assert "Denken Sie" not in page and "gar nicht" not in page and "Ihr Viertel" not in page
    german_client = app.test_client()
    login(german_client, make_user(Role.resident))
    german = body(german_client.get(f"/surveys/{survey_id}"))
    assert "Ihr Viertel" in german and "Denken Sie an Ihre Straße." in german
    assert "1 – gar nicht" in german and "Think of your street." not in german
    # A new version keeps the English texts.
    with app.app_context():
        question = db.session.scalars(sa.select(Question)).one()
        copy = builder.copy_survey(_staff(app), db.session.get(Survey, survey_id))
        copied = copy.questions()[0]
        assert (copied.help_text_en, copied.scale_low_label_en, copied.scale_high_label_en) == (
            "Think of your street.", "not at all", "very much"
        )  # fmt: skip
        assert copy.sections[-1].title_en == "Your neighbourhood"
        assert question.section_id == section_id
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveySection)) == 2


def _staff(app: Flask) -> Any:
    """Return the staff account of the staff_client fixture."""
    from kldialog.auth.models import User

    return db.session.scalar(sa.select(User).where(User.display_name == "Staff Member"))


def test_english_survey_results_show_english_options_and_mark_german_ones(app: Flask) -> None:
    from werkzeug.datastructures import MultiDict

    from kldialog.auth import services as accounts
    from kldialog.kernel.time import utcnow
    from kldialog.surveys import answering, builder, results, services
    from kldialog.surveys.models import QuestionKind
    from kldialog.windows.models import Eligibility

    with app.app_context():
        owner = accounts.create_confirmed_user(
            email="ergebnis-staff@example.org", password="correct horse battery staple",
            display_name="Ergebnis Team", roles=[Role.staff],
        )  # fmt: skip
        now = utcnow()
        survey = builder.create_survey(
            owner, title="Parken", intro="", opens_at=now - dt.timedelta(days=2),
            closes_at=now + dt.timedelta(days=1), eligibility=Eligibility.resident,
        )  # fmt: skip
        section = survey.sections[0].id
        translated = builder.save_question(
            owner, survey, None, section_id=section, kind=QuestionKind.single,
            text="Wo parken Sie?", text_en="Where do you park?", is_required=True,
            options=["Parkhaus", "Straße"], options_en=["car park", "street"],
        )  # fmt: skip
        german = builder.save_question(
            owner, survey, None, section_id=section, kind=QuestionKind.single,
            text="Wie oft?", is_required=True, options=["täglich", "selten"],
        )  # fmt: skip
        builder.publish_survey(owner, survey)
        first, second = [o.id for o in translated.options], [o.id for o in german.options]
        for number in range(12):
            person = accounts.create_confirmed_user(
                email=f"ergebnis-{number}@example.org", password="correct horse battery staple",
                display_name=f"Ergebnis {number}", roles=[Role.resident],
            )  # fmt: skip
            answers = [(f"q{translated.id}", str(first[number % 2]))]
            answers.append((f"q{german.id}", str(second[number % 2])))
            answering.parse_and_submit(person, services.get_survey(survey.id), MultiDict(answers))
        survey = db.session.get(Survey, survey.id)
        survey.closes_at = utcnow() - dt.timedelta(minutes=1)
        db.session.commit()
        results.close_survey(survey)
        survey_id = survey.id
    page = body(english(app.test_client()).get(f"/surveys/{survey_id}/results"))
    assert 'scope="row">car park</th>' in page and 'scope="row">street</th>' in page
    assert 'scope="row"><span lang="de">täglich</span></th>' in page
    assert '<span class="bar-list__label"><span lang="de">selten</span>' in page
    assert '<span lang="de">Parkhaus' not in page and 'lang="de">1<' not in page
    german_page = body(app.test_client().get(f"/surveys/{survey_id}/results"))
    assert 'scope="row">Parkhaus</th>' in german_page and '<span lang="de">' not in german_page
