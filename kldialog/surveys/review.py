"""Staff review of free-text answers: nothing typed by a resident is published unread."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from kldialog.auth.models import User
from kldialog.kernel.audit import audit
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation
from kldialog.surveys.models import Question, Survey, SurveyAnswer, SurveyResponse, TextReview


def texts_for_review(survey: Survey) -> list[tuple[Question, list[SurveyAnswer]]]:
    """Return each text-bearing question with its answers, pending ones first (one query)."""
    by_question: dict[int, list[SurveyAnswer]] = defaultdict(list)
    answers = db.session.scalars(
        sa.select(SurveyAnswer)
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
        .where(SurveyResponse.survey_id == survey.id, SurveyAnswer.text.is_not(None))
        .order_by(SurveyAnswer.review.desc(), SurveyAnswer.text)
    )
    for answer in answers:
        by_question[answer.question_id].append(answer)
    return [(q, by_question[q.id]) for q in survey.questions() if by_question.get(q.id)]


def review_texts(actor: User, survey: Survey, decisions: Mapping[str, str]) -> int:
    """Publish or reject free-text answers of this survey; `decisions` maps answer id → verdict.

    Answer ids change when the answer set is rewritten (at close, or a short flush); a form
    opened before that finds no answers and reviews nothing, and the count says so.
    """
    wanted: dict[uuid.UUID, TextReview] = {}
    for raw_id, verdict in decisions.items():
        try:
            wanted[uuid.UUID(raw_id)] = TextReview(verdict)
        except ValueError:
            continue
    if not wanted:
        raise RuleViolation(_l("Please choose at least one answer."))
    answers = db.session.scalars(
        sa.select(SurveyAnswer)
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
        .where(
            SurveyResponse.survey_id == survey.id,
            SurveyAnswer.id.in_(list(wanted)),
            SurveyAnswer.text.is_not(None),
        )
    ).all()
    for answer in answers:
        answer.review = wanted[answer.id]
    audit(actor, "survey.review_texts", "survey", survey.id, count=len(answers))
    db.session.commit()
    return len(answers)
