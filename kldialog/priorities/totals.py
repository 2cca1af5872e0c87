"""Running totals of an open round, published only as releases that move in steps of k."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app

from kldialog.kernel.db import db
from kldialog.kernel.disclosure import Release, contribute
from kldialog.priorities.models import (
    Method,
    PriorityRound,
    RoundProject,
)
from kldialog.priorities.releases import ensure_release_row
from kldialog.priorities.rounds import round_entries
from kldialog.projects.models import Project


@dataclass(frozen=True)
class TotalsRow:
    """One project's line in the released running totals."""

    project: Project
    supporters: int
    points: int


@dataclass(frozen=True)
class RunningTotals:
    """The last release of an open round's totals; rows is empty until one exists."""

    n: int | None
    rows: list[TotalsRow]
    released_on: dt.date | None


def totals_key(round_id: int) -> str:
    """Return the release key of a round's running totals."""
    return f"round:{round_id}:totals"


def _totals_snapshot(round_id: int) -> tuple[int, dict[str, Any]]:
    """Return (ballots, {project_id: [supporters, points]}) as this transaction sees them."""
    n = db.session.scalar(sa.select(PriorityRound.ballot_count).where(PriorityRound.id == round_id))
    rows = db.session.execute(
        sa.select(RoundProject.project_id, RoundProject.supporters, RoundProject.points).where(
            RoundProject.round_id == round_id
        )
    ).all()
    return int(n or 0), {"totals": {str(pid): [s, p] for pid, s, p in rows}}


def count_ballot_change(round_id: int, voter: int, *, remember: bool = True) -> None:
    """Count a cast, changed or withdrawn ballot towards the next release of the totals.

    Counted whether or not the totals are shown, so that staff switching them on mid-round
    publish a release that is at least k voters away from any other one. A voter counts once
    per step however often they change; `remember=False` (account deletion) keeps no digest. The
    release lags one step, because the final result follows it: the snapshot taken after the
    m-th k voters is published only after the (m+1)-th, so final − last published always
    covers at least k voters; closing deletes the unpublished snapshot with the release.
    """
    key = totals_key(round_id)
    ensure_release_row(key)
    contribute(
        key,
        current_app.config["ROUND_MIN_GROUP_SIZE"],
        lambda: _totals_snapshot(round_id),
        contributor=voter,
        remember=remember,
        lag=True,
    )


def running_totals(round_: PriorityRound) -> RunningTotals:
    """Return the released totals of an open round, highest first (only when staff allow it).

    Never the live counters: read before and after one ballot they would show that ballot.
    A release is made only after at least k ballot changes since the previous one.
    """
    release = db.session.get(Release, totals_key(round_.id))
    if release is None or release.payload is None:
        return RunningTotals(None, [], None)
    stored = release.payload["totals"]
    rows = [
        TotalsRow(entry.project, *stored.get(str(entry.project_id), [0, 0]))
        for entry in round_entries(round_)
    ]
    key = (lambda r: r.supporters) if round_.method == Method.approval else (lambda r: r.points)
    rows.sort(key=lambda r: (-key(r), r.project.title))
    return RunningTotals(release.n, rows, release.released_on)
