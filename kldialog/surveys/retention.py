"""Retention: after SURVEY_RETENTION_MONTHS the raw answers go and the final results stay."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from kldialog.auth.models import User
from kldialog.kernel.audit import audit
from kldialog.kernel.db import db
from kldialog.kernel.disclosure import release_of
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.time import utcnow
from kldialog.surveys import results, storage
from kldialog.surveys.models import StagedResponse, Survey, SurveyAnswer, SurveyResponse


def close_due_surveys(now: dt.datetime | None = None) -> tuple[int, int]:
    """Finalise every closed survey not yet finalised (cron); return (surveys, staged moved)."""
    now = now or utcnow()
    candidates = list(
        db.session.scalars(
            sa.select(Survey).where(Survey.closes_at <= now, Survey.purged_at.is_(None))
        )
    )
    closed = moved = 0
    for survey in candidates:
        if results.is_final(release_of(results.results_key(survey.id))):
            continue
        waiting = storage.staged_count(survey.id)
        if results.is_final(results.close_survey(survey)):
            closed += 1
            moved += waiting
    db.session.rollback()
    return closed, moved


def close_ended_survey(actor: User, survey: Survey) -> None:
    """Close an ended survey now, for staff who need not wait for the cron."""
    if not survey.has_ended():
        raise RuleViolation(_l("The survey is still open; it can be closed after its end."))
    if results.is_final(release_of(results.results_key(survey.id))):
        raise RuleViolation(_l("The survey is already closed."))
    survey_id = survey.id
    results.close_survey(survey)
    audit(actor, "survey.close", "survey", survey_id)
    db.session.commit()


def purge_raw_answers(now: dt.datetime | None = None) -> int:
    """Delete raw answers of surveys closed longer than the retention period; keep results."""
    now = now or utcnow()
    months = int(current_app.config["SURVEY_RETENTION_MONTHS"])
    cutoff = now - dt.timedelta(days=round(months * 30.44))
    surveys = list(
        db.session.scalars(
            sa.select(Survey).where(Survey.closes_at <= cutoff, Survey.purged_at.is_(None))
        )
    )
    for survey in surveys:
        if survey.results_snapshot is None:
            # Closes first if still needed; the snapshot is the final release plus texts.
            results.close_survey(survey)
            survey.results_snapshot = results.survey_results(survey)
        ids = sa.select(SurveyResponse.id).where(SurveyResponse.survey_id == survey.id)
        db.session.execute(sa.delete(SurveyAnswer).where(SurveyAnswer.response_id.in_(ids)))
        db.session.execute(sa.delete(SurveyResponse).where(SurveyResponse.survey_id == survey.id))
        db.session.execute(sa.delete(StagedResponse).where(StagedResponse.survey_id == survey.id))
        survey.purged_at = now
        audit(None, "survey.purge_answers", "survey", survey.id)
        db.session.commit()
        storage.erase_dead_rows(*storage.ANSWER_TABLES)
    return len(surveys)
