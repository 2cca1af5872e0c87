"""Cross-tabulations on request, each released once per results release and then stored.

A cross-tab is computed only for the population of the current results release (see
results.current_population): its margins are the distributions of its two questions, so a
table over more answer sets than the release would reveal the difference. Requesting the
same pair again returns the stored release, noise included, so repeated requests cannot be
averaged; with differential privacy each new table spends ε from the survey's budget, and
when the budget is spent no new table is released.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from kldialog.kernel.db import db
from kldialog.kernel.disclosure import hidden_table, release_now, release_of
from kldialog.surveys.models import Question, QuestionKind, Survey, SurveyAnswer, SurveyResponse
from kldialog.surveys.noise import Noise
from kldialog.surveys.results import (
    category_keys,
    current_population,
    epsilon_spent,
    release_prefix,
)
from kldialog.surveys.settings import dp_budget, dp_epsilon, min_group_size
from kldialog.templating import Localized, localized


def _labels(question: Question) -> list[Localized | str]:
    """Return the labels of a question's categories, options in the page's language."""
    options: dict[Any, Localized] = {("o", o.id): localized(o, "label") for o in question.options}
    return [options.get(key, label) for key, label in category_keys(question)]


@dataclass
class Crosstab:
    """The outcome of a cross-tab request: a table, or why there is none (`status`)."""

    # "ok", "suppressed" (results below k), "wait" (open: fewer than k new answer sets since
    # the last release), "withheld" (closed with withheld answer sets), "budget" (ε spent).
    status: str
    first: Localized | str = ""
    second: Localized | str = ""
    columns: list[Localized | str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    suppressed: bool = False
    dp_epsilon: float | None = None
    needed: int = 0


def crosstab_questions(survey: Survey) -> list[Question]:
    """Return the questions a cross-tabulation may use (one answer each, not randomised)."""
    return [
        q
        for q in survey.questions()
        if q.kind in (QuestionKind.single, QuestionKind.scale)
        or (q.kind == QuestionKind.yes_no and not q.is_randomised)
    ]


def _key(question: Question, option_id: int | None, number: int | None) -> tuple[str, Any]:
    if question.kind == QuestionKind.single:
        return ("o", option_id)
    return ("n", number)


def _count_table(survey: Survey, first: Question, second: Question) -> list[list[int]]:
    """Return the exact counts of answer sets by their answers to two questions (one query)."""
    a1 = sa.orm.aliased(SurveyAnswer)
    a2 = sa.orm.aliased(SurveyAnswer)
    found = db.session.execute(
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
    index1 = {key: i for i, (key, _label) in enumerate(category_keys(first))}
    index2 = {key: j for j, (key, _label) in enumerate(category_keys(second))}
    table = [[0] * len(index2) for _ in index1]
    for o1, n1, o2, n2, count in found:
        i, j = index1.get(_key(first, o1, n1)), index2.get(_key(second, o2, n2))
        if i is not None and j is not None:
            table[i][j] += count
    return table


def _publishable(table: list[list[int]], noise: Noise | None) -> dict[str, Any]:
    """Return the table to store: noisy first (DP), then suppressed on what will be shown."""
    k = min_group_size()
    if noise is not None:  # each answer set is in one cell: the whole table costs ε
        flat = noise.histogram([value for line in table for value in line])
        width = len(table[0]) if table else 0
        table = [flat[i * width : (i + 1) * width] for i in range(len(table))]
    total = sum(map(sum, table))
    if total < k:
        return {"cells": [[None] * len(line) for line in table], "suppressed": True}
    hidden = hidden_table(table, k)
    cells = [
        [None if hidden[i][j] else value for j, value in enumerate(line)]
        for i, line in enumerate(table)
    ]
    return {"cells": cells, "suppressed": False}


def _release(survey: Survey, low: Question, high: Question, n: int) -> Crosstab | None:
    """Make and store the release of a pair; None when the ε budget does not allow it."""
    epsilon = dp_epsilon()
    noise = Noise(epsilon) if epsilon else None
    payload = _publishable(_count_table(survey, low, high), noise)
    cost = noise.spent if noise is not None else 0.0
    if cost and epsilon_spent(survey.id) + cost > dp_budget():
        return None
    payload["dp_epsilon"] = epsilon
    release_now(_pair_key(survey, low, high), lambda: (n, payload), epsilon=cost)
    db.session.commit()
    return Crosstab(status="ok")


def _pair_key(survey: Survey, low: Question, high: Question) -> str:
    return f"{release_prefix(survey.id)}crosstab:{low.id}:{high.id}"


def crosstab(survey: Survey, first: Question, second: Question) -> Crosstab:
    """Return the released cross-tab of two questions (rows: first), releasing it if due."""
    release, n_now = current_population(survey)
    if release is None or release.n is None or release.n < min_group_size():
        return Crosstab(status="suppressed")
    if n_now != release.n:
        if survey.has_ended():
            return Crosstab(status="withheld")
        return Crosstab(status="wait", needed=max(1, min_group_size() - (n_now - release.n)))
    # One release per unordered pair: (a, b) and (b, a) are the same table transposed, and two
    # independently noised copies could be averaged.
    low, high = sorted((first, second), key=lambda q: q.id)
    stored = release_of(_pair_key(survey, low, high))
    if stored is None or stored.n != release.n or stored.payload is None:
        if _release(survey, low, high, release.n) is None:
            return Crosstab(status="budget")
        stored = release_of(_pair_key(survey, low, high))
    assert stored is not None and stored.payload is not None  # noqa: S101 - just stored
    cells = stored.payload["cells"]
    if low.id != first.id:
        cells = [list(line) for line in zip(*cells, strict=True)] if cells else []
    return Crosstab(
        status="ok",
        first=localized(first, "text"),
        second=localized(second, "text"),
        columns=_labels(second),
        rows=[{"label": label, "cells": cells[i]} for i, label in enumerate(_labels(first))],
        suppressed=bool(stored.payload["suppressed"]),
        dp_epsilon=stored.payload.get("dp_epsilon"),
    )
