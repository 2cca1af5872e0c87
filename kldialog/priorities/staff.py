"""Staff manage rounds: create, change (frozen after the first ballot), publish."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from kldialog.auth.models import User
from kldialog.kernel.audit import audit
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.time import as_utc, utcnow
from kldialog.priorities.models import (
    Ballot,
    Method,
    PaperBallot,
    PriorityRound,
    RoundProject,
    RoundState,
)
from kldialog.projects.models import Category, Project, Status, Visibility
from kldialog.windows.models import Eligibility


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
    # Optional English texts; None shows the German ones on English pages.
    title_en: str | None = None
    explanation_en: str | None = None
    paper_offered: bool = False
    paper_until: dt.datetime | None = None


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
    return bool(
        db.session.scalar(
            sa.select(
                sa.exists().where(Ballot.round_id == round_.id)
                | sa.exists().where(PaperBallot.round_id == round_.id)
            )
        )
    )


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
    _check_paper(fields, round_)
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


def _check_paper(fields: RoundFields, round_: PriorityRound | None) -> None:
    """Check the paper rules: a deadline after the opening when offered, none otherwise."""
    if not fields.paper_offered:
        fields.paper_until = None
        counted = round_ is not None and db.session.scalar(
            sa.select(sa.exists().where(PaperBallot.round_id == round_.id))
        )
        if counted:
            raise RuleViolation(
                _l("Paper ballots have been counted, so paper cannot be switched off."),
                field="paper_offered",
            )
        return
    if fields.paper_until is None:
        raise RuleViolation(
            _l("Please enter until when paper sheets are accepted."), field="paper_until"
        )
    fields.paper_until = as_utc(fields.paper_until)
    if fields.paper_until <= fields.opens_at:
        raise RuleViolation(
            _l("Paper sheets can be accepted only until a time after the opening."),
            field="paper_until",
        )


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
    round_.title_en = fields.title_en or None
    round_.explanation_en = fields.explanation_en or None
    round_.eligibility = fields.eligibility
    round_.show_running_totals = fields.show_running_totals
    round_.opens_at = fields.opens_at
    round_.closes_at = fields.closes_at
    round_.paper_offered = fields.paper_offered
    round_.paper_until = fields.paper_until
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
