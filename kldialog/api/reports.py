"""The moderation report and the indicator rating aggregates, as the public pages release them."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, url_for

from kldialog.api import schemas
from kldialog.api.paging import page_links
from kldialog.kernel.pagination import paginate
from kldialog.moderation.services import monthly_report, report_as_dict
from kldialog.priorities.models import Indicator
from kldialog.priorities.services import rating_summaries
from kldialog.projects.models import Project, Visibility


def moderation_report() -> schemas.ModerationReport:
    """Return the public moderation report per month (the same figures as its page)."""
    return schemas.ModerationReport(
        items=[schemas.ModerationMonth(**month) for month in report_as_dict(monthly_report())],
        html_url=url_for("moderation.report", _external=True),
    )


def ratings(query: schemas.PageQuery, params: dict[str, str]) -> schemas.RatingPage:
    """Return one page of published projects with their released indicator aggregates.

    An indicator shows n and the mean only when the project page would (at least k people
    rated, and not "too uniform": kernel.disclosure.mean_allowed); otherwise neither is
    published, so no small group can be told apart.
    """
    published = Project.state == Visibility.published
    page = paginate(
        sa.select(Project.id, Project.slug).where(published).order_by(Project.slug, Project.id),
        count=sa.select(sa.func.count(Project.id)).where(published),
        page=query.page,
        per_page=query.per_page,
        scalars=False,
    )
    summaries = rating_summaries([row.id for row in page.items])
    items = []
    for row in page.items:
        indicators = []
        for indicator in Indicator:
            summary = summaries[row.id][indicator]
            estimate = summary.estimate
            indicators.append(
                schemas.IndicatorRating(
                    indicator=indicator.value,
                    released=estimate is not None,
                    n=summary.n if estimate is not None else None,
                    mean=schemas.Interval(
                        estimate=estimate.mean, low=estimate.low, high=estimate.high
                    )
                    if estimate is not None
                    else None,
                )
            )
        items.append(
            schemas.ProjectRatings(
                project=row.slug,
                url=url_for("api.v1.project", slug=row.slug, _external=True),
                indicators=indicators,
            )
        )
    return schemas.RatingPage(
        items=items,
        min_group_size=current_app.config["RATING_MIN_GROUP_SIZE"],
        page=page.page,
        per_page=page.per_page,
        total=page.total,
        pages=page.pages,
        links=page_links("api.v1.ratings", params, page.page, page.pages),
    )
