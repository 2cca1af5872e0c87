"""Closed surveys' published results: the final release (or the snapshot kept after purge).

What the results page shows, minus the free texts: the API never carries a respondent's own
words. Hidden cells stay hidden (null). Nothing is computed or released here: a survey whose
final release is still being prepared is listed with `results_available: false`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import url_for

from kldialog.api import schemas
from kldialog.kernel.db import db
from kldialog.kernel.disclosure import Release
from kldialog.kernel.time import utcnow
from kldialog.surveys.models import Survey, SurveyState
from kldialog.surveys.results import is_final, question_texts_en, results_key


def _closed() -> list[sa.ColumnElement[bool]]:
    return [Survey.state == SurveyState.published, Survey.closes_at <= utcnow()]


def _summary_fields(survey: Any, available: bool) -> dict[str, Any]:
    return {
        "id": survey.id,
        "title": survey.title,
        "title_en": survey.title_en,
        "opens_at": survey.opens_at,
        "closes_at": survey.closes_at,
        "results_available": available,
        "url": url_for("api.v1.survey", survey_id=survey.id, _external=True),
        "html_url": url_for("surveys.results", survey_id=survey.id, _external=True),
    }


def surveys() -> schemas.SurveyList:
    """Return closed published surveys, newest close first (two queries)."""
    # Whole rows: a JSON null in results_snapshot is not SQL NULL, so it cannot be tested in SQL.
    rows = list(
        db.session.scalars(
            sa.select(Survey).where(*_closed()).order_by(Survey.closes_at.desc(), Survey.id.desc())
        )
    )
    keys = [results_key(row.id) for row in rows]
    final = {
        key
        for key, payload in db.session.execute(
            sa.select(Release.key, Release.payload).where(Release.key.in_(keys))
        )
        if payload and payload.get("final")
    }
    return schemas.SurveyList(
        items=[
            schemas.SurveySummary(
                **_summary_fields(
                    row, row.results_snapshot is not None or results_key(row.id) in final
                )
            )
            for row in rows
        ]
    )


def _interval(data: dict[str, Any] | None, estimate: str) -> schemas.Interval | None:
    if not data:
        return None
    return schemas.Interval(estimate=data[estimate], low=data["low"], high=data["high"])


def _question(entry: dict[str, Any], text_en: str | None) -> schemas.QuestionResult:
    """Return one question's published figures (its free-text list is left out)."""
    ranking = entry["kind"] == "ranking"
    rows = entry.get("rows") or []
    return schemas.QuestionResult(
        id=entry["id"],
        text=entry["text"],
        text_en=text_en,
        kind=entry["kind"],
        randomised=bool(entry.get("randomised")),
        suppressed=bool(entry["suppressed"]),
        n=entry["n"],
        withheld=entry.get("withheld"),
        rows=[]
        if ranking
        else [
            schemas.CountRow(
                label=row["label"],
                label_en=row.get("label_en"),
                count=row["count"],
                share=row["share"],
                low=row["low"],
                high=row["high"],
            )
            for row in rows
        ],
        ranking=[
            schemas.RankRow(
                label=row["label"],
                label_en=row.get("label_en"),
                mean=row["mean"],
                low=row["low"],
                high=row["high"],
                places=row["places"],
            )
            for row in rows
        ]
        if ranking
        else [],
        mean=_interval(entry.get("mean"), "mean"),
        randomised_response=_interval(entry.get("rr"), "share"),
    )


def survey_detail(survey_id: int) -> schemas.SurveyDetail | None:
    """Return a closed survey's final results, or None if it is not public (constant queries)."""
    survey = db.session.scalar(sa.select(Survey).where(Survey.id == survey_id, *_closed()))
    if survey is None:
        return None
    data: dict[str, Any] | None = survey.results_snapshot
    if data is None:
        release = db.session.get(Release, results_key(survey.id))
        data = release.payload if is_final(release) and release is not None else None
    channels = (data or {}).get("channels") or {}  # absent: nothing came on paper
    english = question_texts_en(survey)
    return schemas.SurveyDetail(
        **_summary_fields(survey, data is not None),
        intro=survey.intro,
        intro_en=survey.intro_en,
        k=(data or {}).get("k"),
        n=(data or {}).get("n"),
        suppressed=bool((data or {}).get("suppressed", True)),
        withheld_answer_sets=int((data or {}).get("withheld") or 0),
        dp_epsilon=(data or {}).get("dp_epsilon"),
        answer_sets_online=channels.get("online"),
        answer_sets_paper=channels.get("paper"),
        questions=[
            _question(entry, english.get(entry["id"]))
            for entry in (data or {}).get("questions", [])
        ],
    )
