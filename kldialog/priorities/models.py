"""Priority rounds, ballots (person-linked only while a round is open), results, ratings."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from kldialog.kernel import double_entry  # noqa: F401  (registers entry_batch with the models)
from kldialog.kernel.db import Model, UTCDateTime, enum_column
from kldialog.kernel.time import utcnow
from kldialog.projects.models import Project
from kldialog.windows.models import Publication, WindowMixin


class Method(enum.StrEnum):
    """How a ballot is filled in."""

    approval = "approval"  # support up to K projects
    points = "points"  # distribute N points, at most M on one project


# The same enum as surveys' (windows.Publication); the name stays for its many callers.
RoundState = Publication


class Indicator(enum.StrEnum):
    """The council's two indicators every roadmap project is measured against."""

    benefit = "benefit"  # Mehrwert für Kaiserslautern und seine Bürger
    data_care = "data_care"  # sparsamer und verantwortlicher Umgang mit Daten


class PriorityRound(WindowMixin, Model):
    """A window in which residents set priorities among a fixed set of projects."""

    __tablename__ = "priority_round"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    explanation: Mapped[str] = mapped_column(sa.Text, default="")
    # English texts for the English pages; None means "not translated", shown in German.
    title_en: Mapped[str | None] = mapped_column(sa.String(200))
    explanation_en: Mapped[str | None] = mapped_column(sa.Text)
    method: Mapped[Method] = mapped_column(enum_column(Method, "method"))
    max_choices: Mapped[int] = mapped_column(default=5)  # approval: K
    budget: Mapped[int] = mapped_column(default=10)  # points: N
    max_per_project: Mapped[int] = mapped_column(default=3)  # points: M
    show_running_totals: Mapped[bool] = mapped_column(default=False)
    # Paper ballots: offered or not, and until when returned sheets are entered (UTC).
    # A server default too: rows inserted without it (bulk loaders, old scripts) get no paper.
    paper_offered: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    paper_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # opens_at, closes_at, eligibility and state come from WindowMixin.
    closes_at_index = True
    # Kept by the services (one UPDATE per ballot) so pages never count ballots.
    ballot_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    entries: Mapped[list[RoundProject]] = relationship(
        back_populates="round", cascade="all, delete-orphan", passive_deletes=True
    )
    result: Mapped[RoundResult | None] = relationship(
        back_populates="round", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        sa.CheckConstraint("length(title) > 0", name="title_not_empty"),
        sa.CheckConstraint("title_en IS NULL OR length(title_en) > 0", name="title_en_not_empty"),
        sa.CheckConstraint(
            "explanation_en IS NULL OR length(explanation_en) > 0",
            name="explanation_en_not_empty",
        ),
        sa.CheckConstraint("closes_at > opens_at", name="window_is_forward"),
        sa.CheckConstraint("max_choices BETWEEN 1 AND 100", name="max_choices_range"),
        sa.CheckConstraint("budget BETWEEN 1 AND 1000", name="budget_range"),
        sa.CheckConstraint(
            "max_per_project >= 1 AND max_per_project <= budget", name="max_per_project_range"
        ),
        sa.CheckConstraint("ballot_count >= 0", name="ballot_count_positive"),
        sa.CheckConstraint(
            "(paper_until IS NOT NULL) = paper_offered", name="paper_deadline_when_offered"
        ),
        sa.CheckConstraint(
            "paper_until IS NULL OR paper_until > opens_at", name="paper_deadline_after_opening"
        ),
    )

    # Filled by services.public_rounds for lists (not a column).
    project_count = 0

    def __repr__(self) -> str:
        return f"<PriorityRound {self.id} {self.method.value}>"


class RoundProject(Model):
    """A project on a round's ballot, with running totals kept by the services."""

    __tablename__ = "round_project"

    round_id: Mapped[int] = mapped_column(
        sa.ForeignKey("priority_round.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[int] = mapped_column(
        sa.ForeignKey("project.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    supporters: Mapped[int] = mapped_column(default=0)
    points: Mapped[int] = mapped_column(default=0)

    round: Mapped[PriorityRound] = relationship(back_populates="entries")
    project: Mapped[Project] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (
        sa.CheckConstraint("supporters >= 0", name="supporters_positive"),
        sa.CheckConstraint("points >= 0", name="points_positive"),
    )


class Ballot(Model):
    """One person's current ballot in an open round; deleted at close (the file keeps it)."""

    __tablename__ = "ballot"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("priority_round.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    # The day of the last change only: enough for "participation over time", nothing finer.
    cast_on: Mapped[dt.date] = mapped_column(sa.Date)

    choices: Mapped[list[BallotChoice]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        # One ballot per person per round: the database, not the code, guarantees it.
        sa.UniqueConstraint("round_id", "user_id", name="uq_ballot_round_id_user_id"),
    )


class BallotChoice(Model):
    """Support (points = 1) or points given to one project of the round on one ballot."""

    __tablename__ = "ballot_choice"

    ballot_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ballot.id", ondelete="CASCADE"), primary_key=True
    )
    round_id: Mapped[int] = mapped_column()
    project_id: Mapped[int] = mapped_column(primary_key=True)
    points: Mapped[int] = mapped_column()

    __table_args__ = (
        # Only projects that are on this round's ballot can receive anything.
        sa.ForeignKeyConstraint(
            ["round_id", "project_id"],
            ["round_project.round_id", "round_project.project_id"],
            name="fk_ballot_choice_round_project",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("points >= 1", name="points_positive"),
    )


class RoundResult(Model):
    """The frozen outcome of a closed round: results, the anonymous ballot file and its hash."""

    __tablename__ = "round_result"

    round_id: Mapped[int] = mapped_column(
        sa.ForeignKey("priority_round.id", ondelete="CASCADE"), primary_key=True
    )
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    results: Mapped[str] = mapped_column(sa.Text)  # JSON, read by every result page
    participation: Mapped[str] = mapped_column(sa.Text)  # JSON: k-suppressed ballots per day
    # Large (one line per ballot): loaded only for the download.
    ballot_file: Mapped[str] = deferred(mapped_column(sa.Text))
    ballot_sha256: Mapped[str] = mapped_column(sa.String(64))

    round: Mapped[PriorityRound] = relationship(back_populates="result")

    __table_args__ = (
        sa.CheckConstraint("length(ballot_sha256) = 64", name="ballot_sha256_is_hex"),
    )


class InvalidReason(enum.StrEnum):
    """Why a returned paper sheet does not count."""

    unclear = "unclear"  # the marks cannot be read with certainty
    rules = "rules"  # more projects or points than the rules allow
    blank = "blank"  # nothing marked
    no_code = "no_code"  # the ballot code is missing or unreadable
    other = "other"


class PaperCode(Model):
    """The keyed hash of a printed one-time ballot code; linked to no one. Deleted at close."""

    __tablename__ = "paper_code"

    code_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    round_id: Mapped[int] = mapped_column(
        sa.ForeignKey("priority_round.id", ondelete="CASCADE"), index=True
    )

    __table_args__ = (sa.CheckConstraint("length(code_hash) = 64", name="code_hash_is_hex"),)


class PaperBallot(Model):
    """A returned paper sheet whose two entries agreed: valid (choices) or invalid (reason).

    No batch, no time, no staff account: only what the ballot file needs. Deleted at close.
    """

    __tablename__ = "paper_ballot"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(
        sa.ForeignKey("priority_round.id", ondelete="CASCADE"), index=True
    )
    # Each code counts once: the database, not the code, guarantees it.
    code_hash: Mapped[str | None] = mapped_column(
        sa.ForeignKey("paper_code.code_hash", ondelete="CASCADE"), unique=True
    )
    choices: Mapped[dict[str, int] | None] = mapped_column(
        sa.JSON(none_as_null=True)
    )  # {id: points}
    invalid_reason: Mapped[InvalidReason | None] = mapped_column(
        enum_column(InvalidReason, "invalid_reason")
    )

    __table_args__ = (
        sa.CheckConstraint(
            "(invalid_reason IS NULL) = (choices IS NOT NULL)", name="valid_or_reason"
        ),
        sa.CheckConstraint(
            "invalid_reason IS NOT NULL OR code_hash IS NOT NULL", name="valid_needs_code"
        ),
    )


class ProjectRating(Model):
    """A resident's 1–5 rating of a project on one of the council's indicators (changeable)."""

    __tablename__ = "project_rating"

    project_id: Mapped[int] = mapped_column(
        sa.ForeignKey("project.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    indicator: Mapped[Indicator] = mapped_column(
        enum_column(Indicator, "indicator"), primary_key=True
    )
    score: Mapped[int] = mapped_column()
    rated_on: Mapped[dt.date] = mapped_column(sa.Date)

    __table_args__ = (sa.CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),)
