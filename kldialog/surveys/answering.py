"""Answering a survey: who may, parsing a submission once, and the one-transaction submit.

`parse_submission` reads the whole form once into a typed `Submission`; the page-by-page
navigation, the preview and `submit_survey` all use that one result, so the rules for an
answer live here and nowhere else (the view only shows the errors next to their questions).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from kldialog import permissions
from kldialog.auth.models import User
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation, at_most_characters
from kldialog.kernel.params import parse_int
from kldialog.kernel.time import utcnow
from kldialog.surveys import sealing, storage
from kldialog.surveys.models import (
    Question,
    QuestionKind,
    Survey,
    SurveyParticipation,
)

log = logging.getLogger(__name__)
_random = random.SystemRandom()

SHORT_TEXT_MAX = 200
LONG_TEXT_MAX = 2000
OTHER = "other"
QUESTION_FIELD = re.compile(r"q[0-9]")  # the start of every question's field name

_REQUIRED = _l("Please answer this question.")
_UNKNOWN_OPTION = _l("Please choose one of the options shown.")


@dataclass(frozen=True)
class Answer:
    """One answer value: a chosen option, a number (scale, rank, yes=1/no=0) or a text."""

    question_id: int
    option_id: int | None = None
    number: int | None = None
    text: str | None = None

    def record(self) -> dict[str, Any]:
        """Return the compact form kept in the sealed staging payload."""
        return {"q": self.question_id, "o": self.option_id, "n": self.number, "t": self.text}


@dataclass
class Submission:
    """A whole survey form, parsed once: its answers, the errors by question, foreign fields."""

    answers: list[Answer] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    # The form carried answers to questions that are not in this survey.
    foreign: bool = False

    def errors_for(self, questions: Iterable[Question]) -> dict[int, str]:
        """Return the errors of some questions (one page)."""
        return {q.id: self.errors[q.id] for q in questions if q.id in self.errors}


class AnswerErrors(RuleViolation):
    """Some answers are missing or invalid; `errors` maps question ids to messages."""

    def __init__(self, errors: Mapping[int, str]) -> None:
        """Keep the per-question messages."""
        super().__init__(_l("Please correct the answers marked below."))
        self.errors = dict(errors)


# --- who may answer -----------------------------------------------------------------------------


def participated_survey_ids(user: Any) -> set[int]:
    """Return the ids of the surveys this person has answered (one query)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    return set(
        db.session.scalars(
            sa.select(SurveyParticipation.survey_id).where(SurveyParticipation.user_id == user.id)
        )
    )


def has_participated(user: Any, survey: Survey) -> bool:
    """Return whether this person has already answered the survey."""
    if not getattr(user, "is_authenticated", False):
        return False
    key = {"survey_id": survey.id, "user_id": user.id}
    return db.session.get(SurveyParticipation, key) is not None


def can_still_answer(user: Any, survey: Survey) -> bool:
    """Return whether the person may and has not yet answered (for buttons)."""
    return permissions.can_answer_survey(user, survey) and not has_participated(user, survey)


# --- parsing ------------------------------------------------------------------------------------


def question_fields(question: Question) -> list[str]:
    """Return every form field name a question may send."""
    names = [question.field, f"{question.field}_other"]
    names += [f"{question.field}_o{option.id}" for option in question.options]
    return names


def _clean(text: str | None) -> str:
    return (text or "").replace("\r\n", "\n").strip()


def parse_submission(survey: Survey, form: MultiDict[str, str]) -> Submission:
    """Parse every question of the survey from the form, once."""
    own = {name for question in survey.questions() for name in question_fields(question)}
    submission = Submission(
        foreign=any(QUESTION_FIELD.match(name) and name not in own for name in form)
    )
    for question in survey.questions():
        try:
            submission.answers.extend(_parse_one(question, form))
        except RuleViolation as error:
            submission.errors[question.id] = error.message
    return submission


def _parse_choice(question: Question, form: MultiDict[str, str]) -> list[Answer]:
    """Return the answers of a single or multiple choice question."""
    name = question.field
    option_ids = {str(option.id): option.id for option in question.options}
    values = [v.strip() for v in form.getlist(name) if v.strip()]
    if question.kind == QuestionKind.single and len(values) > 1:
        raise RuleViolation(_l("Please choose only one option."))
    if len(set(values)) != len(values):
        raise RuleViolation(_UNKNOWN_OPTION)
    answers = []
    for value in values:
        if value == OTHER and question.has_other:
            other = _clean(form.get(f"{name}_other"))
            if not other:
                raise RuleViolation(_l("Please describe your other answer."))
            if len(other) > SHORT_TEXT_MAX:
                raise RuleViolation(str(at_most_characters(SHORT_TEXT_MAX)))
            answers.append(Answer(question.id, text=other))
        elif value in option_ids:
            answers.append(Answer(question.id, option_id=option_ids[value]))
        else:
            raise RuleViolation(_UNKNOWN_OPTION)
    if not answers:
        if question.is_required:
            raise RuleViolation(_REQUIRED)
        return []
    if question.kind == QuestionKind.multiple:
        if question.min_choices and len(answers) < question.min_choices:
            raise RuleViolation(
                _l("Please choose at least %(count)d options.", count=question.min_choices)
            )
        if question.max_choices and len(answers) > question.max_choices:
            raise RuleViolation(
                _l("Please choose at most %(count)d options.", count=question.max_choices)
            )
    return answers


def _parse_number(question: Question, form: MultiDict[str, str]) -> list[Answer]:
    """Return the answer of a scale (1–5) or yes/no (1/0) question."""
    value = (form.get(question.field) or "").strip()
    if not value:
        if question.is_required:
            raise RuleViolation(_REQUIRED)
        return []
    low, high = (1, 5) if question.kind == QuestionKind.scale else (0, 1)
    number = parse_int(value, low, high)
    if number is None:
        if question.kind == QuestionKind.scale:
            raise RuleViolation(_l("Please choose a value from 1 to 5."))
        raise RuleViolation(_l("Please answer yes or no."))
    return [Answer(question.id, number=number)]


def _parse_ranking(question: Question, form: MultiDict[str, str]) -> list[Answer]:
    """Return one answer per option with its place, or none."""
    ranks: dict[int, int] = {}
    size = len(question.options)
    for option in question.options:
        value = (form.get(f"{question.field}_o{option.id}") or "").strip()
        if not value:
            continue
        rank = parse_int(value, 1, size)
        if rank is None:
            raise RuleViolation(_l("Please use the places 1 to %(count)d.", count=size))
        ranks[option.id] = rank
    if not ranks:
        if question.is_required:
            raise RuleViolation(_l("Please put the options in your order."))
        return []
    if len(ranks) != size:
        raise RuleViolation(_l("Please give every option a place, or none."))
    if len(set(ranks.values())) != size:
        raise RuleViolation(_l("Please give each place only once."))
    return [Answer(question.id, option_id=option, number=rank) for option, rank in ranks.items()]


def _parse_text(question: Question, form: MultiDict[str, str]) -> list[Answer]:
    """Return the answer of a free-text question."""
    limit = SHORT_TEXT_MAX if question.kind == QuestionKind.short_text else LONG_TEXT_MAX
    text = _clean(form.get(question.field))
    if not text:
        if question.is_required:
            raise RuleViolation(_REQUIRED)
        return []
    if len(text) > limit:
        raise RuleViolation(str(at_most_characters(limit)))
    return [Answer(question.id, text=text)]


def _parse_one(question: Question, form: MultiDict[str, str]) -> list[Answer]:
    """Return the answers to one question, or raise RuleViolation with the reason."""
    if question.kind in (QuestionKind.single, QuestionKind.multiple):
        return _parse_choice(question, form)
    if question.kind in (QuestionKind.scale, QuestionKind.yes_no):
        return _parse_number(question, form)
    if question.kind == QuestionKind.ranking:
        return _parse_ranking(question, form)
    return _parse_text(question, form)


def sealed_size(survey: Survey) -> int:
    """Return the padded plaintext size of this survey's staged answer sets."""
    limits: list[tuple[int, int]] = []
    for question in survey.questions():
        options = len(question.options)
        if question.kind in (QuestionKind.single, QuestionKind.multiple):
            records = 1 if question.kind == QuestionKind.single else options + 1
            limits.append((records, SHORT_TEXT_MAX if question.has_other else 0))
        elif question.kind == QuestionKind.ranking:
            limits.append((options, 0))
        elif question.kind == QuestionKind.short_text:
            limits.append((1, SHORT_TEXT_MAX))
        elif question.kind == QuestionKind.long_text:
            limits.append((1, LONG_TEXT_MAX))
        else:
            limits.append((1, 0))
    return sealing.survey_padding(limits)


# --- submitting ---------------------------------------------------------------------------------


def _already_answered() -> str:
    return str(_l("You have already taken part in this survey. Thank you!"))


def check_submission(user: User, survey: Survey, submission: Submission, now: dt.datetime) -> None:
    """Raise why this submission cannot be stored (closed, foreign fields, errors, answered)."""
    if not survey.is_open(now):
        raise RuleViolation(_l("This survey is not open for answers. Nothing was saved."))
    if submission.foreign:
        raise RuleViolation(
            _l(
                "The form contained answers to questions that are not part of this survey. "
                "Nothing was saved. Please open the survey again."
            )
        )
    if submission.errors:
        raise AnswerErrors(submission.errors)
    if has_participated(user, survey):
        raise RuleViolation(_already_answered())


def submit_survey(
    user: User, survey: Survey, submission: Submission, now: dt.datetime | None = None
) -> None:
    """Record that the person took part and stage their sealed answers, in one transaction.

    Raises AnswerErrors for invalid answers and RuleViolation when the survey is closed, the
    form carries foreign questions, or the person has already answered. Nothing is stored then.
    """
    now = now or utcnow()
    check_submission(user, survey, submission, now)
    records = [answer.record() for answer in submission.answers]
    _random.shuffle(records)
    try:
        db.session.add(
            SurveyParticipation(survey_id=survey.id, user_id=user.id, participated_on=now.date())
        )
        storage.stage(survey.id, records, sealed_size(survey), now)
        db.session.execute(
            sa.update(Survey)
            .where(Survey.id == survey.id)
            .values(participant_count=Survey.participant_count + 1)
        )
        db.session.commit()
    except sa.exc.IntegrityError as error:
        # A parallel request of the same person won the race: the primary key refused this one.
        db.session.rollback()
        raise RuleViolation(_already_answered()) from error
    db.session.expire(survey, ["participant_count"])
    try:
        storage.flush_staged(survey.id)
    except Exception:  # the answers are safe in the staging table; the next flush takes them
        db.session.rollback()
        log.exception("Flushing staged survey answers failed; they stay staged.")


def parse_and_submit(
    user: User, survey: Survey, form: MultiDict[str, str], now: dt.datetime | None = None
) -> Submission:
    """Parse a form and submit it (for callers without a parsed submission: CLI, tests)."""
    submission = parse_submission(survey, form)
    submit_survey(user, survey, submission, now)
    return submission
