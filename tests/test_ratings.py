"""Indicator ratings against a patient analyst: means move only in steps of k ratings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from flask import Flask

from kldialog.auth.models import Role, User
from kldialog.kernel.db import db
from kldialog.kernel.disclosure import release_of
from kldialog.priorities import services
from kldialog.priorities.models import Indicator, ProjectRating
from kldialog.projects.models import Project

from .conftest import base_config, login


def rate(app: Flask, user_id: int, project_id: int, score: int | None) -> None:
    """Rate a project's benefit through the service."""
    with app.app_context():
        services.rate_project(
            db.session.get(User, user_id), db.session.get(Project, project_id),
            {Indicator.benefit: score},
        )  # fmt: skip


def figures(client: Any, slug: str) -> tuple[str, str]:
    """Return the benefit figure of the public project page and the council CSV's line."""
    page = client.get(f"/projects/{slug}").get_data(as_text=True)
    box = page.split('id="rating-title"', 1)[1].split("</dl>", 1)[0]
    public = box.split("</dd>", 1)[0]  # the first indicator is the benefit
    rows = client.get("/council/ratings.csv").get_data(as_text=True).splitlines()
    [line] = [row for row in rows if row.startswith("Open Data;")]
    return public, line


def test_rating_means_move_only_in_steps_of_k_ratings(
    app: Flask, client: Any, make_user: Any, make_project: Any
) -> None:
    project = make_project("Open Data", category="Verwaltung")
    k = app.config["RATING_MIN_GROUP_SIZE"]
    assert k == 5  # the scores below are chosen for five
    raters = [make_user().id for _ in range(3 * k)]
    login(client, make_user(Role.council))
    first = [2, 3, 4, 5, 5, 1, 3, 4, 2, 4]
    for rater, score in zip(raters[:10], first, strict=True):
        rate(app, rater, project.id, score)
    public, line = figures(client, project.slug)
    assert "Mittelwert 3,3" in public and "n = 10" in public  # the page: one decimal
    assert line.startswith("Open Data;Verwaltung;10;3,300;")  # the CSV: three decimals
    # One new rating, one change, one removal, one more new: each alone changes nothing.
    changes = [(raters[10], 1), (raters[0], 5), (raters[1], None), (raters[11], 1)]
    for rater, score in changes:
        rate(app, rater, project.id, score)
        assert figures(client, project.slug) == (public, line)
    rate(app, raters[12], project.id, 1)  # the k-th person since the release
    moved_public, moved_line = figures(client, project.slug)
    assert "n = 12" in moved_public and moved_line.startswith("Open Data;Verwaltung;12;3,000;")


def test_one_rater_changing_k_times_does_not_move_the_mean(
    app: Flask, client: Any, make_user: Any, make_project: Any
) -> None:
    project = make_project("Open Data", category="Verwaltung")
    raters = [make_user().id for _ in range(11)]
    for rater, score in zip(raters[:10], [2, 3, 4, 5, 5, 1, 3, 4, 2, 4], strict=True):
        rate(app, rater, project.id, score)
    login(client, make_user(Role.council))
    before = figures(client, project.slug)
    # Toggling one's own rating k times must not let a newcomer's rating be differenced.
    for score in [1, 5, 1, 5]:
        rate(app, raters[0], project.id, score)
    rate(app, raters[10], project.id, 3)
    assert figures(client, project.slug) == before


def test_an_unchanged_rating_does_not_count_as_a_change(
    app: Flask, client: Any, make_user: Any, make_project: Any
) -> None:
    project = make_project("Open Data", category="Verwaltung")
    raters = [make_user().id for _ in range(5)]
    for rater in raters[:4]:
        rate(app, rater, project.id, 4)
    for _again in range(3):  # saving the same value again is no new contribution
        rate(app, raters[0], project.id, 4)
    login(client, make_user(Role.council))
    public, _line = figures(client, project.slug)
    assert "mindestens 5 Personen" in public
    rate(app, raters[4], project.id, 4)
    public, line = figures(client, project.slug)
    # Released now, but five times 4 would say what each gave: the mean stays hidden.
    assert "zu einheitlich" in public and "4,0" not in public
    assert line.startswith("Open Data;Verwaltung;zu einheitlich, um es zu zeigen;;;;")


def test_the_migration_releases_the_means_already_on_the_site(tmp_path: Path) -> None:
    from flask_migrate import upgrade

    from kldialog import create_app
    from kldialog.projects.models import Category, Status

    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/m.sqlite"))
    with app.app_context():
        upgrade(revision="0020_events")  # before releases were read: ratings without any

        # Rows as the schema of 0020 had them (the models have columns of later migrations):
        # the tables as they are now, each NOT NULL column filled with the model's default.
        def insert(model: Any, values: dict[str, Any]) -> int:
            table = sa.Table(
                model.__tablename__, sa.MetaData(), autoload_with=db.session.connection()
            )
            for column in table.columns:
                default = model.__table__.c[column.name].default
                if column.name not in values and not column.nullable and default is not None:
                    arg = default.arg  # type: ignore[attr-defined]
                    values[column.name] = arg if default.is_scalar else arg(None)
            return int(db.session.execute(sa.insert(table).values(values)).inserted_primary_key[0])

        category_id = insert(Category, {"name": "Verwaltung", "slug": "verwaltung"})
        project, few = (
            SimpleNamespace(id=insert(Project, {
                "slug": slug, "title": title, "summary": "", "status": Status.planned.value,
                "category_id": category_id, "search_text": title.casefold()}), slug=slug)
            for slug, title in (("open-data", "Open Data"), ("wenig", "Wenig"))
        )  # fmt: skip
        given = {"password_hash": "x", "roles": int(Role.resident),
                 "created_at": dt.datetime(2026, 1, 1)}  # fmt: skip
        accounts = sa.Table("user_account", sa.MetaData(), autoload_with=db.session.connection())
        for column in accounts.columns:
            default = User.__table__.c[column.name].default
            if column.name not in given and not column.nullable and default is not None:
                arg = default.arg  # type: ignore[attr-defined]
                given[column.name] = arg if default.is_scalar else arg(None)
        db.session.execute(
            sa.insert(accounts),
            [
                given | {"email": f"r{n}@example.org", "display_name": f"r{n}",
                         "display_name_key": f"r{n}"}
                for n in range(5)
            ],
        )  # fmt: skip
        db.session.flush()
        people = [
            SimpleNamespace(id=user_id)
            for user_id in db.session.scalars(sa.text("SELECT id FROM user_account ORDER BY id"))
        ]
        today = dt.date.today()
        db.session.add_all(
            [
                ProjectRating(project_id=project.id, user_id=p.id, indicator=Indicator.benefit,
                              score=score, rated_on=today)
                for p, score in zip(people, [2, 3, 4, 5, 5], strict=True)
            ]
            + [ProjectRating(project_id=few.id, user_id=people[0].id,
                             indicator=Indicator.benefit, score=1, rated_on=today)]
        )  # fmt: skip
        db.session.commit()
        upgrade(revision="0023_rounds")
        upgrade()  # the model reads the columns of the later migrations too
        release = release_of(f"rating:{project.id}:benefit")
        assert release is not None and release.n == 5
        assert release.payload == {"counts": {"2": 1, "3": 1, "4": 1, "5": 2}}
        assert release_of(f"rating:{few.id}:benefit") is None
        # Five ratings with their mean and interval pin each of them down: not shown.
        assert services.rating_summaries([project.id])[project.id][Indicator.benefit].too_uniform
        db.session.remove()
        db.engine.dispose()
