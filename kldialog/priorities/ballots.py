"""Casting, changing and withdrawing ballots: the one place a ballot's rules are checked."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from kldialog.auth.models import User
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.time import utcnow
from kldialog.priorities.models import (
    Ballot,
    BallotChoice,
    Method,
    PriorityRound,
    RoundProject,
    RoundResult,
)
from kldialog.priorities.releases import insert_ignore
from kldialog.priorities.totals import count_ballot_change
from kldialog.projects.models import Project


class BallotRejected(RuleViolation):
    """A ballot broke the round's rules; `projects` holds the messages for single projects."""

    def __init__(self, message: object, projects: Mapping[int, str] | None = None) -> None:
        """Keep the general message and the per-project ones (shown next to their fields)."""
        super().__init__(message, field="ballot")
        self.projects = dict(projects or {})


def check_ballot(  # noqa: C901  (every rule of a ballot in one place, on purpose)
    round_: PriorityRound, submitted: Mapping[int, int | None], allowed: Iterable[int]
) -> dict[int, int]:
    """Return the ballot's choices ({project_id: points >= 1}) or raise BallotRejected.

    The one place a ballot's rules live. `submitted` maps project ids to points as read from
    the form: 0 means "nothing for this project", None "not a whole number of 0 or more".
    Ids that are not on this round's ballot are refused unless they carry nothing.
    """
    allowed = set(allowed)
    per_project: dict[int, str] = {}
    general: str | None = None
    choices: dict[int, int] = {}
    for project_id, points in submitted.items():
        if project_id not in allowed:
            if points != 0:
                general = str(_l("The ballot names a project that is not part of this round."))
            continue
        if points is None or isinstance(points, bool) or not isinstance(points, int) or points < 0:
            per_project[project_id] = str(_l("Please enter a whole number of points, 0 or more."))
        elif round_.method == Method.approval and points > 1:
            general = str(_l("Support a project or leave it out."))
        elif round_.method == Method.points and points > round_.max_per_project:
            per_project[project_id] = str(
                _l("At most %(limit)d points per project.", limit=round_.max_per_project)
            )
        elif points > 0:
            choices[project_id] = points
    if general is not None or per_project:
        raise BallotRejected(general or next(iter(per_project.values())), per_project)
    if not choices:
        if round_.method == Method.approval:
            raise BallotRejected(_l("Choose at least one project."))
        raise BallotRejected(_l("Give at least one point to a project."))
    if round_.method == Method.approval and len(choices) > round_.max_choices:
        raise BallotRejected(
            _l(
                "You chose %(count)d projects; at most %(limit)d are allowed.",
                count=len(choices),
                limit=round_.max_choices,
            )
        )
    total = sum(choices.values())
    if round_.method == Method.points and total > round_.budget:
        raise BallotRejected(
            _l(
                "You gave %(total)d points; you have %(budget)d. Please take away %(over)d.",
                total=total,
                budget=round_.budget,
                over=total - round_.budget,
            )
        )
    return choices


def _lock_own_ballot(round_: PriorityRound, user: User) -> int | None:
    """Return the person's ballot id, locked for this transaction (PostgreSQL), or None."""
    return db.session.scalar(
        sa.select(Ballot.id)
        .where(Ballot.round_id == round_.id, Ballot.user_id == user.id)
        .with_for_update()
    )


def _apply_totals(round_id: int, old: Mapping[int, int], new: Mapping[int, int]) -> None:
    """Move the running totals from the old to the new ballot, in a fixed lock order."""
    changes = []
    for project_id in sorted(set(old) | set(new)):
        supporters = (project_id in new) - (project_id in old)
        points = new.get(project_id, 0) - old.get(project_id, 0)
        if supporters or points:
            changes.append({"r": round_id, "p": project_id, "s": supporters, "n": points})
    if not changes:
        return
    table = db.metadata.tables[RoundProject.__tablename__]
    db.session.execute(
        table.update()
        .where(table.c.round_id == sa.bindparam("r"), table.c.project_id == sa.bindparam("p"))
        .values(
            supporters=table.c.supporters + sa.bindparam("s"),
            points=table.c.points + sa.bindparam("n"),
        ),
        changes,
    )


def _refuse_if_closed(round_: PriorityRound) -> None:
    """Raise unless the round still takes ballots, re-checked after this transaction's writes.

    Closing locks the ballot tables and writes the result row; a ballot that was waiting for
    that lock sees the result row here and is rolled back, so no late ballot escapes the file.
    """
    closed = db.session.scalar(sa.select(sa.exists().where(RoundResult.round_id == round_.id)))
    if closed or not round_.is_open():
        db.session.rollback()
        raise RuleViolation(_l("This round is closed; ballots can no longer be changed."))


def cast_ballot(user: User, round_: PriorityRound, submitted: Mapping[int, int | None]) -> bool:
    """Store the person's ballot, replacing an earlier one; return whether it is their first.

    `submitted` is checked by check_ballot (BallotRejected says what is wrong). The cost is
    a fixed handful of statements on indexed rows, however many ballots exist.
    """
    if not round_.is_open():
        raise RuleViolation(_l("This round is not open for ballots."))
    round_id, user_id = round_.id, user.id
    allowed = set(
        db.session.scalars(
            sa.select(RoundProject.project_id).where(RoundProject.round_id == round_id)
        )
    )
    choices = check_ballot(round_, submitted, allowed)
    today = utcnow().date()
    # RETURNING tells reliably whether this statement created the row (rowcount does not on
    # every driver for ON CONFLICT DO NOTHING).
    inserted = (
        db.session.execute(
            insert_ignore(
                db.metadata.tables[Ballot.__tablename__],
                {"round_id": round_id, "user_id": user_id, "cast_on": today},
            ).returning(db.metadata.tables[Ballot.__tablename__].c.id)
        ).first()
        is not None
    )
    ballot_id = _lock_own_ballot(round_, user)
    if ballot_id is None:  # pragma: no cover - the insert above guarantees a row
        db.session.rollback()
        raise RuleViolation(_l("The ballot could not be saved. Please try again."))
    old = dict(
        db.session.execute(
            sa.select(BallotChoice.project_id, BallotChoice.points).where(
                BallotChoice.ballot_id == ballot_id
            )
        ).all()
    )
    if inserted:
        db.session.execute(
            sa.update(PriorityRound)
            .where(PriorityRound.id == round_id)
            .values(ballot_count=PriorityRound.ballot_count + 1)
        )
    else:
        db.session.execute(sa.update(Ballot).where(Ballot.id == ballot_id).values(cast_on=today))
    db.session.execute(sa.delete(BallotChoice).where(BallotChoice.ballot_id == ballot_id))
    db.session.execute(
        sa.insert(BallotChoice),
        [
            {"ballot_id": ballot_id, "round_id": round_id, "project_id": pid, "points": points}
            for pid, points in sorted(choices.items())
        ],
    )
    _apply_totals(round_id, old, dict(choices))
    count_ballot_change(round_id, user.id)
    _refuse_if_closed(round_)
    db.session.commit()
    db.session.expire(round_)
    return inserted


def withdraw_ballot(user: User, round_: PriorityRound) -> bool:
    """Delete the person's ballot while the round is open; return whether there was one."""
    if not round_.is_open():
        raise RuleViolation(_l("This round is closed; ballots can no longer be changed."))
    ballot_id = _lock_own_ballot(round_, user)
    if ballot_id is None:
        db.session.rollback()
        return False
    _remove_ballot(round_.id, ballot_id, user.id)
    _refuse_if_closed(round_)
    db.session.commit()
    db.session.expire(round_)
    return True


def _remove_ballot(round_id: int, ballot_id: int, voter: int, *, remember: bool = True) -> None:
    old = dict(
        db.session.execute(
            sa.select(BallotChoice.project_id, BallotChoice.points).where(
                BallotChoice.ballot_id == ballot_id
            )
        ).all()
    )
    _apply_totals(round_id, old, {})
    db.session.execute(sa.delete(BallotChoice).where(BallotChoice.ballot_id == ballot_id))
    db.session.execute(sa.delete(Ballot).where(Ballot.id == ballot_id))
    db.session.execute(
        sa.update(PriorityRound)
        .where(PriorityRound.id == round_id)
        .values(ballot_count=PriorityRound.ballot_count - 1)
    )
    count_ballot_change(round_id, voter, remember=remember)


def withdraw_open_ballots(user: User) -> int:
    """Withdraw the person's ballots in rounds not yet closed (account deletion); no commit."""
    # A round whose window has ended keeps the ballot: it counts, and closing soon drops the
    # link to the (by then empty) account row anyway.
    rows = db.session.execute(
        sa.select(Ballot.round_id, Ballot.id)
        .join(PriorityRound, PriorityRound.id == Ballot.round_id)
        .where(Ballot.user_id == user.id, PriorityRound.closes_at > utcnow())
    ).all()
    for round_id, ballot_id in rows:
        # Counted once, but the release keeps no digest of a deleted account's id.
        _remove_ballot(round_id, ballot_id, user.id, remember=False)
    return len(rows)


def ballots_of(user: User) -> list[dict[str, Any]]:
    """Return the person's ballots in open rounds for the data export, one row per choice."""
    rows = db.session.execute(
        sa.select(PriorityRound.title, Project.title, BallotChoice.points, Ballot.cast_on)
        .join(Ballot, Ballot.round_id == PriorityRound.id)
        .join(BallotChoice, BallotChoice.ballot_id == Ballot.id)
        .join(Project, Project.id == BallotChoice.project_id)
        .where(Ballot.user_id == user.id)
        .order_by(PriorityRound.id, Project.title)
    ).all()
    return [
        {"round": title, "project": project, "points": points, "changed_on": on.isoformat()}
        for title, project, points, on in rows
    ]
