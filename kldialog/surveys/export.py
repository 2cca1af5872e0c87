"""The staff CSV of anonymous answer sets: one shuffled row per set, suppressed column by column.

Each question is one column. A column's values form a partition of the answer sets (each set
gives one value, or none: "no answer" is a value too), so the disclosure rule applies to it
as to any published distribution: a value fewer than k sets gave is hidden, and so many more
that no hidden value can be told from the others (`hidden_cells`). Hidden values all read
"suppressed", so a suppressed cell never says which hidden value it stands for. Multiple
choice is suppressed option by option (with a second option hidden whenever one is); a
ranking column is suppressed as a whole when any place of any option is hidden, because the
places of a ranking determine each other. Free text appears only when published and when at
least k texts of the question are. Where paper questionnaires were entered, a last column says
each set's channel (online or paper), suppressed by the same rule. The export covers exactly
the population of the current results release (results.current_population); otherwise two
exports could be compared.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from kldialog.kernel.csv import csv_text
from kldialog.kernel.db import db
from kldialog.kernel.disclosure import hidden_cells
from kldialog.kernel.errors import RuleViolation
from kldialog.surveys.models import (
    TEXT_KINDS,
    Channel,
    Question,
    QuestionKind,
    Survey,
    SurveyAnswer,
    SurveyResponse,
    TextReview,
)
from kldialog.surveys.results import current_population, published_texts
from kldialog.surveys.settings import min_group_size

_random = random.SystemRandom()
SUPPRESSED = "suppressed"
NO_ANSWER = ""

# One answer as read: (option_id, number, text, review).
Answer = tuple[int | None, int | None, str | None, TextReview | None]


def _answer_sets(survey: Survey) -> list[tuple[Channel, dict[int, list[Answer]]]]:
    """Return every answer set of the survey as its channel and {question id: answers}."""
    channels: dict[uuid.UUID, Channel] = {
        response_id: channel
        for response_id, channel in db.session.execute(
            sa.select(SurveyResponse.id, SurveyResponse.channel).where(
                SurveyResponse.survey_id == survey.id
            )
        )
    }
    sets: dict[uuid.UUID, dict[int, list[Answer]]] = {
        response_id: defaultdict(list) for response_id in channels
    }
    for response_id, question_id, *answer in db.session.execute(
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
    ):
        sets[response_id][question_id].append(tuple(answer))  # type: ignore[arg-type]
    return [(channels[response_id], answers) for response_id, answers in sets.items()]


def _label(question: Question, answer: Answer) -> str:
    option_id, number, text, _review = answer
    labels = {o.id: o.label for o in question.options}
    if option_id is not None:
        return labels.get(option_id, "")
    if text is not None:
        return str(_l("Other"))  # the text of "other" is in the reviewed text list, not here
    return str(number)


def _partition_column(question: Question, column: list[list[Answer]], k: int) -> list[str]:
    """Return a one-answer column with hidden values (no answer included) as "suppressed"."""
    return _suppressed(
        [_label(question, answers[0]) if answers else NO_ANSWER for answers in column], k
    )


def _channel_column(channels: list[Channel], k: int) -> list[str]:
    """Return the channel column ("online", "paper"), suppressed like any other partition."""
    names = {Channel.online: str(_l("online")), Channel.paper: str(_l("paper"))}
    return _suppressed([names[channel] for channel in channels], k)


def _suppressed(values: list[str], k: int) -> list[str]:
    """Return a partition's values with those fewer than k sets gave (and their cover) hidden."""
    categories = sorted(set(values))
    counts = [values.count(category) for category in categories]
    hidden = {c for c, flag in zip(categories, hidden_cells(counts, k), strict=True) if flag}
    return [SUPPRESSED if value in hidden else value for value in values]


def _multiple_column(question: Question, column: list[list[Answer]], k: int) -> list[str]:
    """Return a multiple-choice column, options hidden one by one (never only one hidden)."""
    chosen = [sorted({_label(question, a) for a in answers}) for answers in column]
    labels = sorted({label for labels in chosen for label in labels})
    counts = {label: sum(label in labels_ for labels_ in chosen) for label in labels}
    hidden = {label for label, count in counts.items() if count < k}
    if len(hidden) == 1 and len(labels) > 1:  # one hidden option alone would be named
        hidden.add(
            min((label for label in labels if label not in hidden), key=lambda label: counts[label])
        )
    cells = []
    for labels_ in chosen:
        shown = [label for label in labels_ if label not in hidden]
        if len(shown) < len(labels_):
            shown.append(SUPPRESSED)
        cells.append("; ".join(shown))
    return cells


def _ranking_column(question: Question, column: list[list[Answer]], k: int) -> list[str]:
    """Return a ranking column, all "suppressed" when any place of any option is hidden."""
    places = len(question.options)
    for option in question.options:
        counts = [0] * (places + 1)  # places 1..n, and "no answer" at 0
        for answers in column:
            place = next((a[1] for a in answers if a[0] == option.id), 0)
            counts[place or 0] += 1
        if any(hidden_cells(counts, k)):
            return [SUPPRESSED] * len(column)
    labels = {o.id: o.label for o in question.options}
    return [
        "; ".join(
            f"{labels.get(a[0], '') if a[0] is not None else ''}={a[1]}"
            for a in sorted(answers, key=lambda a: a[1] or 0)
        )
        for answers in column
    ]


def _text_column(question: Question, column: list[list[Answer]], texts: set[str]) -> list[str]:
    """Return a text column: a text only when published (and at least k are)."""
    return [
        "; ".join(a[2] for a in answers if a[2] is not None and a[2] in texts) for answers in column
    ]


def _column(question: Question, column: list[list[Answer]], texts: set[str], k: int) -> list[str]:
    if question.kind in TEXT_KINDS:
        return _text_column(question, column, texts)
    if question.kind == QuestionKind.multiple:
        return _multiple_column(question, column, k)
    if question.kind == QuestionKind.ranking:
        return _ranking_column(question, column, k)
    return _partition_column(question, column, k)


def export_csv(survey: Survey) -> str:
    """Return the anonymous answer table as CSV, one shuffled row per answer set; no ids, no dates.

    Raises RuleViolation when the answer tables hold answer sets the current release does not
    cover (an export then would reveal them), or fewer than k answer sets in all.
    """
    k = min_group_size()
    release, n_now = current_population(survey)
    if release is None or release.n is None or release.n < k:
        raise RuleViolation(_l("Fewer than %(k)d people have answered: no export yet.", k=k))
    if n_now != release.n:
        raise RuleViolation(
            _l(
                "Some answer sets are not yet in the released results (fewer than %(k)d since "
                "the last release). An export now would reveal them by comparison.",
                k=k,
            )
        )
    questions = survey.questions()
    sets = _answer_sets(survey)
    _random.shuffle(sets)
    published = published_texts(survey)
    columns = [
        _column(q, [s.get(q.id, []) for _c, s in sets], set(published.get(q.id, [])), k)
        for q in questions
    ]
    header = [q.text for q in questions]
    channels = [channel for channel, _s in sets]
    if Channel.paper in channels:  # a survey without paper questionnaires keeps its columns
        columns.append(_channel_column(channels, k))
        header.append(str(_l("Channel")))
    table: list[list[Any]] = [header]
    table += [list(row) for row in zip(*columns, strict=True)] if columns else []
    return csv_text(table)
