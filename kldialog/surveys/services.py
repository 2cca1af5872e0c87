"""Survey use cases: building, answering (two-step anonymous write), results with suppression.

The write path, in two transactions (docs/privacy.md, "Surveys"):

1. `submit_survey` commits the participation row (person, survey) and one StagedResponse
   (random UUID, no person, no time) together, so a submission is never half-stored and the
   primary key of the participation refuses a second one, also from parallel requests.
2. `flush_staged` moves staged answer sets into SurveyResponse/SurveyAnswer rows with fresh
   random keys, in a shuffled batch of at least k submissions, and deletes the staged rows, all
   in one transaction of its own. If the process dies during the flush, the transaction is
   rolled back and the staged rows wait for the next flush: every answer arrives exactly once.

The answer rows therefore share their transaction id (PostgreSQL xmin) with at least k-1 other
people's answers and never with a participation row; their order on disk is shuffled.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import random
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict

from kldialog.auth.models import User
from kldialog.kernel.audit import audit
from kldialog.kernel.csv import csv_text
from kldialog.kernel.db import db
from kldialog.kernel.disclosure import hidden_cells, hidden_table
from kldialog.kernel.errors import RuleViolation, at_most_characters
from kldialog.kernel.stats import (
    mean_interval,
    randomised_response_estimate,
    wilson_interval,
)
from kldialog.kernel.time import utcnow
from kldialog.surveys.models import (
    CHOICE_KINDS,
    TEXT_KINDS,
    Eligibility,
    Option,
    Question,
    QuestionKind,
    StagedResponse,
    Survey,
    SurveyAnswer,
    SurveyParticipation,
    SurveyResponse,
    SurveySection,
    SurveyState,
    TextReview,
    survey_project,
)

log = logging.getLogger(__name__)
_random = random.SystemRandom()

SHORT_TEXT_MAX = 200
LONG_TEXT_MAX = 2000
OTHER = "other"
# Randomised response: the browser answers truthfully with this probability, else by a fair coin.
RR_TRUTH_PROBABILITY = 0.5


def min_group_size() -> int:
    """Return k, the smallest group any published number may describe."""
    return max(2, int(current_app.config["SURVEY_MIN_GROUP_SIZE"]))


def flush_batch_size() -> int:
    """Return how many staged submissions are moved together (never fewer than k)."""
    return max(min_group_size(), int(current_app.config["SURVEY_FLUSH_BATCH"]))


# --- loading ------------------------------------------------------------------------------------


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
    from kldialog import permissions

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
    return (
        db.session.get(SurveyParticipation, {"survey_id": survey.id, "user_id": user.id})
        is not None
    )


# --- building (staff) ---------------------------------------------------------------------------


def _clean(text: str | None) -> str:
    return (text or "").replace("\r\n", "\n").strip()


def _window(opens_at: dt.datetime | None, closes_at: dt.datetime | None) -> None:
    if opens_at is None:
        raise RuleViolation(_l("Please enter when the survey opens."), field="opens_at")
    if closes_at is None:
        raise RuleViolation(_l("Please enter when the survey closes."), field="closes_at")
    if closes_at <= opens_at:
        raise RuleViolation(_l("The survey must close after it opens."), field="closes_at")


def _projects(project_ids: Iterable[int]) -> list[Any]:
    from kldialog.projects.models import Project

    ids = sorted(set(project_ids))
    if not ids:
        return []
    projects = list(db.session.scalars(sa.select(Project).where(Project.id.in_(ids))))
    if len(projects) != len(ids):
        raise RuleViolation(_l("Please choose projects from the list."), field="project_ids")
    return projects


def create_survey(
    actor: User,
    *,
    title: str,
    intro: str,
    opens_at: dt.datetime | None,
    closes_at: dt.datetime | None,
    eligibility: Eligibility,
    project_ids: Iterable[int] = (),
) -> Survey:
    """Create a draft survey with one empty section."""
    title = _clean(title)
    if not title:
        raise RuleViolation(_l("Please enter a title."), field="title")
    _window(opens_at, closes_at)
    survey = Survey(
        title=title,
        intro=_clean(intro),
        opens_at=opens_at,
        closes_at=closes_at,
        eligibility=eligibility,
        projects=_projects(project_ids),
    )
    survey.sections.append(SurveySection(position=0, title=""))
    db.session.add(survey)
    db.session.flush()
    audit(actor, "survey.create", "survey", survey.id, title=title)
    db.session.commit()
    return survey


def update_survey(
    actor: User,
    survey: Survey,
    *,
    title: str,
    intro: str,
    opens_at: dt.datetime | None,
    closes_at: dt.datetime | None,
    eligibility: Eligibility,
    project_ids: Iterable[int] = (),
) -> None:
    """Change a survey's settings; eligibility is fixed once someone has answered."""
    title = _clean(title)
    if not title:
        raise RuleViolation(_l("Please enter a title."), field="title")
    _window(opens_at, closes_at)
    if survey.is_frozen and eligibility != survey.eligibility:
        raise RuleViolation(
            _l("Who may answer cannot change once people have answered."), field="eligibility"
        )
    survey.title = title
    survey.intro = _clean(intro)
    survey.opens_at = opens_at  # type: ignore[assignment]
    survey.closes_at = closes_at  # type: ignore[assignment]
    survey.eligibility = eligibility
    survey.projects = _projects(project_ids)
    audit(actor, "survey.update", "survey", survey.id)
    db.session.commit()


def _editable(survey: Survey) -> None:
    if survey.is_frozen:
        raise RuleViolation(
            _l(
                "People have already answered, so the questions are frozen. "
                "Create a new version to change them."
            )
        )


def add_section(actor: User, survey: Survey, title: str) -> SurveySection:
    """Add a page at the end of the survey."""
    _editable(survey)
    section = SurveySection(
        position=max((s.position for s in survey.sections), default=-1) + 1, title=_clean(title)
    )
    survey.sections.append(section)
    audit(actor, "survey.add_section", "survey", survey.id)
    db.session.commit()
    return section


def rename_section(actor: User, section: SurveySection, title: str) -> None:
    """Change the heading of a page."""
    section.title = _clean(title)[:200]
    audit(actor, "survey.rename_section", "survey", section.survey_id)
    db.session.commit()


def delete_section(actor: User, survey: Survey, section: SurveySection) -> None:
    """Delete an empty page (a survey keeps at least one)."""
    _editable(survey)
    if section.questions:
        raise RuleViolation(_l("Move or delete the questions on this page first."))
    if len(survey.sections) <= 1:
        raise RuleViolation(_l("A survey needs at least one page."))
    survey.sections.remove(section)
    for position, other in enumerate(survey.sections):
        other.position = position
    audit(actor, "survey.delete_section", "survey", survey.id)
    db.session.commit()


def _optional_int(value: Any) -> int | None:
    if value in (None, ""):
        return None
    return int(value)


def save_question(
    actor: User,
    survey: Survey,
    question: Question | None,
    *,
    section_id: int,
    kind: QuestionKind,
    text: str,
    help_text: str = "",
    is_required: bool = False,
    min_choices: int | None = None,
    max_choices: int | None = None,
    scale_low_label: str = "",
    scale_high_label: str = "",
    has_other: bool = False,
    is_randomised: bool = False,
    options: Sequence[str] = (),
) -> Question:
    """Add a question, or change one, with its options (one per line)."""
    _editable(survey)
    text = _clean(text)
    if not text:
        raise RuleViolation(_l("Please enter the question."), field="text")
    section = next((s for s in survey.sections if s.id == section_id), None)
    if section is None:
        raise RuleViolation(_l("Please choose a page of this survey."), field="section_id")
    labels = [label for label in (_clean(line)[:200] for line in options) if label]
    if len(set(labels)) != len(labels):
        raise RuleViolation(_l("Each option may appear only once."), field="options")
    if kind in CHOICE_KINDS and len(labels) < 2:  # noqa: PLR2004
        raise RuleViolation(_l("Please enter at least two options, one per line."), field="options")
    if kind not in CHOICE_KINDS:
        labels = []
    if kind != QuestionKind.multiple:
        min_choices = max_choices = None
    else:
        for name, value in (("min_choices", min_choices), ("max_choices", max_choices)):
            if value is not None and not 1 <= value <= len(labels) + int(has_other):
                raise RuleViolation(
                    _l("Please enter a number between 1 and the number of options."), field=name
                )
        if min_choices and max_choices and min_choices > max_choices:
            raise RuleViolation(
                _l("The minimum cannot be larger than the maximum."), field="min_choices"
            )
    if kind not in (QuestionKind.single, QuestionKind.multiple):
        has_other = False
    if is_randomised and kind != QuestionKind.yes_no:
        raise RuleViolation(
            _l("Randomised response works only with yes/no questions."), field="is_randomised"
        )
    if is_randomised and is_required:
        raise RuleViolation(
            _l(
                "A randomised-response question cannot be required: without JavaScript it is "
                "skipped."
            ),
            field="is_required",
        )
    if question is None:
        question = Question(survey_id=survey.id, kind=kind, text=text)
        question.position = max((q.position for q in section.questions), default=-1) + 1
        section.questions.append(question)
        action = "survey.add_question"
    else:
        if question.section_id != section.id:
            question.section.questions.remove(question)
            question.position = max((q.position for q in section.questions), default=-1) + 1
            section.questions.append(question)
        action = "survey.edit_question"
    question.kind = kind
    question.text = text
    question.help_text = _clean(help_text)
    question.is_required = is_required
    question.min_choices = min_choices
    question.max_choices = max_choices
    question.scale_low_label = _clean(scale_low_label)[:80] if kind == QuestionKind.scale else ""
    question.scale_high_label = _clean(scale_high_label)[:80] if kind == QuestionKind.scale else ""
    question.has_other = has_other
    question.is_randomised = is_randomised
    existing = [option.label for option in question.options]
    if existing != labels:
        question.options.clear()
        db.session.flush()
        question.options.extend(
            Option(position=position, label=label) for position, label in enumerate(labels)
        )
    db.session.flush()
    audit(actor, action, "survey", survey.id, question=question.id)
    db.session.commit()
    return question


def move_question(actor: User, survey: Survey, question: Question, direction: int) -> None:
    """Move a question one place up (-1) or down (+1), across pages at the edges."""
    _editable(survey)
    ordered = survey.questions()
    index = ordered.index(question)
    target = index + direction
    if not 0 <= target < len(ordered):
        return
    other = ordered[target]
    if other.section_id == question.section_id:
        question.position, other.position = other.position, question.position
    else:
        # Move to the neighbouring page, at its near end.
        section = other.section
        question.section.questions.remove(question)
        if direction < 0:
            question.position = max((q.position for q in section.questions), default=-1) + 1
        else:
            question.position = min((q.position for q in section.questions), default=1) - 1
        section.questions.append(question)
    audit(actor, "survey.move_question", "survey", survey.id, question=question.id)
    db.session.commit()


def delete_question(actor: User, survey: Survey, question: Question) -> None:
    """Delete a question and its options (only before anyone has answered)."""
    _editable(survey)
    question.section.questions.remove(question)
    db.session.delete(question)
    audit(actor, "survey.delete_question", "survey", survey.id, question=question.id)
    db.session.commit()


def publish_survey(actor: User, survey: Survey) -> None:
    """Make a draft visible to residents; it needs at least one question."""
    if survey.state == SurveyState.published:
        return
    if not survey.questions():
        raise RuleViolation(_l("Add at least one question before publishing."))
    if survey.is_closed():
        raise RuleViolation(_l("The survey's window is already over. Please change the dates."))
    survey.state = SurveyState.published
    survey.published_at = utcnow()
    audit(actor, "survey.publish", "survey", survey.id)
    db.session.commit()


def unpublish_survey(actor: User, survey: Survey) -> None:
    """Take a published survey back to draft while nobody has answered yet."""
    _editable(survey)
    survey.state = SurveyState.draft
    survey.published_at = None
    audit(actor, "survey.unpublish", "survey", survey.id)
    db.session.commit()


def copy_survey(actor: User, survey: Survey) -> Survey:
    """Create a new draft version with the same settings, pages, questions and options."""
    now = utcnow()
    opens = max(now, survey.opens_at)
    closes = survey.closes_at
    if closes <= opens:
        closes = opens + dt.timedelta(days=28)
    copy = Survey(
        title=survey.title,
        intro=survey.intro,
        opens_at=opens,
        closes_at=closes,
        eligibility=survey.eligibility,
        previous_version_id=survey.id,
        projects=list(survey.projects),
    )
    db.session.add(copy)
    db.session.flush()
    for section in survey.sections:
        new_section = SurveySection(position=section.position, title=section.title)
        copy.sections.append(new_section)
        for question in section.questions:
            new_section.questions.append(
                Question(
                    survey_id=copy.id,
                    kind=question.kind,
                    text=question.text,
                    help_text=question.help_text,
                    is_required=question.is_required,
                    min_choices=question.min_choices,
                    max_choices=question.max_choices,
                    scale_low_label=question.scale_low_label,
                    scale_high_label=question.scale_high_label,
                    has_other=question.has_other,
                    is_randomised=question.is_randomised,
                    position=question.position,
                    options=[Option(position=o.position, label=o.label) for o in question.options],
                )
            )
    audit(actor, "survey.new_version", "survey", copy.id, previous=survey.id)
    db.session.commit()
    return copy


# --- answering ----------------------------------------------------------------------------------


class AnswerErrors(RuleViolation):
    """Some answers are missing or invalid; `errors` maps question ids to messages."""

    def __init__(self, errors: Mapping[int, str]) -> None:
        """Keep the per-question messages."""
        super().__init__(_l("Please correct the answers marked below."))
        self.errors = dict(errors)


def question_fields(question: Question) -> list[str]:
    """Return every form field name a question may send."""
    names = [question.field, f"{question.field}_other"]
    names += [f"{question.field}_o{option.id}" for option in question.options]
    return names


def _foreign_fields(survey: Survey, form: MultiDict[str, str]) -> bool:
    """Return whether the form carries answers to questions that are not in this survey."""
    own = {name for question in survey.questions() for name in question_fields(question)}
    for name in form:
        if name.startswith("q") and name[1:2].isdigit() and name not in own:
            return True
    return False


def parse_answers(
    questions: Sequence[Question], form: MultiDict[str, str]
) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """Check the answers to some questions; return answer records and errors by question id."""
    records: list[dict[str, Any]] = []
    errors: dict[int, str] = {}
    for question in questions:
        try:
            records.extend(_parse_one(question, form))
        except RuleViolation as error:
            errors[question.id] = error.message
    return records, errors


_REQUIRED = _l("Please answer this question.")
_UNKNOWN_OPTION = _l("Please choose one of the options shown.")


def _parse_one(question: Question, form: MultiDict[str, str]) -> list[dict[str, Any]]:
    """Return the answer records of one question, or raise RuleViolation with the reason."""
    name = question.field
    option_ids = {str(option.id): option.id for option in question.options}
    kind = question.kind

    def record(option: int | None = None, number: int | None = None, text: str | None = None):
        return {"q": question.id, "o": option, "n": number, "t": text}

    if kind in (QuestionKind.single, QuestionKind.multiple):
        values = [v.strip() for v in form.getlist(name) if v.strip()]
        if kind == QuestionKind.single and len(values) > 1:
            raise RuleViolation(_l("Please choose only one option."))
        if len(set(values)) != len(values):
            raise RuleViolation(_UNKNOWN_OPTION)
        records = []
        for value in values:
            if value == OTHER and question.has_other:
                other = _clean(form.get(f"{name}_other"))
                if not other:
                    raise RuleViolation(_l("Please describe your other answer."))
                if len(other) > SHORT_TEXT_MAX:
                    raise RuleViolation(str(at_most_characters(SHORT_TEXT_MAX)))
                records.append(record(text=other))
            elif value in option_ids:
                records.append(record(option=option_ids[value]))
            else:
                raise RuleViolation(_UNKNOWN_OPTION)
        if not records:
            if question.is_required:
                raise RuleViolation(_REQUIRED)
            return []
        if kind == QuestionKind.multiple:
            if question.min_choices and len(records) < question.min_choices:
                raise RuleViolation(
                    _l("Please choose at least %(count)d options.", count=question.min_choices)
                )
            if question.max_choices and len(records) > question.max_choices:
                raise RuleViolation(
                    _l("Please choose at most %(count)d options.", count=question.max_choices)
                )
        return records

    if kind in (QuestionKind.scale, QuestionKind.yes_no):
        value = (form.get(name) or "").strip()
        if not value:
            if question.is_required:
                raise RuleViolation(_REQUIRED)
            return []
        low, high = (1, 5) if kind == QuestionKind.scale else (0, 1)
        if not (value.isdigit() and low <= int(value) <= high):
            if kind == QuestionKind.scale:
                raise RuleViolation(_l("Please choose a value from 1 to 5."))
            raise RuleViolation(_l("Please answer yes or no."))
        return [record(number=int(value))]

    if kind == QuestionKind.ranking:
        ranks: dict[int, int] = {}
        size = len(question.options)
        for option in question.options:
            value = (form.get(f"{name}_o{option.id}") or "").strip()
            if not value:
                continue
            if not (value.isdigit() and 1 <= int(value) <= size):
                raise RuleViolation(_l("Please use the places 1 to %(count)d.", count=size))
            ranks[option.id] = int(value)
        if not ranks:
            if question.is_required:
                raise RuleViolation(_l("Please put the options in your order."))
            return []
        if len(ranks) != size:
            raise RuleViolation(_l("Please give every option a place, or none."))
        if len(set(ranks.values())) != size:
            raise RuleViolation(_l("Please give each place only once."))
        return [record(option=option, number=rank) for option, rank in ranks.items()]

    # Free text.
    limit = SHORT_TEXT_MAX if kind == QuestionKind.short_text else LONG_TEXT_MAX
    text = _clean(form.get(name))
    if not text:
        if question.is_required:
            raise RuleViolation(_REQUIRED)
        return []
    if len(text) > limit:
        raise RuleViolation(str(at_most_characters(limit)))
    return [record(text=text)]


def submit_survey(
    user: User, survey: Survey, form: MultiDict[str, str], now: dt.datetime | None = None
) -> None:
    """Record that the person took part and stage their anonymous answers, in one transaction.

    Raises AnswerErrors for invalid answers and RuleViolation when the survey is closed, the
    form carries foreign questions, or the person has already answered. Nothing is stored then.
    """
    now = now or utcnow()
    if not survey.is_open(now):
        raise RuleViolation(_l("This survey is not open for answers. Nothing was saved."))
    if _foreign_fields(survey, form):
        raise RuleViolation(
            _l(
                "The form contained answers to questions that are not part of this survey. "
                "Nothing was saved. Please open the survey again."
            )
        )
    records, errors = parse_answers(survey.questions(), form)
    if errors:
        raise AnswerErrors(errors)
    if has_participated(user, survey):
        raise RuleViolation(_already_answered())
    _random.shuffle(records)
    try:
        db.session.add(
            SurveyParticipation(survey_id=survey.id, user_id=user.id, participated_on=now.date())
        )
        db.session.add(StagedResponse(id=uuid.uuid4(), survey_id=survey.id, payload=records))
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
        flush_staged(survey.id)
    except Exception:  # the answers are safe in the staging table; the next flush takes them
        db.session.rollback()
        log.exception("Flushing staged survey answers failed; they stay staged.")


def _already_answered() -> str:
    return str(_l("You have already taken part in this survey. Thank you!"))


def _write_rows(table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows in the given (shuffled) order; executemany keeps that order."""
    if rows:
        db.session.execute(sa.insert(table), rows)


def flush_staged(survey_id: int, *, final: bool = False) -> int:
    """Move staged answer sets into the answer tables in one shuffled batch; return how many.

    Waits until at least flush_batch_size() submissions are staged, unless `final` (after the
    survey closed: the rest must not stay linkable). Runs in its own transaction: on any error,
    or if the process dies half-way, nothing of the batch is written and it stays staged.
    """
    waiting = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(StagedResponse)
        .where(StagedResponse.survey_id == survey_id)
    )
    if not waiting or (waiting < flush_batch_size() and not final):
        return 0  # nothing to do: no write lock taken, no row version written
    # Take the write lock first (a row lock on PostgreSQL, the database lock on SQLite), so two
    # flushes never move the same staged rows twice.
    db.session.execute(sa.update(Survey).where(Survey.id == survey_id).values(id=Survey.id))
    staged = list(
        db.session.scalars(sa.select(StagedResponse).where(StagedResponse.survey_id == survey_id))
    )
    if not staged or (len(staged) < flush_batch_size() and not final):
        db.session.rollback()
        return 0
    _random.shuffle(staged)
    responses: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    for item in staged:
        response_id = uuid.uuid4()  # fresh: nothing ties it to the staged row
        responses.append({"id": response_id, "survey_id": survey_id})
        for record in item.payload:
            answers.append(
                {
                    "id": uuid.uuid4(),
                    "response_id": response_id,
                    "question_id": record["q"],
                    "option_id": record["o"],
                    "number": record["n"],
                    "text": record["t"],
                    "review": TextReview.pending if record["t"] is not None else None,
                }
            )
    _random.shuffle(responses)
    _random.shuffle(answers)
    _write_rows(SurveyResponse.__table__, responses)
    _write_rows(SurveyAnswer.__table__, answers)
    db.session.execute(
        sa.delete(StagedResponse).where(StagedResponse.id.in_([item.id for item in staged]))
    )
    db.session.commit()
    return len(staged)


def flush_closed_surveys(now: dt.datetime | None = None) -> int:
    """Flush the remaining staged answers of every closed survey (cron); return how many."""
    now = now or utcnow()
    ids = list(
        db.session.scalars(
            sa.select(StagedResponse.survey_id)
            .join(Survey, Survey.id == StagedResponse.survey_id)
            .where(Survey.closes_at <= now)
            .distinct()
        )
    )
    db.session.rollback()
    return sum(flush_staged(survey_id, final=True) for survey_id in ids)


def staged_count(survey: Survey) -> int:
    """Return how many submissions wait in the staging table."""
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(StagedResponse)
            .where(StagedResponse.survey_id == survey.id)
        )
        or 0
    )


# --- results ------------------------------------------------------------------------------------


def _category_keys(question: Question) -> list[tuple[Any, str]]:
    """Return the (key, label) categories of a question that has categories."""
    if question.kind in (QuestionKind.single, QuestionKind.multiple):
        keys: list[tuple[Any, str]] = [(("o", o.id), o.label) for o in question.options]
        if question.has_other:
            keys.append((("o", None), str(_l("Other"))))
        return keys
    if question.kind == QuestionKind.scale:
        return [(("n", value), str(value)) for value in range(1, 6)]
    if question.kind == QuestionKind.yes_no:
        return [(("n", 1), str(_l("Yes"))), (("n", 0), str(_l("No")))]
    return []


def crosstab_questions(survey: Survey) -> list[Question]:
    """Return the questions a cross-tabulation may use (one answer each, not randomised)."""
    return [
        q
        for q in survey.questions()
        if q.kind in (QuestionKind.single, QuestionKind.scale)
        or (q.kind == QuestionKind.yes_no and not q.is_randomised)
    ]


def _row(label: str, count: int | None, n: int, hidden: bool) -> dict[str, Any]:
    if hidden or count is None or n <= 0:
        return {"label": label, "count": None, "share": None, "low": None, "high": None}
    successes = min(count, n)  # noisy counts (DP) may exceed a noisy total
    low, high = wilson_interval(successes, n)
    return {"label": label, "count": count, "share": successes / n, "low": low, "high": high}


def compute_results(survey: Survey) -> dict[str, Any]:
    """Return the publishable results: every number suppressed below k (four queries).

    The result is plain JSON data, so it can be stored as the snapshot that outlives the raw
    answers. Labels are in the survey's language; the view adds sentences in the reader's.
    """
    k = min_group_size()
    n_total = (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(SurveyResponse)
            .where(SurveyResponse.survey_id == survey.id)
        )
        or 0
    )
    grouped = db.session.execute(
        sa.select(
            SurveyAnswer.question_id,
            SurveyAnswer.option_id,
            SurveyAnswer.number,
            sa.func.count(),
        )
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
        .where(SurveyResponse.survey_id == survey.id)
        .group_by(SurveyAnswer.question_id, SurveyAnswer.option_id, SurveyAnswer.number)
    ).all()
    respondents = dict(
        db.session.execute(
            sa.select(
                SurveyAnswer.question_id, sa.func.count(sa.distinct(SurveyAnswer.response_id))
            )
            .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
            .where(SurveyResponse.survey_id == survey.id)
            .group_by(SurveyAnswer.question_id)
        ).all()
    )
    texts: dict[int, list[str]] = defaultdict(list)
    for question_id, text in db.session.execute(
        sa.select(SurveyAnswer.question_id, SurveyAnswer.text)
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
        .where(SurveyResponse.survey_id == survey.id, SurveyAnswer.review == TextReview.published)
    ):
        texts[question_id].append(text)
    counts: dict[int, dict[tuple[str, Any], int]] = defaultdict(lambda: defaultdict(int))
    for question_id, option_id, number, count in grouped:
        bucket = counts[question_id]
        if option_id is not None:
            bucket[("o", option_id)] += count
            if number is not None:
                bucket[("rank", option_id, number)] += count
        elif number is not None:
            bucket[("n", number)] += count
        else:
            bucket[("o", None)] += count  # "other" with text

    questions = []
    for question in survey.questions():
        n = int(respondents.get(question.id, 0))
        entry: dict[str, Any] = {
            "id": question.id,
            "text": question.text,
            "kind": question.kind.value,
            "randomised": question.is_randomised,
            "n": n if n >= k else None,
            "rows": [],
            "mean": None,
            "rr": None,
            "texts": None,
            "suppressed": n < k,
        }
        questions.append(entry)
        bucket = counts.get(question.id, {})
        if question.kind in TEXT_KINDS or question.has_other:
            published = sorted(texts.get(question.id, []), key=str.casefold)
            entry["texts"] = published if len(published) >= k else []
        if n < k:
            continue
        if question.kind == QuestionKind.yes_no and question.is_randomised:
            yes = bucket.get(("n", 1), 0)
            share, low, high = randomised_response_estimate(yes, n, RR_TRUTH_PROBABILITY)
            entry["rr"] = {"share": share, "low": low, "high": high}
            continue
        if question.kind == QuestionKind.ranking:
            places = len(question.options)
            rows = []
            for option in question.options:
                estimate = mean_interval(
                    {
                        place: bucket.get(("rank", option.id, place), 0)
                        for place in range(1, places + 1)
                    },
                    1,
                    places,
                )
                rows.append(
                    {
                        "label": option.label,
                        "mean": estimate.mean,
                        "low": estimate.low,
                        "high": estimate.high,
                        "places": places,
                    }
                )
            entry["rows"] = sorted(rows, key=lambda row: row["mean"])
            continue
        keys = _category_keys(question)
        if not keys:
            continue
        values = [bucket.get(key, 0) for key, _label in keys]
        if question.kind == QuestionKind.multiple:
            # Each option is its own yes/no count over n: no partition to subtract from.
            hidden = [0 < value < k for value in values]
        else:
            hidden = hidden_cells(values, k)
        if question.kind == QuestionKind.scale:
            estimate = mean_interval({v: bucket.get(("n", v), 0) for v in range(1, 6)})
            entry["mean"] = {"mean": estimate.mean, "low": estimate.low, "high": estimate.high}
            if any(hidden):
                # With the mean published, two hidden cells could be solved for: show no bars.
                hidden = [True] * len(values)
        entry["rows"] = [
            _row(label, value, n, flag)
            for (_key, label), value, flag in zip(keys, values, hidden, strict=True)
        ]
    return {
        "n": n_total if n_total >= k else None,
        "k": k,
        "suppressed": n_total < k,
        "questions": questions,
        "dp_epsilon": None,
    }


def survey_results(survey: Survey) -> dict[str, Any]:
    """Return the results to show: the snapshot after purge or a DP release, else live."""
    if survey.results_snapshot is not None:
        return survey.results_snapshot
    epsilon = current_app.config.get("SURVEY_DP_EPSILON")
    if epsilon:
        return _dp_release(survey, float(epsilon))
    return compute_results(survey)


def _dp_release(survey: Survey, epsilon: float) -> dict[str, Any]:
    """Release noisy counts once, after close, and keep them: re-reading must not average noise.

    While the survey is open, nothing is released (the answer is an empty, suppressed result).
    """
    if not survey.is_closed():
        return {
            "n": None,
            "k": min_group_size(),
            "suppressed": True,
            "questions": [],
            "dp_epsilon": epsilon,
            "dp_pending": True,
        }
    flush_staged(survey.id, final=True)
    results = compute_results(survey)
    results = add_dp_noise(results, epsilon)
    survey.results_snapshot = results
    audit(None, "survey.dp_release", "survey", survey.id, epsilon=epsilon)
    db.session.commit()
    return results


def _laplace_sampler(epsilon: float) -> Any:
    """Return a function adding discrete Laplace noise for a count query (sensitivity 1).

    OpenDP is used when installed (the `dp` extra); otherwise a documented fallback draws the
    same two-sided geometric distribution from the operating system's random source.
    """
    scale = 1.0 / epsilon
    try:
        import opendp.prelude as dp

        dp.enable_features("contrib")
        measurement = dp.m.make_laplace(
            dp.atom_domain(T=int), dp.absolute_distance(T=int), scale=scale
        )
        return lambda value: int(measurement(int(value)))
    except ImportError:
        alpha = math.exp(-epsilon)

        def geometric() -> int:
            # Number of failures before the first success with success probability 1 - alpha.
            u = 1.0 - _random.random()
            return int(math.floor(math.log(u) / math.log(alpha))) if alpha > 0 else 0

        return lambda value: int(value) + geometric() - geometric()


def add_dp_noise(results: dict[str, Any], epsilon: float) -> dict[str, Any]:
    """Replace every count, totals included, by a noisy one (epsilon per count)."""
    noise = _laplace_sampler(epsilon)
    k = results["k"]
    if results["n"] is not None:
        results["n"] = max(0, noise(results["n"]))
    for question in results["questions"]:
        if question["n"] is not None:
            question["n"] = max(0, noise(question["n"]))
        if question["rr"] is not None:
            continue  # already randomised in the browser; an estimate, not a count
        if question["kind"] == QuestionKind.ranking.value:
            question["rows"] = []  # mean places are not noised: not released under DP
            question["dp_withheld"] = True
            continue
        n = question["n"] or 0
        for row in question["rows"]:
            if row["count"] is None:
                continue
            count = max(0, noise(row["count"]))
            row.update(_row(row["label"], count, n, 0 < count < k))
        if question["mean"] is not None:
            rows = question["rows"]
            if rows and all(row["count"] is not None for row in rows):
                # Post-processing of the noisy counts costs no further privacy.
                estimate = mean_interval({v: rows[v - 1]["count"] for v in range(1, 6)})
                question["mean"] = {
                    "mean": estimate.mean,
                    "low": estimate.low,
                    "high": estimate.high,
                }
            else:
                question["mean"] = None
                question["dp_withheld"] = True
    results["dp_epsilon"] = epsilon
    return results


def crosstab(survey: Survey, first: Question, second: Question) -> dict[str, Any]:
    """Return the cross-tabulation of two one-answer questions, every cell suppressed below k."""
    k = min_group_size()
    a1 = sa.orm.aliased(SurveyAnswer)
    a2 = sa.orm.aliased(SurveyAnswer)
    rows = db.session.execute(
        sa.select(a1.option_id, a1.number, a2.option_id, a2.number, sa.func.count())
        .join(a2, a2.response_id == a1.response_id)
        .join(SurveyResponse, SurveyResponse.id == a1.response_id)
        .where(
            SurveyResponse.survey_id == survey.id,
            a1.question_id == first.id,
            a2.question_id == second.id,
        )
        .group_by(a1.option_id, a1.number, a2.option_id, a2.number)
    ).all()

    def key(question: Question, option_id: int | None, number: int | None) -> tuple[str, Any]:
        if question.kind == QuestionKind.single:
            return ("o", option_id)
        return ("n", number)

    first_keys = _category_keys(first)
    second_keys = _category_keys(second)
    index1 = {k_: i for i, (k_, _l_) in enumerate(first_keys)}
    index2 = {k_: i for i, (k_, _l_) in enumerate(second_keys)}
    table = [[0] * len(second_keys) for _ in first_keys]
    for o1, n1, o2, n2, count in rows:
        i = index1.get(key(first, o1, n1))
        j = index2.get(key(second, o2, n2))
        if i is not None and j is not None:
            table[i][j] += count
    total = sum(map(sum, table))
    hidden = (
        hidden_table(table, k) if total >= k else [[True] * len(second_keys) for _ in first_keys]
    )
    epsilon = current_app.config.get("SURVEY_DP_EPSILON")
    if epsilon:
        noise = _laplace_sampler(float(epsilon))
        table = [[max(0, noise(value)) for value in line] for line in table]
    return {
        "first": first.text,
        "second": second.text,
        "columns": [label for _k, label in second_keys],
        "rows": [
            {
                "label": label,
                "cells": [None if hidden[i][j] else table[i][j] for j in range(len(second_keys))],
            }
            for i, (_k, label) in enumerate(first_keys)
        ],
        "suppressed": total < k,
        "dp_epsilon": float(epsilon) if epsilon else None,
    }


# --- free-text review ---------------------------------------------------------------------------


def texts_for_review(survey: Survey) -> list[tuple[Question, list[SurveyAnswer]]]:
    """Return each text-bearing question with its answers, pending ones first (two queries)."""
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
    """Publish or reject free-text answers of this survey; `decisions` maps answer id → verdict."""
    wanted: dict[uuid.UUID, TextReview] = {}
    for raw_id, verdict in decisions.items():
        try:
            answer_id = uuid.UUID(raw_id)
            wanted[answer_id] = TextReview(verdict)
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


# --- export -------------------------------------------------------------------------------------


def export_csv(survey: Survey) -> str:
    """Return the anonymous answer table as CSV, k-filtered, one row per answer set.

    Rows are shuffled; a value that fewer than k people gave reads "suppressed"; free text only
    when published and only if at least k texts of that question are. No ids, no dates.
    """
    k = min_group_size()
    questions = survey.questions()
    option_labels = {o.id: o.label for q in questions for o in q.options}
    results = compute_results(survey)
    by_id = {entry["id"]: entry for entry in results["questions"]}
    sets: dict[uuid.UUID, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    counts: dict[tuple[int, str], int] = defaultdict(int)
    answers = db.session.execute(
        sa.select(
            SurveyAnswer.response_id,
            SurveyAnswer.question_id,
            SurveyAnswer.option_id,
            SurveyAnswer.number,
            SurveyAnswer.text,
            SurveyAnswer.review,
        )
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
        .where(SurveyResponse.survey_id == survey.id)
    ).all()
    response_ids = set()
    kinds = {q.id: q for q in questions}
    other_label = str(_l("Other"))
    for response_id, question_id, option_id, number, text, review in answers:
        response_ids.add(response_id)
        question = kinds.get(question_id)
        if question is None:
            continue
        if question.kind in TEXT_KINDS:
            published = review == TextReview.published and (by_id.get(question_id) or {}).get(
                "texts"
            )
            value = text if published else ""
        elif question.kind == QuestionKind.ranking:
            value = f"{option_labels.get(option_id, '')}={number}"
        elif option_id is not None:
            value = option_labels.get(option_id, "")
        elif text is not None:
            value = other_label  # the text of "other" is in the reviewed text list, not here
        else:
            value = str(number)
        sets[response_id][question_id].append(value)
        counts[(question_id, value)] += 1
    if len(response_ids) < k:
        sets = defaultdict(lambda: defaultdict(list))
    table: list[list[str]] = [[q.text for q in questions]]
    rows = list(sets.values())
    _random.shuffle(rows)
    for answer_set in rows:
        line = []
        for question in questions:
            values = []
            for value in sorted(answer_set.get(question.id, [])):
                if value and counts[(question.id, value)] < k and question.kind not in TEXT_KINDS:
                    value = "suppressed"
                values.append(value)
            line.append("; ".join(values))
        table.append(line)
    return csv_text(table)


# --- retention and accounts ---------------------------------------------------------------------


def purge_raw_answers(now: dt.datetime | None = None) -> int:
    """Delete raw answers of surveys closed longer than the retention period; keep aggregates."""
    now = now or utcnow()
    months = int(current_app.config["SURVEY_RETENTION_MONTHS"])
    cutoff = now - dt.timedelta(days=round(months * 30.44))
    surveys = list(
        db.session.scalars(
            sa.select(Survey).where(Survey.closes_at <= cutoff, Survey.purged_at.is_(None))
        )
    )
    for survey in surveys:
        flush_staged(survey.id, final=True)
        if survey.results_snapshot is None:
            survey.results_snapshot = compute_results(survey)
        ids = sa.select(SurveyResponse.id).where(SurveyResponse.survey_id == survey.id)
        db.session.execute(sa.delete(SurveyAnswer).where(SurveyAnswer.response_id.in_(ids)))
        db.session.execute(sa.delete(SurveyResponse).where(SurveyResponse.survey_id == survey.id))
        survey.purged_at = now
        audit(None, "survey.purge_answers", "survey", survey.id)
        db.session.commit()
    return len(surveys)


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


def can_still_answer(user: Any, survey: Survey) -> bool:
    """Return whether the person may and has not yet answered (for buttons)."""
    from kldialog import permissions

    return permissions.can_answer_survey(user, survey) and not has_participated(user, survey)


__all__ = ["OTHER", "AnswerErrors", "Eligibility"]
