"""Results and council pages as residents and council members read them (issue 13, 6/7/10)."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from flask import Flask

from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.council.tables import order_rating_rows, ratings_csv_rows
from kldialog.kernel.csv import csv_text
from kldialog.kernel.db import db
from kldialog.kernel.stats import MeanEstimate
from kldialog.priorities import services
from kldialog.priorities.models import Indicator, Method
from kldialog.priorities.results import tier_groups
from kldialog.projects.models import Project
from kldialog.surveys.models import Survey

from .conftest import login
from .test_priorities import end_round, make_round, projects, vote_many
from .test_surveys import make_survey, staff

__all__ = ["make_survey", "projects", "staff"]  # the fixtures, imported for the tests below

LONG_TITLE = "Digitale Bürgerdienste rund um die Uhr für alle Stadtteile"


def test_tier_groups_sort_by_the_share_the_bars_show() -> None:
    rows = [
        {"title": "A", "tier": 1, "share": 0.39},
        {"title": "B", "tier": 1, "share": 0.40},
        {"title": "C", "tier": 2, "share": 0.45},
        {"title": "D", "tier": 1, "share": 0.40},
    ]
    groups = tier_groups(rows)
    assert [tier for tier, _members in groups] == [1, 2]
    assert [p["title"] for p in groups[0][1]] == ["B", "D", "A"]  # 40 % above 39 %


def test_points_round_bars_show_the_share_of_points_that_ranked_them() -> None:
    # B is on more ballots but got fewer points: a points round ranks A first, so its bar leads.
    rows = [
        {"title": "A", "tier": 1, "share": 0.40, "points": 30},
        {"title": "B", "tier": 1, "share": 0.60, "points": 10},
        {"title": "C", "tier": 2, "share": 0.70, "points": 10},
    ]
    groups = tier_groups(rows, "points")
    assert [[p["title"] for p in members] for _tier, members in groups] == [["A", "B"], ["C"]]
    assert [p["bar"] for p in groups[0][1]] == [0.6, 0.2]
    assert groups[1][1][0]["bar"] == 0.2  # never longer than a bar in the group above
    approval = tier_groups(rows)
    assert [p["title"] for p in approval[0][1]] == ["B", "A"]


def test_points_round_results_page_shows_points_shares(
    app: Flask, client: Any, projects: list[Project]
) -> None:
    round_id = make_round(app, projects, method=Method.points, budget=10, max_per_project=8)
    # projects[0]: 5 ballots × 8 points; projects[1]: on all 8 ballots with 2 points each.
    heavy = [{projects[0].id: 8, projects[1].id: 2}] * 5
    vote_many(app, round_id, heavy + [{projects[1].id: 2}] * 3)
    end_round(app, round_id, close=True)
    page = client.get(f"/priorities/{round_id}/results").get_data(as_text=True)
    before_details = page.split('id="details-title"', 1)[0]
    assert "Anteil an allen Punkten" in before_details
    shares = [int(v) for v in re.findall(r'bar-list__value">(\d+)\s*%', before_details)]
    assert shares[:2] == [71, 29]  # 40 of 56 points, 16 of 56 — not 63 % and 100 % of ballots


def _row(title: str, benefit: tuple[int, float] | None, care: tuple[int, float] | None) -> Any:
    def summary(indicator: Indicator, value: tuple[int, float] | None) -> Any:
        estimate = None if value is None else MeanEstimate(value[0], value[1], 1.0, 5.0)
        return SimpleNamespace(
            indicator=indicator, n=value[0] if value else 0, estimate=estimate, too_uniform=False
        )

    project = SimpleNamespace(title=title, category=SimpleNamespace(name="Verwaltung"))
    ratings = {Indicator.benefit: summary(Indicator.benefit, benefit)}
    ratings[Indicator.data_care] = summary(Indicator.data_care, care)
    return {"project": project, "ratings": ratings}


def test_rated_projects_come_first_most_ratings_then_higher_mean() -> None:
    rows = [
        _row("Alpha", None, None),
        _row("Beta", (5, 3.0), None),
        _row("Gamma", (9, 2.0), (9, 4.0)),
        _row("Delta", None, None),
        _row("Epsilon", (5, 4.5), (5, 4.0)),
    ]
    rated, rest = order_rating_rows(rows)
    assert [r["project"].title for r in rated] == ["Gamma", "Epsilon", "Beta"]
    assert [r["project"].title for r in rest] == ["Alpha", "Delta"]  # their given order


def test_ratings_file_opens_in_german_excel(app: Flask) -> None:
    rows = [_row("Alpha", None, None), _row("=Beta", (6, 3.25), (6, 4.5))]
    labels = {Indicator.benefit: "Mehrwert", Indicator.data_care: "Datensparsamkeit"}
    with app.test_request_context(headers={"Accept-Language": "de"}):
        data = csv_text(ratings_csv_rows(rows, labels, 5), bom=True, delimiter=";").encode()
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads the umlauts
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].split(";")[:4] == ["Projekt", "Kategorie", "Mehrwert: Bewertungen"] + [
        "Mehrwert: Mittelwert (1–5)"
    ]
    assert lines[1] == "'=Beta;Verwaltung;6;3,250;1,000;5,000;6;4,500;1,000;5,000"
    assert lines[2] == "Alpha;Verwaltung;weniger als 5;;;;weniger als 5;;;"


def _council(app: Flask, client: Any, make_user: Any, projects: list[Project]) -> None:
    with app.app_context():
        # Ten varied ratings: five alike would be "too uniform to show" (kernel.disclosure).
        benefit, care = [2, 3, 4, 5, 5, 1, 3, 4, 2, 4], [4, 3, 2, 1, 5, 5, 2, 3, 4, 3]
        for number, (first, second) in enumerate(zip(benefit, care, strict=True)):
            rater = accounts.create_confirmed_user(
                email=f"ux-rater{number}@example.org",
                password="correct horse battery staple",
                display_name=f"Bewerter {number}",
                roles=[],
            )
            services.rate_project(
                rater, projects[4], {Indicator.benefit: first, Indicator.data_care: second}
            )
    login(client, make_user(Role.council))


def test_council_download_is_german_excel_csv_with_rated_rows_first(
    app: Flask, client: Any, make_user: Any, projects: list[Project]
) -> None:
    _council(app, client, make_user, projects)
    response = client.get("/council/ratings.csv")
    data = response.get_data()
    assert response.mimetype == "text/csv"
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Projekt;Kategorie;")
    assert lines[1].startswith("Smarte Ampeln;Mobilität;10;3,300;")  # the rated one first
    assert all("weniger als 5" in line for line in lines[2:])
    client.post("/language", data={"lang": "en", "next": "/"})
    english = client.get("/council/ratings.csv").get_data().decode("utf-8-sig").splitlines()
    assert english[0].startswith("Project;Category;")
    assert english[1].startswith("Smarte Ampeln;Mobilität;10;3.300;")


def test_council_page_leads_with_changes_and_groups_the_unrated(
    app: Flask, client: Any, make_user: Any, projects: list[Project]
) -> None:
    round_id = make_round(app, projects)
    vote_many(app, round_id, [{projects[0].id: 1, projects[1].id: 1}] * 5 + [{projects[0].id: 1}])
    end_round(app, round_id, close=True)
    _council(app, client, make_user, projects)
    page = client.get("/council").get_data(as_text=True)
    main = page.split("<main", 1)[1]
    changes = main.split('id="council-changes"', 1)[1].split("</section>", 1)[0]
    assert "Was ist Ihnen wichtig?" in changes and "2 Projekte liegen vorn (n = 6" in changes
    decided = changes.split("Was feststeht", 1)[1]
    assert "Freies WLAN, Glasfaser" in decided and "Open Data" not in decided
    assert main.index('id="council-changes"') < main.index('id="council-rounds"')
    ratings = main.split('id="council-ratings"', 1)[1].split("</section>", 1)[0]
    table, unrated = ratings.split("<details", 1)
    assert "Smarte Ampeln" in table and "Open Data" not in table
    assert "Projekte mit weniger als 5 Bewertungen" in unrated and "Open Data" in unrated
    for indicator in Indicator:  # both indicators are charted
        assert f'id="chart-{indicator.value}"' in ratings


def test_closed_results_lead_plainly_and_order_bars_by_share(
    app: Flask, client: Any, make_project: Any, projects: list[Project]
) -> None:
    long = make_project(LONG_TITLE, category="Verwaltung")
    round_id = make_round(app, [*projects, long])
    choices = [{projects[0].id: 1, long.id: 1}] * 4 + [{projects[0].id: 1}] * 2
    vote_many(app, round_id, choices + [{projects[2].id: 1}] * 2)
    end_round(app, round_id, close=True)
    page = client.get(f"/priorities/{round_id}/results").get_data(as_text=True)
    main = page.split("<main", 1)[1].split("</main>", 1)[0]
    lead = main.split('class="kern-body kern-body--large prose results-lead">', 1)[1]
    assert re.match(r"(Ein Projekt liegt klar vorn\.|Diese \d+ Projekte liegen vorn;)", lead)
    assert "Kreuzen Sie" not in main and "ankreuzen" not in main  # no voting instructions
    before_details = main.split('id="details-title"', 1)[0]
    for jargon in ("Bootstrap", "Wilson", "Rangintervall"):
        assert jargon not in before_details
    assert "Wie wir rechnen" in main and "Wilson" in main.split('id="how-we-count"', 1)[1]
    assert f">{LONG_TITLE}<" in before_details  # the label in full
    shares = [int(v) for v in re.findall(r'bar-list__value">(\d+)\s*%', before_details)]
    first_tier = before_details.split('id="tier-2"', 1)[0]
    tier_shares = [int(v) for v in re.findall(r'bar-list__value">(\d+)\s*%', first_tier)]
    assert tier_shares == sorted(tier_shares, reverse=True) and shares


def test_council_page_shows_open_surveys_with_counts_and_recently_closed_ones(
    app: Flask, client: Any, make_user: Any, make_survey: Any
) -> None:
    busy = make_survey(title="Umfrage Radwege")
    quiet = make_survey(title="Umfrage Parken")
    done = make_survey(title="Umfrage Spielplätze")
    k = app.config["SURVEY_MIN_GROUP_SIZE"]
    with app.app_context():
        now = dt.datetime.now(dt.UTC)
        for survey_id, count in ((busy, k + 2), (quiet, k - 1), (done, k)):
            db.session.execute(
                sa.update(Survey).where(Survey.id == survey_id).values(participant_count=count)
            )
        db.session.execute(
            sa.update(Survey)
            .where(Survey.id == done)
            .values(opens_at=now - dt.timedelta(days=9), closes_at=now - dt.timedelta(days=2))
        )
        db.session.commit()
    login(client, make_user(Role.council))
    main = client.get("/council").get_data(as_text=True).split("<main", 1)[1]
    changes = main.split('id="council-changes"', 1)[1].split("</section>", 1)[0]
    assert "Die Umfrage „Umfrage Spielplätze“ endete am" in changes
    open_now = changes.split('class="kern-list council-open-surveys"', 1)[1]
    assert f"Umfrage Radwege – bisher {k + 2} Teilnehmende" in open_now
    assert f"Umfrage Parken – bisher weniger als {k} Teilnehmende" in open_now
    assert "Spielplätze" not in open_now
