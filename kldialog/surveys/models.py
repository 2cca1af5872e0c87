"""Surveys: questions, the participation record, and anonymous answers with no link to a person.

Two separate worlds share this module. Survey, SurveySection, Question, Option and
SurveyParticipation (who took part, never what they said) are ordinary tables. StagedResponse,
SurveyResponse and SurveyAnswer hold what was said and nothing about who said it: random UUID
keys, no person, no timestamp, and on SQLite `WITHOUT ROWID`, so storage order follows the
random key instead of the order of writing. Staged answer sets are encrypted (surveys.sealing).
See docs/privacy.md, "Surveys".
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kldialog.auth.models import User
from kldialog.kernel.db import Model, UTCDateTime, db, enum_column
from kldialog.kernel.time import utcnow
from kldialog.windows.models import Publication, WindowMixin

# The same enum as rounds' (windows.Publication); the name stays for its many callers.
SurveyState = Publication


class QuestionKind(enum.StrEnum):
    """The question types the builder offers."""

    single = "single"
    multiple = "multiple"
    scale = "scale"
    ranking = "ranking"
    yes_no = "yes_no"
    short_text = "short_text"
    long_text = "long_text"


class Channel(enum.StrEnum):
    """How an answer set came in."""

    online = "online"
    paper = "paper"


CHOICE_KINDS = (QuestionKind.single, QuestionKind.multiple, QuestionKind.ranking)
TEXT_KINDS = (QuestionKind.short_text, QuestionKind.long_text)


class TextReview(enum.StrEnum):
    """Staff review of a free-text answer before it may be published."""

    pending = "pending"
    published = "published"
    rejected = "rejected"


survey_project = sa.Table(
    "survey_project",
    db.metadata,
    sa.Column("survey_id", sa.ForeignKey("survey.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "project_id", sa.ForeignKey("project.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)


class Survey(WindowMixin, Model):
    """A questionnaire with an answering window, open to residents or verified residents."""

    __tablename__ = "survey"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    intro: Mapped[str] = mapped_column(sa.Text, default="")
    # English texts for the English pages; None means "not translated", shown in German.
    title_en: Mapped[str | None] = mapped_column(sa.String(200))
    intro_en: Mapped[str | None] = mapped_column(sa.Text)
    # opens_at, closes_at, eligibility and state come from WindowMixin.
    # People who took part; kept here because participation rows leave with deleted accounts.
    participant_count: Mapped[int] = mapped_column(default=0)
    previous_version_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("survey.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # After the retention period the raw answers go; these aggregates (already suppressed) stay.
    purged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    results_snapshot: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)

    sections: Mapped[list[SurveySection]] = relationship(
        back_populates="survey",
        order_by="SurveySection.position",
        cascade="all, delete-orphan",
    )
    projects: Mapped[list[Any]] = relationship(
        "Project", secondary=survey_project, order_by="Project.title"
    )

    __table_args__ = (
        sa.CheckConstraint("length(title) > 0", name="title_not_empty"),
        sa.CheckConstraint("title_en IS NULL OR length(title_en) > 0", name="title_en_not_empty"),
        sa.CheckConstraint("intro_en IS NULL OR length(intro_en) > 0", name="intro_en_not_empty"),
        sa.CheckConstraint("closes_at > opens_at", name="window_positive"),
        sa.CheckConstraint("participant_count >= 0", name="participant_count_positive"),
        sa.Index("ix_survey_state_closes", "state", "closes_at"),
    )

    @property
    def is_frozen(self) -> bool:
        """Return whether questions are fixed because someone has answered."""
        return self.participant_count > 0

    def questions(self) -> list[Question]:
        """Return every question in page order."""
        return [question for section in self.sections for question in section.questions]

    def __repr__(self) -> str:
        return f"<Survey {self.id} {self.state.value}>"


class SurveySection(Model):
    """A page of a survey with its own heading."""

    __tablename__ = "survey_section"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("survey.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(sa.String(200), default="")
    title_en: Mapped[str | None] = mapped_column(sa.String(200))  # None: shown in German

    survey: Mapped[Survey] = relationship(back_populates="sections")
    questions: Mapped[list[Question]] = relationship(
        back_populates="section", order_by="Question.position", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.Index("ix_survey_section_survey", "survey_id", "position"),
        sa.CheckConstraint("title_en IS NULL OR length(title_en) > 0", name="title_en_not_empty"),
    )

    def __repr__(self) -> str:
        return f"<SurveySection {self.id}>"


class Question(Model):
    """One question; choice questions have options, a scale has labelled ends."""

    __tablename__ = "survey_question"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("survey.id", ondelete="CASCADE"))
    section_id: Mapped[int] = mapped_column(sa.ForeignKey("survey_section.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[QuestionKind] = mapped_column(enum_column(QuestionKind, "kind"))
    text: Mapped[str] = mapped_column(sa.Text)
    # The question on English pages; None means "not translated", shown in German.
    text_en: Mapped[str | None] = mapped_column(sa.Text)
    help_text: Mapped[str] = mapped_column(sa.Text, default="")
    help_text_en: Mapped[str | None] = mapped_column(sa.Text)
    is_required: Mapped[bool] = mapped_column(default=False)
    min_choices: Mapped[int | None]
    max_choices: Mapped[int | None]
    scale_low_label: Mapped[str] = mapped_column(sa.String(80), default="")
    scale_high_label: Mapped[str] = mapped_column(sa.String(80), default="")
    scale_low_label_en: Mapped[str | None] = mapped_column(sa.String(80))
    scale_high_label_en: Mapped[str | None] = mapped_column(sa.String(80))
    has_other: Mapped[bool] = mapped_column(default=False)
    # Randomised response (yes/no only): the browser may replace the answer by a coin toss.
    is_randomised: Mapped[bool] = mapped_column(default=False)

    section: Mapped[SurveySection] = relationship(back_populates="questions")
    options: Mapped[list[Option]] = relationship(
        back_populates="question", order_by="Option.position", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.Index("ix_survey_question_section", "section_id", "position"),
        sa.Index("ix_survey_question_survey", "survey_id"),
        sa.CheckConstraint("length(text) > 0", name="text_not_empty"),
        sa.CheckConstraint("text_en IS NULL OR length(text_en) > 0", name="text_en_not_empty"),
        sa.CheckConstraint(
            "help_text_en IS NULL OR length(help_text_en) > 0", name="help_text_en_not_empty"
        ),
        sa.CheckConstraint(
            "scale_low_label_en IS NULL OR length(scale_low_label_en) > 0",
            name="scale_low_label_en_not_empty",
        ),
        sa.CheckConstraint(
            "scale_high_label_en IS NULL OR length(scale_high_label_en) > 0",
            name="scale_high_label_en_not_empty",
        ),
        sa.CheckConstraint(
            "min_choices IS NULL OR max_choices IS NULL OR min_choices <= max_choices",
            name="choices_range",
        ),
        sa.CheckConstraint("NOT is_randomised OR kind = 'yes_no'", name="randomised_yes_no"),
        sa.CheckConstraint("NOT (is_randomised AND is_required)", name="randomised_optional"),
    )

    @property
    def field(self) -> str:
        """Return the form field name of this question."""
        return f"q{self.id}"

    def __repr__(self) -> str:
        return f"<Question {self.id} {self.kind.value}>"


class Option(Model):
    """A choice of a single, multiple-choice or ranking question."""

    __tablename__ = "survey_option"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey_question.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(default=0)
    label: Mapped[str] = mapped_column(sa.String(200))
    label_en: Mapped[str | None] = mapped_column(sa.String(200))  # None: shown in German

    question: Mapped[Question] = relationship(back_populates="options")

    __table_args__ = (
        sa.Index("ix_survey_option_question", "question_id", "position"),
        sa.CheckConstraint("length(label) > 0", name="label_not_empty"),
        sa.CheckConstraint("label_en IS NULL OR length(label_en) > 0", name="label_en_not_empty"),
    )

    def __repr__(self) -> str:
        return f"<Option {self.id}>"


class SurveyParticipation(Model):
    """That a person took part in a survey (never what they answered); once per person."""

    __tablename__ = "survey_participation"

    survey_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    participated_on: Mapped[dt.date] = mapped_column(sa.Date)  # the day only, for turnout

    user: Mapped[User] = relationship()
    survey: Mapped[Survey] = relationship()

    def __repr__(self) -> str:
        return f"<SurveyParticipation {self.survey_id}>"


# --- the anonymous side: no person, no time, random keys, no insertion order ------------------


class StagedResponse(Model):
    """A submitted answer set, encrypted, waiting to be moved into the answer tables."""

    __tablename__ = "survey_staged_response"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("survey.id", ondelete="CASCADE"))
    # AES-GCM ciphertext (surveys.sealing) of {"h": hour submitted, "a": [answer records]},
    # padded to one size per survey; the key is derived from SECRET_KEY, never stored here.
    sealed: Mapped[bytes] = mapped_column(sa.LargeBinary)

    __table_args__ = (
        sa.Index("ix_survey_staged_response_survey", "survey_id"),
        {"sqlite_with_rowid": False},
    )


class SurveyResponse(Model):
    """One anonymous answer set: it ties answers together for cross-tabs, and to nobody."""

    __tablename__ = "survey_response"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("survey.id", ondelete="CASCADE"))
    # How the answer set came in: online, or a paper questionnaire entered twice by staff.
    channel: Mapped[Channel] = mapped_column(
        enum_column(Channel, "channel"), default=Channel.online, server_default="online"
    )

    __table_args__ = (
        sa.Index("ix_survey_response_survey", "survey_id"),
        {"sqlite_with_rowid": False},
    )


class SurveyAnswer(Model):
    """One answer value: a chosen option, a number (scale, rank, yes=1/no=0) or a text."""

    __tablename__ = "survey_answer"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    response_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("survey_response.id", ondelete="CASCADE")
    )
    question_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey_question.id", ondelete="CASCADE")
    )
    option_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("survey_option.id", ondelete="CASCADE")
    )
    number: Mapped[int | None]
    text: Mapped[str | None] = mapped_column(sa.Text)
    review: Mapped[TextReview | None] = mapped_column(enum_column(TextReview, "review"))

    __table_args__ = (
        sa.Index("ix_survey_answer_question", "question_id", "option_id", "number"),
        sa.Index("ix_survey_answer_response", "response_id"),
        sa.CheckConstraint("(text IS NULL) = (review IS NULL)", name="text_reviewed"),
        {"sqlite_with_rowid": False},
    )
