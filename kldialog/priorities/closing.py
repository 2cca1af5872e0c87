"""Closing a round: freeze the result, drop the link person → ballot, erase the dead rows."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import secrets
from collections.abc import Mapping

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from kldialog.auth.models import User
from kldialog.kernel.audit import audit
from kldialog.kernel.db import db, rewrite_tables
from kldialog.kernel.disclosure import forget_releases, hidden_cells
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.time import utcnow
from kldialog.priorities.models import (
    Ballot,
    BallotChoice,
    PriorityRound,
    RoundProject,
    RoundResult,
    RoundState,
)
from kldialog.priorities.paper import erase_paper, paper_ballot_rows
from kldialog.priorities.results import ballot_file_text, compute_results
from kldialog.priorities.rounds import round_entries
from kldialog.priorities.totals import totals_key
from kldialog.projects.models import Project

# Tables whose dead rows a close leaves behind: deleted ballots name their person, and the
# old versions of the running totals (counters and releases) would replay them one by one.
CLOSE_REWRITES = (
    "ballot",
    "ballot_choice",
    "round_project",
    "priority_round",
    "disclosure_release",
    "paper_ballot",
    "paper_code",
    "entry_batch",
)


log = logging.getLogger(__name__)


def rounds_due() -> list[PriorityRound]:
    """Return published rounds whose window has ended but that have no result yet."""
    return list(
        db.session.scalars(
            sa.select(PriorityRound)
            .outerjoin(RoundResult, RoundResult.round_id == PriorityRound.id)
            .where(
                PriorityRound.state == RoundState.published,
                PriorityRound.closes_at <= utcnow(),
                # Paper sheets are entered until their own deadline, which may come later.
                sa.or_(PriorityRound.paper_until.is_(None), PriorityRound.paper_until <= utcnow()),
                RoundResult.round_id.is_(None),
            )
            .order_by(PriorityRound.closes_at)
        )
    )


def result_of(round_: PriorityRound) -> RoundResult | None:
    """Return the published result of a round, or None while it is open or being prepared.

    Never closes anything: closing (read every ballot, shuffle, compute, delete, rewrite the
    tables) runs from `flask rounds close-due` or a staff member's explicit close, never on a
    resident's request, which would then wait for it (or race another visitor for it).
    """
    if not round_.is_closed():
        return None
    return round_.result


def close_ended_round(actor: User, round_: PriorityRound) -> RoundResult:
    """Close a round whose window has ended now, at a staff member's request."""
    if not round_.is_closed():
        raise RuleViolation(_l("The round can be closed only after its closing time."))
    if round_.paper_until is not None and round_.paper_until > utcnow():
        raise RuleViolation(_l("The round can be closed only after the deadline for paper sheets."))
    return close_round(round_, actor=actor)


def _ballot_rows(round_id: int) -> list[dict[str, int]]:
    """Return the round's ballots as {project_slug: points}, in no meaningful order."""
    rows = db.session.execute(
        sa.select(BallotChoice.ballot_id, Project.slug, BallotChoice.points)
        .join(Project, Project.id == BallotChoice.project_id)
        .where(BallotChoice.round_id == round_id)
    ).all()
    ballots: dict[int, dict[str, int]] = {}
    for ballot_id, slug, points in rows:
        ballots.setdefault(ballot_id, {})[slug] = points
    return list(ballots.values())


def close_round(round_: PriorityRound, *, actor: User | None = None) -> RoundResult:
    """Freeze the result of an ended round and make its ballots anonymous, all in one commit."""
    round_id = round_.id
    if db.engine.dialect.name == "postgresql":
        # Waits for ballots being written right now; ballots arriving later see the result row
        # (see _refuse_if_closed). Readers are not blocked.
        db.session.execute(sa.text("LOCK TABLE ballot, ballot_choice IN EXCLUSIVE MODE"))
    db.session.execute(
        sa.select(PriorityRound.id).where(PriorityRound.id == round_id).with_for_update()
    )
    existing = db.session.get(RoundResult, round_id, populate_existing=True)
    if existing is not None:
        db.session.commit()
        return existing
    entries = round_entries(round_)
    ballots = _ballot_rows(round_id)
    days = dict(
        db.session.execute(
            sa.select(Ballot.cast_on, sa.func.count())
            .where(Ballot.round_id == round_id)
            .group_by(Ballot.cast_on)
        ).all()
    )
    paper_ballots = (
        paper_ballot_rows(round_id, {e.project_id: e.project.slug for e in entries})
        if round_.paper_offered
        else None
    )
    result = publish_result(round_, entries, ballots, days, paper=paper_ballots)
    db.session.execute(sa.delete(BallotChoice).where(BallotChoice.round_id == round_id))
    db.session.execute(sa.delete(Ballot).where(Ballot.round_id == round_id))
    erase_paper(round_id)
    # The final result replaces the interim totals; the unpublished (lagging) snapshot goes
    # too, so nobody reading the database later can difference the result against it.
    forget_releases(totals_key(round_id))
    audit(
        actor, "round.closed", "priority_round", round_id,
        ballots=len(ballots), paper=len(paper_ballots or []),
    )  # fmt: skip
    db.session.commit()
    erase_dead_ballots()
    return result


def erase_dead_ballots() -> None:
    """Physically drop the deleted ballot rows (PostgreSQL keeps them as dead tuples).

    A deleted row on PostgreSQL still holds its bytes, user_id included, until the table is
    rewritten; autovacuum may never come for a small round, and a plain VACUUM only marks the
    space reusable. The close is already committed, so a failure here is logged and the next
    close (or `flask rounds close-due`) rewrites again.
    """
    try:
        rewrite_tables(*CLOSE_REWRITES)
    except sa.exc.SQLAlchemyError:
        log.exception("Rewriting the ballot tables failed; dead rows stay until the next close.")


def publish_result(
    round_: PriorityRound,
    entries: list[RoundProject],
    ballots: list[dict[str, int]],
    days: Mapping[dt.date, int],
    *,
    paper: list[dict[str, int]] | None = None,
) -> RoundResult:
    """Write the shuffled ballot file, its hash and the computed results (no commit).

    With `paper` (a round that offers paper, even if none came back) the file carries the
    channels. Each ballot is marked with its channel only when every channel that has ballots
    has at least k: two paper sheets marked as such could be read off by whoever knows who
    voted at the counter.
    """
    k = current_app.config["ROUND_MIN_GROUP_SIZE"]
    if paper is None:
        secrets.SystemRandom().shuffle(ballots)
        text = ballot_file_text(round_, entries, ballots)
    else:
        pairs = [("online", b) for b in ballots] + [("paper", b) for b in paper]
        secrets.SystemRandom().shuffle(pairs)
        mark = all(count == 0 or count >= k for count in (len(ballots), len(paper)))
        text = ballot_file_text(
            round_, entries, [b for _c, b in pairs], [c for c, _b in pairs], mark_channels=mark
        )
    results = compute_results(
        text,
        samples=current_app.config["ROUND_BOOTSTRAP_SAMPLES"],
        min_group_size=k,
    )
    ordered = sorted(days)
    hidden = hidden_cells([days[day] for day in ordered], k)
    participation = [
        {"day": day.isoformat(), "ballots": None if secret else days[day]}
        for day, secret in zip(ordered, hidden, strict=True)
    ]
    result = RoundResult(
        round_id=round_.id,
        results=json.dumps(results, ensure_ascii=False, sort_keys=True),
        participation=json.dumps(participation),
        ballot_file=text,
        ballot_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )
    db.session.add(result)
    db.session.flush()
    return result
