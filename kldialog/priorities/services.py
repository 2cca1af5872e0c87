"""Priority round use cases: manage rounds, cast and withdraw ballots, close, recount, rate.

Privacy: while a round is open a ballot row names its person (needed for "one ballot per
person" and "change until close"). Closing writes the ballot contents, shuffled and without
ids or times, into the published ballot file and deletes the ballot rows in the same
transaction; from then on nothing links a person to what they chose.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite

from kldialog.auth.models import User
from kldialog.kernel.audit import audit
from kldialog.kernel.db import db, rewrite_tables
from kldialog.kernel.disclosure import Release, contribute, forget_releases, hidden_cells
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.stats import (
    MeanEstimate,
    mean_interval,
    tiers_from_rank_intervals,
    wilson_interval,
)
from kldialog.kernel.time import as_utc, utcnow
from kldialog.priorities.models import (
    Ballot,
    BallotChoice,
    Eligibility,
    Indicator,
    Method,
    PriorityRound,
    ProjectRating,
    RoundProject,
    RoundResult,
    RoundState,
)
from kldialog.projects.models import Category, Project, Status, Visibility

BALLOT_FORMAT = "kldialog-ballots-1"
# Tables whose dead rows a close leaves behind: deleted ballots name their person, and the
# old versions of the running totals (counters and releases) would replay them one by one.
CLOSE_REWRITES = (
    "ballot",
    "ballot_choice",
    "round_project",
    "priority_round",
    "disclosure_release",
)

log = logging.getLogger(__name__)


# --- reading rounds ------------------------------------------------------------------------


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


# --- staff: managing rounds ---------------------------------------------------------------


@dataclass
class RoundFields:
    """What staff set on a round."""

    title: str
    explanation: str
    method: Method
    max_choices: int
    budget: int
    max_per_project: int
    eligibility: Eligibility
    show_running_totals: bool
    opens_at: dt.datetime
    closes_at: dt.datetime
    project_ids: list[int]


def default_project_ids() -> list[int]:
    """Return the published projects that are planned or in progress (the usual ballot)."""
    return list(
        db.session.scalars(
            sa.select(Project.id).where(
                Project.state == Visibility.published,
                Project.status.in_([Status.planned, Status.in_progress]),
            )
        )
    )


def ballot_candidates() -> list[Project]:
    """Return the published projects staff may put on a ballot, by category and title."""
    return list(
        db.session.scalars(
            sa.select(Project)
            .join(Project.category)
            .options(sa.orm.contains_eager(Project.category))
            .where(Project.state == Visibility.published)
            .order_by(Category.name, Project.title)
        )
    )


def is_frozen(round_: PriorityRound) -> bool:
    """Return whether method and project list can no longer change (a ballot was cast)."""
    if round_.ballot_count > 0 or round_.result is not None:
        return True
    return db.session.scalar(sa.select(sa.exists().where(Ballot.round_id == round_.id))) or False


def _check_fields(fields: RoundFields, round_: PriorityRound | None) -> None:
    """Raise RuleViolation for settings a database constraint would refuse less kindly."""
    fields.opens_at, fields.closes_at = as_utc(fields.opens_at), as_utc(fields.closes_at)
    if fields.closes_at <= fields.opens_at:
        raise RuleViolation(_l("The round must close after it opens."), field="closes_at")
    if fields.closes_at <= utcnow() and (round_ is None or not round_.is_closed()):
        raise RuleViolation(_l("The closing time must be in the future."), field="closes_at")
    if fields.method == Method.points and fields.max_per_project > fields.budget:
        raise RuleViolation(
            _l("The maximum per project cannot be more than the points to distribute."),
            field="max_per_project",
        )
    if not fields.project_ids:
        raise RuleViolation(_l("Choose at least two projects for the ballot."), field="projects")
    published = set(
        db.session.scalars(
            sa.select(Project.id).where(
                Project.id.in_(fields.project_ids), Project.state == Visibility.published
            )
        )
    )
    if published != set(fields.project_ids):
        raise RuleViolation(_l("Only published projects can be on a ballot."), field="projects")
    if len(published) < 2:
        raise RuleViolation(_l("Choose at least two projects for the ballot."), field="projects")


def create_round(actor: User, fields: RoundFields) -> PriorityRound:
    """Create a round as a draft (residents see it only once published)."""
    _check_fields(fields, None)
    round_ = PriorityRound(state=RoundState.draft)
    _apply(round_, fields, frozen=False)
    db.session.add(round_)
    db.session.flush()
    audit(actor, "round.created", "priority_round", round_.id, title=round_.title)
    db.session.commit()
    return round_


def update_round(actor: User, round_: PriorityRound, fields: RoundFields) -> PriorityRound:
    """Change a round; method, its numbers and the projects freeze with the first ballot."""
    if round_.is_closed():
        raise RuleViolation(_l("A closed round cannot be changed any more."))
    frozen = is_frozen(round_)
    if frozen:
        current = {entry.project_id for entry in round_.entries}
        if (
            fields.method != round_.method
            or set(fields.project_ids) != current
            or (fields.max_choices, fields.budget, fields.max_per_project)
            != (round_.max_choices, round_.budget, round_.max_per_project)
        ):
            raise RuleViolation(
                _l(
                    "Ballots have been cast, so the method and the projects are frozen. "
                    "Only title, explanation, window and visibility of totals can change."
                )
            )
    _check_fields(fields, round_)
    _apply(round_, fields, frozen=frozen)
    audit(actor, "round.updated", "priority_round", round_.id, title=round_.title)
    db.session.commit()
    return round_


def _apply(round_: PriorityRound, fields: RoundFields, *, frozen: bool) -> None:
    round_.title = fields.title
    round_.explanation = fields.explanation
    round_.eligibility = fields.eligibility
    round_.show_running_totals = fields.show_running_totals
    round_.opens_at = fields.opens_at
    round_.closes_at = fields.closes_at
    if frozen:
        return
    round_.method = fields.method
    round_.max_choices = fields.max_choices
    round_.budget = fields.budget
    round_.max_per_project = fields.max_per_project
    wanted = set(fields.project_ids)
    round_.entries = [entry for entry in round_.entries if entry.project_id in wanted]
    have = {entry.project_id for entry in round_.entries}
    round_.entries.extend(RoundProject(project_id=pid) for pid in sorted(wanted - have))


def publish_round(actor: User, round_: PriorityRound) -> None:
    """Make a draft round visible; it accepts ballots from its opening time."""
    if round_.state == RoundState.published:
        return
    if round_.closes_at <= utcnow():
        raise RuleViolation(_l("The closing time has passed; move it into the future first."))
    round_.state = RoundState.published
    audit(actor, "round.published", "priority_round", round_.id, title=round_.title)
    db.session.commit()


# --- voting ----------------------------------------------------------------------------------


class BallotRejected(RuleViolation):
    """A ballot broke the round's rules; `projects` holds the messages for single projects."""

    def __init__(self, message: object, projects: Mapping[int, str] | None = None) -> None:
        """Keep the general message and the per-project ones (shown next to their fields)."""
        super().__init__(message, field="ballot")
        self.projects = dict(projects or {})


def check_ballot(
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


def _insert_ignore(table: sa.Table, values: dict[str, Any]) -> sa.Executable:
    """Return INSERT … ON CONFLICT DO NOTHING for the current database."""
    dialect = db.engine.dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).values(**values).on_conflict_do_nothing()


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
    table = RoundProject.__table__
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
            _insert_ignore(
                Ballot.__table__, {"round_id": round_id, "user_id": user_id, "cast_on": today}
            ).returning(Ballot.__table__.c.id)
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
    _count_ballot_change(round_id)
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
    _remove_ballot(round_.id, ballot_id)
    _refuse_if_closed(round_)
    db.session.commit()
    db.session.expire(round_)
    return True


def _remove_ballot(round_id: int, ballot_id: int) -> None:
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
    _count_ballot_change(round_id)


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
        _remove_ballot(round_id, ballot_id)
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


# --- closing and results -------------------------------------------------------------------


def rounds_due() -> list[PriorityRound]:
    """Return published rounds whose window has ended but that have no result yet."""
    return list(
        db.session.scalars(
            sa.select(PriorityRound)
            .outerjoin(RoundResult, RoundResult.round_id == PriorityRound.id)
            .where(
                PriorityRound.state == RoundState.published,
                PriorityRound.closes_at <= utcnow(),
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
    result = publish_result(round_, entries, ballots, days)
    db.session.execute(sa.delete(BallotChoice).where(BallotChoice.round_id == round_id))
    db.session.execute(sa.delete(Ballot).where(Ballot.round_id == round_id))
    forget_releases(totals_key(round_id))  # the final result replaces the interim totals
    audit(actor, "round.closed", "priority_round", round_id, ballots=len(ballots))
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
) -> RoundResult:
    """Write the shuffled ballot file, its hash and the computed results (no commit)."""
    secrets.SystemRandom().shuffle(ballots)
    text = ballot_file_text(round_, entries, ballots)
    k = current_app.config["ROUND_MIN_GROUP_SIZE"]
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


def ballot_file_text(
    round_: PriorityRound, entries: list[RoundProject], ballots: list[dict[str, int]]
) -> str:
    """Return the published ballot file: rules, projects, then one anonymous ballot per line.

    No ids, no times, no order that means anything: the ballots were shuffled by the caller.
    Everything a recount needs is in the file itself.
    """
    header = {
        "format": BALLOT_FORMAT,
        "round": {
            "title": round_.title,
            "method": round_.method.value,
            "max_choices": round_.max_choices,
            "budget": round_.budget,
            "max_per_project": round_.max_per_project,
            "closes_at": round_.closes_at.replace(tzinfo=round_.closes_at.tzinfo or dt.UTC)
            .astimezone(dt.UTC)
            .isoformat(timespec="minutes"),
        },
        "projects": [
            {
                "key": entry.project.slug,
                "title": entry.project.title,
                "category": entry.project.category.name,
            }
            for entry in sorted(entries, key=lambda entry: entry.project.slug)
        ],
    }
    head = json.dumps(header, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    lines = [json.dumps(b, sort_keys=True, separators=(",", ":")) for b in ballots]
    body = ",\n".join(lines)
    return head[:-1] + ',"ballots":[\n' + body + ("\n" if lines else "") + "]}\n"


class BallotFileError(ValueError):
    """The ballot file is not one KL.dialog published (or was changed)."""


def read_ballot_file(text: str) -> dict[str, Any]:
    """Parse and check a ballot file; raise BallotFileError saying what is wrong."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise BallotFileError(f"not JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") != BALLOT_FORMAT:
        raise BallotFileError(f"not a {BALLOT_FORMAT} file")
    rules = document.get("round")
    projects = document.get("projects")
    ballots = document.get("ballots")
    if (
        not isinstance(rules, dict)
        or not isinstance(projects, list)
        or not isinstance(ballots, list)
    ):
        raise BallotFileError("the file needs 'round', 'projects' and 'ballots'")
    if rules.get("method") not in {m.value for m in Method}:
        raise BallotFileError("unknown method")
    keys = [p.get("key") for p in projects if isinstance(p, dict)]
    if len(keys) != len(projects) or len(set(keys)) != len(keys):
        raise BallotFileError("projects need unique keys")
    known = set(keys)
    for number, ballot in enumerate(ballots, start=1):
        if not isinstance(ballot, dict) or not ballot:
            raise BallotFileError(f"ballot {number} is empty or not an object")
        for key, points in ballot.items():
            if key not in known:
                raise BallotFileError(f"ballot {number} names unknown project {key!r}")
            if not isinstance(points, int) or isinstance(points, bool) or points < 1:
                raise BallotFileError(f"ballot {number} gives {points!r} to {key!r}")
    return document


def compute_results(text: str, *, samples: int = 200, min_group_size: int = 5) -> dict[str, Any]:
    """Compute a round's published results from its ballot file alone (also used to recount).

    Shares get Wilson 95 % intervals. Ranks get bootstrap 95 % intervals: the ballots are
    resampled with Poisson(1) weights `samples` times, with a random generator seeded from the
    file's SHA-256, so anyone recounting the same file gets exactly the same tiers.
    """
    document = read_ballot_file(text)
    method = Method(document["round"]["method"])
    projects = document["projects"]
    ballots = document["ballots"]
    index = {project["key"]: i for i, project in enumerate(projects)}
    n, p = len(ballots), len(projects)
    matrix = np.zeros((n, p), dtype=np.float64)
    for row, ballot in enumerate(ballots):
        for key, points in ballot.items():
            matrix[row, index[key]] = points
    supporters = (matrix > 0).sum(axis=0).astype(int)
    points = matrix.sum(axis=0).astype(int)
    metric = supporters if method == Method.approval else points
    summary: dict[str, Any] = {
        "format": BALLOT_FORMAT,
        "method": method.value,
        "n": n,
        "min_group_size": min_group_size,
        "suppressed": n < min_group_size,
        "bootstrap_samples": samples,
        "projects": [],
        "categories": [],
    }
    if n < min_group_size:
        # With so few ballots, shares would tell who chose what; publish the count only.
        return summary
    ranks = 1 + (metric[None, :] > metric[:, None]).sum(axis=1)
    low, high = _bootstrap_rank_intervals(matrix, method, samples, text)
    order = sorted(range(p), key=lambda j: (-metric[j], projects[j]["title"], projects[j]["key"]))
    tiers = tiers_from_rank_intervals([(int(low[j]), int(high[j])) for j in order])
    for position, j in enumerate(order):
        share_low, share_high = wilson_interval(int(supporters[j]), n)
        summary["projects"].append(
            {
                "key": projects[j]["key"],
                "title": projects[j]["title"],
                "category": projects[j]["category"],
                "supporters": int(supporters[j]),
                "points": int(points[j]),
                "share": round(int(supporters[j]) / n, 6),
                "share_low": round(share_low, 6),
                "share_high": round(share_high, 6),
                "rank": int(ranks[j]),
                "rank_low": int(low[j]),
                "rank_high": int(high[j]),
                "tier": tiers[position],
            }
        )
    categories: dict[str, list[int]] = {}
    for j, project in enumerate(projects):
        categories.setdefault(project["category"], []).append(j)
    for name, columns in categories.items():
        reached = int((matrix[:, columns] > 0).any(axis=1).sum())
        share_low, share_high = wilson_interval(reached, n)
        summary["categories"].append(
            {
                "category": name,
                "ballots": reached,
                "points": int(points[columns].sum()),
                "supporters": int(supporters[columns].sum()),
                "share": round(reached / n, 6),
                "share_low": round(share_low, 6),
                "share_high": round(share_high, 6),
            }
        )
    summary["categories"].sort(key=lambda c: (-c["ballots"], c["category"]))
    return summary


def _bootstrap_rank_intervals(
    matrix: np.ndarray, method: Method, samples: int, text: str
) -> tuple[np.ndarray, np.ndarray]:
    """Return the 2.5 % and 97.5 % bootstrap quantiles of every project's rank."""
    n, p = matrix.shape
    values = (matrix > 0).astype(np.float64) if method == Method.approval else matrix
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
    generator = np.random.Generator(np.random.PCG64(seed))
    rank_samples = np.empty((samples, p), dtype=np.int32)
    chunk = max(1, min(samples, 2_000_000 // max(n, 1)))  # keep the weight matrix small
    done = 0
    while done < samples:
        size = min(chunk, samples - done)
        weights = generator.poisson(1.0, size=(size, n)).astype(np.float64)
        totals = weights @ values  # (size, p): each project's total in each resample
        rank_samples[done : done + size] = 1 + (totals[:, None, :] > totals[:, :, None]).sum(axis=2)
        done += size
    low = np.quantile(rank_samples, 0.025, axis=0, method="lower")
    high = np.quantile(rank_samples, 0.975, axis=0, method="higher")
    return low, high


def round_result_data(result: RoundResult) -> dict[str, Any]:
    """Return the stored results and participation of a closed round."""
    data = json.loads(result.results)
    data["participation"] = json.loads(result.participation)
    return data


def results_csv_rows(data: Mapping[str, Any]) -> list[list[Any]]:
    """Return the aggregated results as CSV rows (header first)."""
    rows: list[list[Any]] = [
        [
            "tier",
            "rank_low",
            "rank_high",
            "project",
            "category",
            "supporters",
            "points",
            "share",
            "share_low_95",
            "share_high_95",
            "n",
        ]
    ]
    for project in data["projects"]:
        rows.append(
            [
                project["tier"],
                project["rank_low"],
                project["rank_high"],
                project["title"],
                project["category"],
                project["supporters"],
                project["points"],
                project["share"],
                project["share_low"],
                project["share_high"],
                data["n"],
            ]
        )
    return rows


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


def _ensure_release_row(key: str) -> None:
    """Create an empty release row once, so parallel first contributions do not collide."""
    db.session.execute(
        _insert_ignore(Release.__table__, {"key": key, "pending": 0, "epsilon_spent": 0.0})
    )


def _totals_snapshot(round_id: int) -> tuple[int, dict[str, Any]]:
    """Return (ballots, {project_id: [supporters, points]}) as this transaction sees them."""
    n = db.session.scalar(sa.select(PriorityRound.ballot_count).where(PriorityRound.id == round_id))
    rows = db.session.execute(
        sa.select(RoundProject.project_id, RoundProject.supporters, RoundProject.points).where(
            RoundProject.round_id == round_id
        )
    ).all()
    return int(n or 0), {"totals": {str(pid): [s, p] for pid, s, p in rows}}


def _count_ballot_change(round_id: int) -> None:
    """Count a cast, changed or withdrawn ballot towards the next release of the totals.

    Counted whether or not the totals are shown, so that staff switching them on mid-round
    publish a release that is at least k ballot changes away from any other one.
    """
    key = totals_key(round_id)
    _ensure_release_row(key)
    contribute(key, current_app.config["ROUND_MIN_GROUP_SIZE"], lambda: _totals_snapshot(round_id))


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


# --- indicator ratings ---------------------------------------------------------------------


def rating_key(project_id: int, indicator: Indicator) -> str:
    """Return the release key of one indicator's ratings of a project."""
    return f"rating:{project_id}:{indicator.value}"


def _rating_snapshot(project_id: int, indicator: Indicator) -> tuple[int, dict[str, Any]]:
    """Return (n, {"counts": {score: count}}) of an indicator's ratings of a project."""
    rows = db.session.execute(
        sa.select(ProjectRating.score, sa.func.count())
        .where(ProjectRating.project_id == project_id, ProjectRating.indicator == indicator)
        .group_by(ProjectRating.score)
    ).all()
    return sum(count for _s, count in rows), {"counts": {str(s): c for s, c in rows}}


def _count_rating_change(project_id: int, indicator: Indicator) -> None:
    """Count a new, changed or removed rating towards the next release of its mean."""
    key = rating_key(project_id, indicator)
    _ensure_release_row(key)
    contribute(
        key,
        current_app.config["RATING_MIN_GROUP_SIZE"],
        lambda: _rating_snapshot(project_id, indicator),
    )


def rate_project(user: User, project: Project, scores: Mapping[Indicator, int | None]) -> None:
    """Store or change the person's ratings of a project (None removes that rating).

    Every real change counts towards the next release of that indicator's mean: the page
    shows the release, which moves only after at least k changes (see rating_summaries).
    """
    for indicator, score in scores.items():
        if score is not None and not (isinstance(score, int) and 1 <= score <= 5):
            raise RuleViolation(_l("Choose a value from 1 to 5."), field=indicator.value)
    before = my_ratings(user, project)
    today = utcnow().date()
    for indicator, score in sorted(scores.items()):
        if before.get(indicator) == score:
            continue
        db.session.execute(
            sa.delete(ProjectRating).where(
                ProjectRating.project_id == project.id,
                ProjectRating.user_id == user.id,
                ProjectRating.indicator == indicator,
            )
        )
        if score is not None:
            db.session.add(
                ProjectRating(
                    project_id=project.id,
                    user_id=user.id,
                    indicator=indicator,
                    score=score,
                    rated_on=today,
                )
            )
        db.session.flush()
        _count_rating_change(project.id, indicator)
    db.session.commit()


def my_ratings(user: Any, project: Project) -> dict[Indicator, int]:
    """Return the person's current ratings of a project."""
    if not getattr(user, "is_authenticated", False):
        return {}
    return dict(
        db.session.execute(
            sa.select(ProjectRating.indicator, ProjectRating.score).where(
                ProjectRating.project_id == project.id, ProjectRating.user_id == user.id
            )
        ).all()
    )


@dataclass(frozen=True)
class RatingSummary:
    """An indicator's aggregate on a project; estimate is None while n is below k."""

    indicator: Indicator
    n: int
    estimate: MeanEstimate | None


def rating_summaries(project_ids: list[int]) -> dict[int, dict[Indicator, RatingSummary]]:
    """Return every project's released rating aggregates (one query), hidden below k.

    Never the live ratings: a mean with its n read before and after one new rating would
    give that rating exactly. A release is made only after at least k ratings were added,
    changed or removed since the previous one (kernel.disclosure.contribute), and only
    when at least k people have rated.
    """
    k = current_app.config["RATING_MIN_GROUP_SIZE"]
    keys = {
        rating_key(pid, indicator): (pid, indicator)
        for pid in project_ids
        for indicator in Indicator
    }
    releases = {
        release.key: release
        for release in (
            db.session.scalars(sa.select(Release).where(Release.key.in_(list(keys))))
            if keys
            else []
        )
    }
    summaries: dict[int, dict[Indicator, RatingSummary]] = {pid: {} for pid in project_ids}
    for key, (project_id, indicator) in keys.items():
        release = releases.get(key)
        if release is None or release.payload is None or (release.n or 0) < k:
            summaries[project_id][indicator] = RatingSummary(indicator, 0, None)
            continue
        counts = {int(score): count for score, count in release.payload["counts"].items()}
        summaries[project_id][indicator] = RatingSummary(
            indicator, release.n or 0, mean_interval(counts)
        )
    return summaries


def erase_ratings(user: User) -> None:
    """Delete the person's ratings (account deletion; no commit); each counts as a change."""
    rated = db.session.execute(
        sa.select(ProjectRating.project_id, ProjectRating.indicator).where(
            ProjectRating.user_id == user.id
        )
    ).all()
    db.session.execute(sa.delete(ProjectRating).where(ProjectRating.user_id == user.id))
    for project_id, indicator in sorted(rated):
        _count_rating_change(project_id, indicator)


def ratings_of(user: User) -> list[dict[str, Any]]:
    """Return the person's ratings for the data export (one query)."""
    rows = db.session.execute(
        sa.select(
            Project.title, ProjectRating.indicator, ProjectRating.score, ProjectRating.rated_on
        )
        .join(Project, Project.id == ProjectRating.project_id)
        .where(ProjectRating.user_id == user.id)
        .order_by(Project.title, ProjectRating.indicator)
    ).all()
    return [
        {"project": title, "indicator": indicator.value, "score": score, "rated_on": on.isoformat()}
        for title, indicator, score, on in rows
    ]
