"""Finding surveys (lists, one survey with its questions) and the personal-data hooks.

The use cases live next door: builder (staff), answering (residents), storage (staging,
flushes, rewrites), results and crosstabs (releases), export (staff CSV), review (free
text), retention (purge).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from kldialog import permissions
from kldialog.auth.models import User
from kldialog.kernel.db import db
from kldialog.kernel.time import utcnow
from kldialog.surveys.models import (
    Question,
    Survey,
    SurveyParticipation,
    SurveySection,
    SurveyState,
    survey_project,
)


def get_survey(survey_id: int) -> Survey | None:
    """Return a survey with its sections, questions and options loaded (four queries)."""
    return db.session.scalar(
        sa.select(Survey)
        .where(Survey.id == survey_id)
        .options(
            selectinload(Survey.sections)
            .selectinload(SurveySection.questions)
            .selectinload(Question.options),
            selectinload(Survey.projects),
        )
    )


def surveys_for_list(user: Any, *, staff: bool) -> list[Survey]:
    """Return the surveys to list: published ones, and drafts too for staff (one query)."""
    query = sa.select(Survey).order_by(Survey.closes_at.desc(), Survey.id.desc())
    if not staff:
        query = query.where(Survey.state == SurveyState.published)
    return list(db.session.scalars(query))


def result_surveys_for(user: Any) -> list[Survey]:
    """Return the surveys whose results this person may see, newest close first (one query).

    Staff see every published survey (also while open); everyone else, the council included,
    published surveys whose window has closed.
    """
    query = sa.select(Survey).where(Survey.state == SurveyState.published)
    if not permissions.is_staff(user):
        query = query.where(Survey.closes_at <= utcnow())
    return list(db.session.scalars(query.order_by(Survey.closes_at.desc(), Survey.id.desc())))


def open_surveys_for_project(project: Any) -> list[Survey]:
    """Return the published, currently open surveys linked to a project (one query)."""
    now = utcnow()
    return list(
        db.session.scalars(
            sa.select(Survey)
            .join(survey_project, survey_project.c.survey_id == Survey.id)
            .where(
                survey_project.c.project_id == project.id,
                Survey.state == SurveyState.published,
                Survey.opens_at <= now,
                Survey.closes_at > now,
            )
            .order_by(Survey.closes_at)
        )
    )


def participations_export(user: User) -> list[dict[str, Any]]:
    """Return the surveys this person took part in (never their answers: nothing links them)."""
    rows = db.session.execute(
        sa.select(Survey.id, Survey.title, SurveyParticipation.participated_on)
        .join(Survey, Survey.id == SurveyParticipation.survey_id)
        .where(SurveyParticipation.user_id == user.id)
        .order_by(SurveyParticipation.participated_on, Survey.id)
    ).all()
    return [
        {"survey_id": sid, "title": title, "participated_on": day.isoformat()}
        for sid, title, day in rows
    ]


def erase_participations(user: User) -> None:
    """Delete the person's participation rows (no commit); their anonymous answers stay."""
    db.session.execute(sa.delete(SurveyParticipation).where(SurveyParticipation.user_id == user.id))
