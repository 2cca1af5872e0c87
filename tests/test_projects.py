"""Public roadmap pages: home, project list with filters, project page, query counts."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from html import unescape

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from kldialog.kernel.db import db
from kldialog.kernel.pagination import Page
from kldialog.projects import reading
from kldialog.projects.models import Category, Project, ProjectStatusChange, ProjectUpdate, Status

from .conftest import count_queries


def text_of(html: str) -> str:
    """Return the page's visible text with tags removed and whitespace folded."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def result_line(html: str) -> str:
    """Return the live-region text that announces the result count."""
    match = re.search(r'<div id="result-count"[^>]*>(.*?)</div>', html, re.S)
    assert match, "result count live region missing"
    return text_of(match.group(1)).strip()


def test_home_summarises_the_roadmap_like_the_council_letter(
    kaiserslautern: Flask, client: FlaskClient
) -> None:
    html = client.get("/").get_data(as_text=True)
    text = text_of(html)
    # The categories are named once, in the list with counts, not also in a sentence above it.
    assert "Nach Kategorie:" not in text
    assert text.count("Datenplattform 2 Projekte") == 1
    assert "Nach Status: abgeschlossen (5), in Umsetzung (11), in Planung (9)." in text
    assert "Die Roadmap auf dieser Plattform enthält 25 Projekte." in text
    assert 'href="/projects?status=planned"' in html
    assert "Justiz 0 Projekte" in text  # listed, but not a link to an empty result


def test_home_works_on_an_empty_roadmap(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "enthält 0 Projekte" in text_of(response.get_data(as_text=True))


def test_project_list_filters_by_status_and_category(
    kaiserslautern: Flask, client: FlaskClient
) -> None:
    html = client.get("/projects?status=planned&category=verkehr-mobilitaet").get_data(as_text=True)
    assert result_line(html) == "1 Projekt – in Planung, Kategorie „Verkehr & Mobilität“"
    assert "Intelligente Verkehrslenkung" in html
    assert "Handyparken" not in html
    assert '<option value="planned" selected>' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("öpnv", ["Letzte Meile im ÖPNV"]),
        ("ÖPNV", ["Letzte Meile im ÖPNV"]),
        ("smartphone", ["Handyparken"]),  # found in the summary
        ("plattform daten", ["Offene Plattform für städtische und Verwaltungsdaten"]),
        ("100%", []),
        ("_", []),
        ("<script>alert(1)</script>", []),
    ],
)
def test_search_folds_case_and_umlauts_and_treats_wildcards_literally(
    kaiserslautern: Flask, client: FlaskClient, query: str, expected: list[str]
) -> None:
    html = client.get("/projects", query_string={"q": query}).get_data(as_text=True)
    titles = re.findall(r'kern-link--stretched" href="[^"]+">([^<]+)</a>', html)
    assert [t for t in titles if any(e in t for e in expected)] == titles
    assert len(titles) == len(expected)
    assert "<script>alert(1)</script>" not in html


def test_sort_orders(kaiserslautern: Flask, client: FlaskClient, ctx: Flask) -> None:
    project = reading.get_project_by_slug("smart-meter-stadtwerke-kaiserslautern")
    project.status_changed_on = dt.date(2026, 11, 1)
    db.session.commit()
    html = client.get("/projects?sort=recent").get_data(as_text=True)
    first = re.search(r'kern-link--stretched" href="/projects/([^"]+)"', html).group(1)
    assert first == "smart-meter-stadtwerke-kaiserslautern"
    html = client.get("/projects?sort=category").get_data(as_text=True)
    categories = re.findall(r'<p class="kern-preline">([^<]+)</p>', html)
    assert categories[:3] == ["Bildung"] * 3


def test_the_bundled_roadmap_fits_on_one_page(kaiserslautern: Flask, client: FlaskClient) -> None:
    html = client.get("/projects").get_data(as_text=True)
    assert result_line(html) == "25 Projekte"
    assert "page=2" not in html


def test_pagination_keeps_filters_and_clamps_to_the_last_page(
    kaiserslautern: Flask, client: FlaskClient
) -> None:
    kaiserslautern.config["PROJECTS_PER_PAGE"] = 20
    html = client.get("/projects?sort=status&foo=bar").get_data(as_text=True)
    assert "Seite 1 von 2" in result_line(html)
    assert 'href="/projects?sort=status&amp;page=2"' in html  # unknown "foo" is not carried on
    html = client.get("/projects?page=99").get_data(as_text=True)
    assert "Eine Seite 99 gibt es nicht; Sie sehen Seite 2." in html
    assert "Seite 2 von 2" in result_line(html)


@pytest.mark.parametrize(
    ("query", "notice"),
    [
        ("status=done", "Der Wert für „Status“ war ungültig"),
        ("category=atlantis", "Der Wert für „Kategorie“ war ungültig"),
        ("sort=random()", "Der Wert für „Sortieren nach“ war ungültig"),
        ("status=%20", "Der Wert für „Status“ war ungültig"),
        ("status=%09", "Der Wert für „Status“ war ungültig"),
        ("sort=%20", "Der Wert für „Sortieren nach“ war ungültig"),
        ("sort=%20title", None),
        ("category=%20", "Der Wert für „Kategorie“ war ungültig"),
        ("page=abc", "Der Wert für „Seite“ war ungültig"),
        ("page=%C2%B2", "Der Wert für „Seite“ war ungültig"),
        ("page=%D9%A3", "Der Wert für „Seite“ war ungültig"),
        ("page=-3", "Der Wert für „Seite“ war ungültig"),
        ("page=99999999999999999999999", "Der Wert für „Seite“ war ungültig"),
        ("q=" + "x" * 500, "Der Wert für „Suche in Titel und Kurzbeschreibung“ war ungültig"),
        ("utm_source=newsletter", "Der unbekannte Parameter „utm_source“ wurde ignoriert."),
        ("status=planned&status=<b>x</b>", None),
        ("q=%ff%fe", None),
        ("q=%e2%80%ae%c2%a0\u200b", None),
    ],
)
def test_malformed_parameters_are_ignored_with_a_notice_never_a_500(
    kaiserslautern: Flask, client: FlaskClient, query: str, notice: str | None
) -> None:
    response = client.get(f"/projects?{query}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    if notice:
        assert notice in html
    assert "<b>x</b>" not in html


def test_project_page_shows_facts_history_and_updates(
    kaiserslautern: Flask, client: FlaskClient, ctx: Flask
) -> None:
    project = reading.get_project_by_slug("handyparken")
    project.department = "Referat Recht und Ordnung"
    project.progress = 100
    db.session.add(
        ProjectStatusChange(
            project=project,
            changed_on=dt.date(2020, 3, 2),
            old_status=Status.completed,
            new_status=Status.in_progress,
            reason="Neue Ausschreibung",
            author="KL.digital GmbH",
        )
    )
    db.session.add(
        ProjectUpdate(
            project=project,
            published_on=dt.date(2026, 11, 2),
            title="Tagestickets",
            body="Absatz eins.\n\nAbsatz <zwei>.",
        )
    )
    db.session.commit()
    html = client.get("/projects/handyparken").get_data(as_text=True)
    text = text_of(html)
    assert '<h1 class="kern-heading-x-large">Handyparken</h1>' in html
    assert "Referat Recht und Ordnung" in text
    assert "Fortschritt 100 %" in text.replace("\xa0", " ")
    assert "Von der Redaktion zugeordnet" in text
    assert "02.03.2020" in text and "Status geändert von „abgeschlossen“ zu „in Umsetzung“." in text
    assert "Neue Ausschreibung" in text and "Quelle: KL.digital GmbH" in text
    timeline = text_of(html.split('<ol class="timeline">')[1].split("</ol>")[0])
    assert timeline.index("02.03.2020") < timeline.index("Juni 2019")  # newest first
    assert "Tagestickets" in text and "Absatz &lt;zwei&gt;." in html
    assert 'aria-current="page">Handyparken</span>' in html  # breadcrumb


def test_project_page_in_english(kaiserslautern: Flask, client: FlaskClient) -> None:
    client.post("/language", data={"lang": "en", "next": "/"})
    text = text_of(client.get("/projects/handyparken").get_data(as_text=True))
    assert "As of June 2019" in text and "Status history" in text and "completed" in text


@pytest.mark.parametrize(
    "slug", ["nope", "HANDYPARKEN", "handyparken%C3%A4", "a" * 500, "..%2f..%2fetc", "%F0%9F%98%80"]
)
def test_unknown_project_gives_the_404_page(
    kaiserslautern: Flask, client: FlaskClient, slug: str
) -> None:
    response = client.get(f"/projects/{slug}")
    assert response.status_code == 404
    assert "Seite nicht gefunden" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path", ["/projects?q=a%00b", "/projects?status=%00", "/projects/handyparken%00", "/?x=%00"]
)
def test_nul_bytes_get_a_clear_400_not_a_500(
    kaiserslautern: Flask, client: FlaskClient, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 400
    assert "Ungültige Anfrage" in response.get_data(as_text=True)


def create_projects(number: int) -> None:
    """Insert many projects with a history entry and an update each, fast (bulk)."""
    categories = [
        Category(name=f"Kategorie {i}", slug=f"kategorie-{i}", position=i) for i in range(12)
    ]
    db.session.add_all(categories)
    db.session.flush()
    statuses = list(Status)
    db.session.execute(
        sa.insert(Project),
        [
            {
                "slug": f"projekt-{i}",
                "title": f"Projekt {i}",
                "summary": f"Zusammenfassung {i}",
                "search_text": f"projekt {i}\nzusammenfassung {i}",
                "category_id": categories[i % 12].id,
                "status": statuses[i % 3],
                "progress": i % 101,
                "department": "Referat",
                "status_changed_on": dt.date(2020, 1, 1) + dt.timedelta(days=i % 900),
            }
            for i in range(number)
        ],
    )
    ids = db.session.scalars(sa.select(Project.id)).all()
    db.session.execute(
        sa.insert(ProjectStatusChange),
        [
            {"project_id": pid, "changed_on": dt.date(2020, 1, 1), "new_status": "planned"}
            for pid in ids
        ],
    )
    db.session.execute(
        sa.insert(ProjectUpdate),
        [{"project_id": pid, "published_on": dt.date(2021, 1, 1), "title": "Neu"} for pid in ids],
    )
    db.session.commit()


PAGES_TO_COUNT = [
    "/",
    "/projects",
    "/projects?status=planned&sort=category&q=projekt",
    "/projects?sort=recent&page=2",
    "/projects/projekt-3",
]


@pytest.mark.parametrize("path", PAGES_TO_COUNT)
def test_query_count_does_not_grow_with_the_roadmap(
    app_factory: Callable[..., Flask], path: str
) -> None:
    measured = []
    for number in (10, 2000):
        app = app_factory()
        with app.app_context():
            create_projects(number)
            client = app.test_client()
            client.get(path)  # warm up: first-request work is not per-page work
            with count_queries() as statements:
                response = client.get(path)
            assert response.status_code == 200
            measured.append(len(statements))
            db.session.remove()
            db.drop_all()
    small, large = measured
    assert small == large, f"{path}: {small} queries with 10 projects, {large} with 2,000"
    # The project page also reads its indicator ratings and the open rounds and surveys it is in.
    limit = 7 if path.startswith("/projects/") else 4
    assert large <= limit, f"{path} runs {large} queries"


@pytest.mark.parametrize(
    ("page", "pages", "expected"),
    [
        (1, 1, [1]),
        (1, 3, [1, 2, 3]),
        (1, 100, [1, 2, 3, None, 100]),
        (50, 100, [1, None, 48, 49, 50, 51, 52, None, 100]),
        (4, 100, [1, 2, 3, 4, 5, 6, None, 100]),
        (100, 100, [1, None, 98, 99, 100]),
    ],
)
def test_pagination_window(page: int, pages: int, expected: list[int | None]) -> None:
    result = Page(items=[], total=pages * 20, page=page, per_page=20)
    assert result.window() == expected
