"""Reading rounds: lists, a round's projects, the ballot in an order random per person."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app

from kldialog.kernel.db import db
from kldialog.kernel.time import utcnow
from kldialog.priorities.models import (
    Ballot,
    BallotChoice,
    PriorityRound,
    RoundProject,
    RoundState,
)
from kldialog.projects.models import Category, Project


def get_round(round_id: int) -> PriorityRound | None:
    """Return a round by id."""
    return db.session.get(PriorityRound, round_id)


def public_rounds() -> list[PriorityRound]:
    """Return published rounds, newest window first, each with `project_count` (two queries)."""
    rounds = list(
        db.session.scalars(
            sa.select(PriorityRound)
            .where(PriorityRound.state == RoundState.published)
            .order_by(PriorityRound.closes_at.desc(), PriorityRound.id.desc())
        )
    )
    counts = dict(
        db.session.execute(
            sa.select(RoundProject.round_id, sa.func.count())
            .where(RoundProject.round_id.in_([r.id for r in rounds]))
            .group_by(RoundProject.round_id)
        ).all()
    )
    for round_ in rounds:
        round_.project_count = counts.get(round_.id, 0)
    return rounds


def all_rounds() -> list[PriorityRound]:
    """Return every round for the staff list, newest first."""
    return list(
        db.session.scalars(
            sa.select(PriorityRound).order_by(PriorityRound.created_at.desc(), PriorityRound.id)
        )
    )


def open_rounds_for_project(project: Project) -> list[PriorityRound]:
    """Return the open rounds whose ballot includes this project (one query)."""
    now = utcnow()
    return list(
        db.session.scalars(
            sa.select(PriorityRound)
            .join(RoundProject, RoundProject.round_id == PriorityRound.id)
            .where(
                RoundProject.project_id == project.id,
                PriorityRound.state == RoundState.published,
                PriorityRound.opens_at <= now,
                PriorityRound.closes_at > now,
            )
            .order_by(PriorityRound.closes_at)
        )
    )


def round_entries(round_: PriorityRound) -> list[RoundProject]:
    """Return the round's projects with project and category loaded (one query)."""
    return list(
        db.session.scalars(
            sa.select(RoundProject)
            .where(RoundProject.round_id == round_.id)
            .join(RoundProject.project)
            .options(sa.orm.contains_eager(RoundProject.project).joinedload(Project.category))
            .order_by(Project.title)
        ).unique()
    )


def _order_key(*parts: object) -> str:
    """Return a per-person pseudo-random sort key (stable, not guessable without the key)."""
    key = current_app.config["SECRET_KEY"].encode()
    message = ":".join(str(part) for part in parts).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass
class BallotGroup:
    """A category block on the ballot with its projects in the person's order."""

    category: Category
    entries: list[RoundProject]


def ballot_groups(
    round_: PriorityRound, entries: list[RoundProject], user: Any
) -> list[BallotGroup]:
    """Group the ballot by category, categories and projects in an order random per person.

    A fixed order favours whatever comes first; a fresh order on every page view would make
    changing one's ballot confusing. So the order is random per person but stable for them.
    Visitors without an account see the alphabetical order.
    """
    person = getattr(user, "id", None) if getattr(user, "is_authenticated", False) else None
    groups: dict[int, BallotGroup] = {}
    for entry in entries:
        category = entry.project.category
        groups.setdefault(category.id, BallotGroup(category, [])).entries.append(entry)
    result = list(groups.values())
    if person is None:
        result.sort(key=lambda group: group.category.name)
        return result
    result.sort(key=lambda group: _order_key("category", round_.id, person, group.category.id))
    for group in result:
        group.entries.sort(
            key=lambda entry: _order_key("project", round_.id, person, entry.project_id)
        )
    return result


def current_choices(round_: PriorityRound, user: Any) -> dict[int, int] | None:
    """Return the person's ballot as {project_id: points}, or None without a ballot."""
    if not getattr(user, "is_authenticated", False):
        return None
    rows = db.session.execute(
        sa.select(Ballot.id, BallotChoice.project_id, BallotChoice.points)
        .outerjoin(BallotChoice, BallotChoice.ballot_id == Ballot.id)
        .where(Ballot.round_id == round_.id, Ballot.user_id == user.id)
    ).all()
    if not rows:
        return None
    return {project_id: points for _id, project_id, points in rows if project_id is not None}
