"""Closed priority rounds: the frozen RoundResult exactly as the public results pages publish it.

Only rounds whose result is stored appear: the API never closes a round itself (a GET must not
write; `flask rounds close-due` or the first visit of the results page does that).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask import url_for

from kldialog.api import schemas
from kldialog.kernel.db import db
from kldialog.kernel.time import utcnow
from kldialog.priorities.models import PriorityRound, RoundResult, RoundState

NOTE = "self-selected participants, not a representative survey"


def _closed() -> sa.Select[PriorityRound, RoundResult]:
    return (
        sa.select(PriorityRound, RoundResult)
        .join(RoundResult, RoundResult.round_id == PriorityRound.id)
        .where(PriorityRound.state == RoundState.published, PriorityRound.closes_at <= utcnow())
    )


def _summary_fields(round_: PriorityRound, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": round_.id,
        "title": round_.title,
        "title_en": round_.title_en,
        "method": round_.method.value,
        "opens_at": round_.opens_at,
        "closes_at": round_.closes_at,
        "ballots": data["n"],
        # Results frozen before paper ballots existed have no channels: all came online.
        "ballots_online": data.get("channels", {}).get("online", data["n"]),
        "ballots_paper": data.get("channels", {}).get("paper", 0),
        "suppressed": bool(data["suppressed"]),
        "url": url_for("api.v1.round", round_id=round_.id, _external=True),
        "html_url": url_for("priorities.results", round_id=round_.id, _external=True),
    }


def rounds() -> schemas.RoundList:
    """Return the closed rounds with a frozen result, newest close first (one query)."""
    rows = db.session.execute(
        _closed().order_by(PriorityRound.closes_at.desc(), PriorityRound.id.desc())
    ).all()
    return schemas.RoundList(
        items=[
            schemas.RoundSummary(**_summary_fields(round_, json.loads(result.results)))
            for round_, result in rows
        ]
    )


def round_detail(round_id: int) -> schemas.RoundDetail | None:
    """Return a closed round's stored results, participation and ballot file link, or None."""
    row = db.session.execute(_closed().where(PriorityRound.id == round_id)).first()
    if row is None:
        return None
    round_, result = row
    data = json.loads(result.results)
    suppressed = bool(data["suppressed"])
    return schemas.RoundDetail(
        **_summary_fields(round_, data),
        min_group_size=data["min_group_size"],
        bootstrap_samples=data["bootstrap_samples"],
        computed_at=result.computed_at,
        projects=data["projects"],
        categories=data["categories"],
        participation=json.loads(result.participation),
        # Below k ballots the file would tell who chose what: the results page withholds it too.
        ballot_file=None
        if suppressed
        else url_for("priorities.ballot_file", round_id=round_.id, _external=True),
        ballot_file_sha256=None if suppressed else result.ballot_sha256,
        results_csv=url_for("priorities.results_csv", round_id=round_.id, _external=True),
        note=NOTE,
    )
