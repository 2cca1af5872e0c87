"""Council dashboard: one overview of rounds, ratings and surveys, with CSV export and print.

Everything here is already aggregated and k-suppressed by the features that own the data;
the dashboard only reads their snapshots, so its cost does not grow with ballots or answers.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, render_template
from flask_login import current_user, login_required

from kldialog.kernel.csv import csv_response
from kldialog.kernel.db import db
from kldialog.permissions import is_council, require
from kldialog.priorities import services as priorities
from kldialog.priorities.models import Indicator, RoundResult
from kldialog.projects.models import Category, Project, Visibility
from kldialog.surveys import services as surveys

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


@bp.get("/council")
@login_required
def overview() -> str:
    """Show the council's overview: priorities by round, indicator ratings, surveys."""
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
    rows = _rating_rows()
    rated = [row for row in rows if row["ratings"][Indicator.benefit].estimate is not None]
    rated.sort(key=lambda row: -row["ratings"][Indicator.benefit].estimate.mean)
    return render_template(
        "council/overview.html",
        rounds=rounds,
        results=results,
        rating_rows=rows,
        rated=rated,
        indicators=list(Indicator),
        min_group=current_app.config["RATING_MIN_GROUP_SIZE"],
        surveys=surveys.result_surveys_for(current_user),
    )


@bp.get("/council/ratings.csv")
@login_required
def ratings_csv() -> Response:
    """Download the indicator ratings per project (hidden below the minimum group size)."""
    require(is_council(current_user))
    header: list[Any] = ["project", "category"]
    for indicator in Indicator:
        header += [f"{indicator.value}_n", f"{indicator.value}_mean", f"{indicator.value}_low_95"]
        header += [f"{indicator.value}_high_95"]
    rows = [header]
    for row in _rating_rows():
        line = [row["project"].title, row["project"].category.name]
        for indicator in Indicator:
            summary = row["ratings"][indicator]
            if summary.estimate is None:  # below k: neither n nor mean, only that it is hidden
                line += ["suppressed", "", "", ""]
            else:
                estimate = summary.estimate
                line += [
                    summary.n,
                    f"{estimate.mean:.3f}",
                    f"{estimate.low:.3f}",
                    f"{estimate.high:.3f}",
                ]
        rows.append(line)
    return csv_response(rows, "indicator-ratings.csv")
