"""Staff building surveys: settings, pages, questions, publishing and new versions.

Questions freeze at the first answer (`Survey.is_frozen`): answers must keep meaning what
they meant when given, so a change needs a new version (`copy_survey`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from kldialog.auth.models import User
from kldialog.kernel.audit import audit
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.time import utcnow
from kldialog.surveys.models import (
    CHOICE_KINDS,
    Option,
    Question,
    QuestionKind,
    Survey,
    SurveySection,
    SurveyState,
)
from kldialog.windows.models import Eligibility


def _clean(text: str | None) -> str:
    return (text or "").replace("\r\n", "\n").strip()


def _window(
    opens_at: dt.datetime | None, closes_at: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    """Return the window, or refuse a missing end or one not after the start."""
    if opens_at is None:
        raise RuleViolation(_l("Please enter when the survey opens."), field="opens_at")
    if closes_at is None:
        raise RuleViolation(_l("Please enter when the survey closes."), field="closes_at")
    if closes_at <= opens_at:
        raise RuleViolation(_l("The survey must close after it opens."), field="closes_at")
    return opens_at, closes_at


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
    title_en: str = "",
    intro_en: str = "",
) -> Survey:
    """Create a draft survey with one empty section (English title and intro optional)."""
    title = _clean(title)
    if not title:
        raise RuleViolation(_l("Please enter a title."), field="title")
    opens_at, closes_at = _window(opens_at, closes_at)
    survey = Survey(
        title=title,
        intro=_clean(intro),
        title_en=_clean(title_en) or None,
        intro_en=_clean(intro_en) or None,
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
    title_en: str = "",
    intro_en: str = "",
) -> None:
    """Change a survey's settings; eligibility is fixed once someone has answered."""
    title = _clean(title)
    if not title:
        raise RuleViolation(_l("Please enter a title."), field="title")
    opens_at, closes_at = _window(opens_at, closes_at)
    if survey.is_frozen and eligibility != survey.eligibility:
        raise RuleViolation(
            _l("Who may answer cannot change once people have answered."), field="eligibility"
        )
    survey.title = title
    survey.intro = _clean(intro)
    survey.title_en = _clean(title_en) or None
    survey.intro_en = _clean(intro_en) or None
    survey.opens_at = opens_at
    survey.closes_at = closes_at
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


def add_section(actor: User, survey: Survey, title: str, title_en: str = "") -> SurveySection:
    """Add a page at the end of the survey, its heading optionally in English too."""
    _editable(survey)
    section = SurveySection(
        position=max((s.position for s in survey.sections), default=-1) + 1,
        title=_clean(title)[:200],
        title_en=_clean(title_en)[:200] or None,
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


def _option_labels(kind: QuestionKind, options: Sequence[str]) -> list[str]:
    """Return the cleaned option labels a question of this kind keeps (checked)."""
    labels = [label for label in (_clean(line)[:200] for line in options) if label]
    if len(set(labels)) != len(labels):
        raise RuleViolation(_l("Each option may appear only once."), field="options")
    if kind in CHOICE_KINDS and len(labels) < 2:  # noqa: PLR2004
        raise RuleViolation(_l("Please enter at least two options, one per line."), field="options")
    return labels if kind in CHOICE_KINDS else []


def _choice_limits(
    kind: QuestionKind, labels: list[str], has_other: bool, low: int | None, high: int | None
) -> tuple[int | None, int | None]:
    """Return the checked min/max number of choices (multiple choice only)."""
    if kind != QuestionKind.multiple:
        return None, None
    for name, value in (("min_choices", low), ("max_choices", high)):
        if value is not None and not 1 <= value <= len(labels) + int(has_other):
            raise RuleViolation(
                _l("Please enter a number between 1 and the number of options."), field=name
            )
    if low and high and low > high:
        raise RuleViolation(
            _l("The minimum cannot be larger than the maximum."), field="min_choices"
        )
    return low, high


def _check_randomised(kind: QuestionKind, is_randomised: bool, is_required: bool) -> None:
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


def _place(question: Question | None, survey: Survey, section: SurveySection, kind: QuestionKind,
           text: str) -> Question:  # fmt: skip
    """Return the question at the end of `section`: a new one, or one moved there if needed."""
    if question is None:
        question = Question(survey_id=survey.id, kind=kind, text=text)
    elif question.section_id == section.id:
        return question
    else:
        question.section.questions.remove(question)
    question.position = max((q.position for q in section.questions), default=-1) + 1
    section.questions.append(question)
    return question


def _english_labels(labels: list[str], options_en: Sequence[str]) -> list[str | None]:
    """Return one English label per option, or none at all; refuse a list that does not match."""
    english = [_clean(line)[:200] for line in options_en if _clean(line)]
    if not labels:  # no options (scale, yes/no, text): nothing to translate
        return []
    if english and len(english) != len(labels):
        raise RuleViolation(
            _l(
                "Please give one English option per option, in the same order "
                "(%(count)d), or none.",
                count=len(labels),
            ),
            field="options_en",
        )
    return list(english)


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
    text_en: str = "",
    options_en: Sequence[str] = (),
    help_text_en: str = "",
    scale_low_label_en: str = "",
    scale_high_label_en: str = "",
) -> Question:
    """Add a question, or change one, with its options (one per line), optionally in English."""
    _editable(survey)
    text = _clean(text)
    if not text:
        raise RuleViolation(_l("Please enter the question."), field="text")
    section = next((s for s in survey.sections if s.id == section_id), None)
    if section is None:
        raise RuleViolation(_l("Please choose a page of this survey."), field="section_id")
    labels = _option_labels(kind, options)
    labels_en = _english_labels(labels, options_en)
    min_choices, max_choices = _choice_limits(kind, labels, has_other, min_choices, max_choices)
    has_other = has_other and kind in (QuestionKind.single, QuestionKind.multiple)
    _check_randomised(kind, is_randomised, is_required)
    action = "survey.add_question" if question is None else "survey.edit_question"
    question = _place(question, survey, section, kind, text)
    question.kind = kind
    question.text = text
    question.text_en = _clean(text_en) or None
    question.help_text = _clean(help_text)
    question.help_text_en = _clean(help_text_en) or None
    question.is_required = is_required
    question.min_choices = min_choices
    question.max_choices = max_choices
    question.scale_low_label = _clean(scale_low_label)[:80] if kind == QuestionKind.scale else ""
    question.scale_high_label = _clean(scale_high_label)[:80] if kind == QuestionKind.scale else ""
    question.scale_low_label_en = _scale_label_en(kind, scale_low_label_en)
    question.scale_high_label_en = _scale_label_en(kind, scale_high_label_en)
    question.has_other = has_other
    question.is_randomised = is_randomised
    if [option.label for option in question.options] != labels:
        question.options.clear()
        db.session.flush()
        question.options.extend(
            Option(position=position, label=label) for position, label in enumerate(labels)
        )
    for option, label_en in zip(question.options, labels_en or [None] * len(labels), strict=True):
        option.label_en = label_en
    db.session.flush()
    audit(actor, action, "survey", survey.id, question=question.id)
    db.session.commit()
    return question


def _scale_label_en(kind: QuestionKind, label: str) -> str | None:
    """Return the English label of a scale's end, or None (not a scale, or not translated)."""
    return (_clean(label)[:80] or None) if kind == QuestionKind.scale else None


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
    if survey.has_ended():
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
        title_en=survey.title_en,
        intro_en=survey.intro_en,
        opens_at=opens,
        closes_at=closes,
        eligibility=survey.eligibility,
        previous_version_id=survey.id,
        projects=list(survey.projects),
    )
    db.session.add(copy)
    db.session.flush()
    for section in survey.sections:
        new_section = SurveySection(
            position=section.position, title=section.title, title_en=section.title_en
        )
        copy.sections.append(new_section)
        for question in section.questions:
            new_section.questions.append(
                Question(
                    survey_id=copy.id,
                    kind=question.kind,
                    text=question.text,
                    text_en=question.text_en,
                    help_text=question.help_text,
                    help_text_en=question.help_text_en,
                    is_required=question.is_required,
                    min_choices=question.min_choices,
                    max_choices=question.max_choices,
                    scale_low_label=question.scale_low_label,
                    scale_high_label=question.scale_high_label,
                    scale_low_label_en=question.scale_low_label_en,
                    scale_high_label_en=question.scale_high_label_en,
                    has_other=question.has_other,
                    is_randomised=question.is_randomised,
                    position=question.position,
                    options=[
                        Option(position=o.position, label=o.label, label_en=o.label_en)
                        for o in question.options
                    ],
                )
            )
    audit(actor, "survey.new_version", "survey", copy.id, previous=survey.id)
    db.session.commit()
    return copy
