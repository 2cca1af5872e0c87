"""Council dashboard: one overview of rounds, ratings and surveys, with CSV export and print.

Everything here is already aggregated and k-suppressed by the features that own the data;
the dashboard only reads their snapshots, so its cost does not grow with ballots or answers.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, render_template
from flask_login import current_user, login_required

from kldialog.council.tables import order_rating_rows, ratings_csv_rows
from kldialog.kernel.csv import csv_response
from kldialog.kernel.db import db
from kldialog.kernel.time import as_utc, utcnow
from kldialog.permissions import is_council, require
from kldialog.priorities import services as priorities
from kldialog.priorities.forms import INDICATOR_LABELS
from kldialog.priorities.models import Indicator, RoundResult
from kldialog.projects.models import Category, Project, Visibility
from kldialog.surveys import services as surveys
from kldialog.surveys.models import Survey, SurveyState
from kldialog.surveys.results import final_channels
from kldialog.templating import page_language

bp = Blueprint("council", __name__)


def _rating_rows() -> list[dict[str, Any]]:
    """Return every published project with its two indicator aggregates (two queries)."""
    projects = list(
        db.session.scalars(
            sa.select(Project)
            .join(Project.category)
            .options(sa.orm.contains_eager(Project.category))
            .where(Project.state == Visibility.published)
            .order_by(Category.name, Project.title)
        )
    )
    summaries = priorities.rating_summaries([p.id for p in projects])
    return [{"project": p, "ratings": summaries[p.id]} for p in projects]


def _recent(rounds: list[Any], closed_surveys: list[Any], days: int = 30) -> dict[str, Any]:
    """Return what closed in the last `days` days: the lead of the council's reading."""
    since = utcnow() - dt.timedelta(days=days)
    return {
        "days": days,
        "rounds": [r for r in rounds if r.is_closed() and as_utc(r.closes_at) >= since],
        "surveys": [s for s in closed_surveys if as_utc(s.closes_at) >= since],
    }


def _open_surveys() -> list[Survey]:
    """Return the published surveys open now, with their participation counts (one query)."""
    now = utcnow()
    return list(
        db.session.scalars(
            sa.select(Survey)
            .where(
                Survey.state == SurveyState.published,
                Survey.opens_at <= now,
                Survey.closes_at > now,
            )
            .order_by(Survey.closes_at, Survey.id)
        )
    )


@bp.get("/council")
@login_required
def overview() -> str:
    """Show the council's overview: what changed, priorities, indicator ratings, surveys."""
    require(is_council(current_user))
    rounds = priorities.public_rounds()
    closed_ids = [r.id for r in rounds if r.is_closed()]
    results = {
        round_id: json.loads(text)
        for round_id, text in db.session.execute(
            sa.select(RoundResult.round_id, RoundResult.results).where(
                RoundResult.round_id.in_(closed_ids)
            )
        ).all()
    }
    priorities.add_english_names(list(results.values()), page_language())
    rated, unrated = order_rating_rows(_rating_rows())
    closed_surveys = surveys.result_surveys_for(current_user)
    closed_surveys = [s for s in closed_surveys if s.is_closed()]
    return render_template(
        "council/overview.html",
        rounds=rounds,
        results=results,
        rated=rated,
        unrated=unrated,
        indicators=list(Indicator),
        min_group=current_app.config["RATING_MIN_GROUP_SIZE"],
        surveys=closed_surveys,
        survey_channels=final_channels(closed_surveys),
        open_surveys=_open_surveys(),
        recent=_recent(rounds, closed_surveys),
    )


@bp.get("/council/ratings.csv")
@login_required
def ratings_csv() -> Response:
    """Download the ratings as a spreadsheet German Excel opens: semicolons, BOM, decimal comma."""
    require(is_council(current_user))
    rows = ratings_csv_rows(
        _rating_rows(), INDICATOR_LABELS, current_app.config["RATING_MIN_GROUP_SIZE"]
    )
    return csv_response(rows, "indicator-ratings.csv", delimiter=";", bom=True)
