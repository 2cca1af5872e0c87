"""Indicator ratings of projects: stored per person, published only as released means."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from kldialog.auth.models import User
from kldialog.kernel.db import db
from kldialog.kernel.disclosure import Release, contribute, mean_allowed
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.stats import (
    MeanEstimate,
    mean_interval,
)
from kldialog.kernel.time import utcnow
from kldialog.priorities.models import (
    Indicator,
    ProjectRating,
)
from kldialog.priorities.releases import ensure_release_row
from kldialog.projects.models import Project


def rating_key(project_id: int, indicator: Indicator) -> str:
    """Return the release key of one indicator's ratings of a project."""
    return f"rating:{project_id}:{indicator.value}"


def _rating_snapshot(project_id: int, indicator: Indicator) -> tuple[int, dict[str, Any]]:
    """Return (n, {"counts": {score: count}}) of an indicator's ratings of a project."""
    rows = db.session.execute(
        sa.select(ProjectRating.score, sa.func.count())
        .where(ProjectRating.project_id == project_id, ProjectRating.indicator == indicator)
        .group_by(ProjectRating.score)
    ).all()
    return sum(count for _s, count in rows), {"counts": {str(s): c for s, c in rows}}


def _count_rating_change(
    project_id: int, indicator: Indicator, rater: int, *, remember: bool = True
) -> None:
    """Count a new, changed or removed rating towards the next release of its mean."""
    key = rating_key(project_id, indicator)
    ensure_release_row(key)
    contribute(
        key,
        current_app.config["RATING_MIN_GROUP_SIZE"],
        lambda: _rating_snapshot(project_id, indicator),
        contributor=rater,
        remember=remember,
        # No lag: no other figure ever follows a rating mean (page, council, CSV and API all
        # read this release), so successive releases are all a reader can compare.
        lag=False,
    )


def rate_project(user: User, project: Project, scores: Mapping[Indicator, int | None]) -> None:
    """Store or change the person's ratings of a project (None removes that rating).

    Every real change counts towards the next release of that indicator's mean: the page
    shows the release, which moves only after at least k changes (see rating_summaries).
    """
    for indicator, score in scores.items():
        if score is not None and not (isinstance(score, int) and 1 <= score <= 5):
            raise RuleViolation(_l("Choose a value from 1 to 5."), field=indicator.value)
    before = my_ratings(user, project)
    today = utcnow().date()
    for indicator, score in sorted(scores.items()):
        if before.get(indicator) == score:
            continue
        db.session.execute(
            sa.delete(ProjectRating).where(
                ProjectRating.project_id == project.id,
                ProjectRating.user_id == user.id,
                ProjectRating.indicator == indicator,
            )
        )
        if score is not None:
            db.session.add(
                ProjectRating(
                    project_id=project.id,
                    user_id=user.id,
                    indicator=indicator,
                    score=score,
                    rated_on=today,
                )
            )
        db.session.flush()
        _count_rating_change(project.id, indicator, user.id)
    db.session.commit()


def my_ratings(user: Any, project: Project) -> dict[Indicator, int]:
    """Return the person's current ratings of a project."""
    if not getattr(user, "is_authenticated", False):
        return {}
    return dict(
        db.session.execute(
            sa.select(ProjectRating.indicator, ProjectRating.score).where(
                ProjectRating.project_id == project.id, ProjectRating.user_id == user.id
            )
        ).all()
    )


@dataclass(frozen=True)
class RatingSummary:
    """An indicator's aggregate on a project; estimate is None below k or when too uniform."""

    indicator: Indicator
    n: int
    estimate: MeanEstimate | None
    # At least k rated, but the mean would pin more than n − k of them to one value.
    too_uniform: bool = False


def rating_summaries(project_ids: list[int]) -> dict[int, dict[Indicator, RatingSummary]]:
    """Return every project's released rating aggregates (one query), hidden below k.

    Never the live ratings: a mean with its n read before and after one new rating would
    give that rating exactly. A release is made only after at least k people added, changed
    or removed a rating since the previous one (kernel.disclosure.contribute), only when at
    least k people have rated, and its mean is shown only if it does not pin more than n − k
    of them to one value (kernel.disclosure.mean_allowed).
    """
    k = current_app.config["RATING_MIN_GROUP_SIZE"]
    keys = {
        rating_key(pid, indicator): (pid, indicator)
        for pid in project_ids
        for indicator in Indicator
    }
    releases = {
        release.key: release
        for release in (
            db.session.scalars(sa.select(Release).where(Release.key.in_(list(keys))))
            if keys
            else []
        )
    }
    summaries: dict[int, dict[Indicator, RatingSummary]] = {pid: {} for pid in project_ids}
    for key, (project_id, indicator) in keys.items():
        release = releases.get(key)
        if release is None or release.payload is None or (release.n or 0) < k:
            summaries[project_id][indicator] = RatingSummary(indicator, 0, None)
            continue
        counts = {int(score): count for score, count in release.payload["counts"].items()}
        if not mean_allowed(counts, k):
            summaries[project_id][indicator] = RatingSummary(indicator, 0, None, too_uniform=True)
            continue
        summaries[project_id][indicator] = RatingSummary(
            indicator, release.n or 0, mean_interval(counts)
        )
    return summaries


def erase_ratings(user: User) -> None:
    """Delete the person's ratings (account deletion; no commit); each counts as a change."""
    rated = db.session.execute(
        sa.select(ProjectRating.project_id, ProjectRating.indicator).where(
            ProjectRating.user_id == user.id
        )
    ).all()
    db.session.execute(sa.delete(ProjectRating).where(ProjectRating.user_id == user.id))
    for project_id, indicator in sorted(rated):
        # Counted once, but the release keeps no digest of a deleted account's id.
        _count_rating_change(project_id, indicator, user.id, remember=False)


def ratings_of(user: User) -> list[dict[str, Any]]:
    """Return the person's ratings for the data export (one query)."""
    rows = db.session.execute(
        sa.select(
            Project.title, ProjectRating.indicator, ProjectRating.score, ProjectRating.rated_on
        )
        .join(Project, Project.id == ProjectRating.project_id)
        .where(ProjectRating.user_id == user.id)
        .order_by(Project.title, ProjectRating.indicator)
    ).all()
    return [
        {"project": title, "indicator": indicator.value, "score": score, "rated_on": on.isoformat()}
        for title, indicator, score, on in rows
    ]
