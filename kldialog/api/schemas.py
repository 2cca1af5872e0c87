"""The API's response and query models (pydantic v2); their JSON Schemas make the OpenAPI spec.

Pydantic emits JSON Schema 2020-12, the dialect OpenAPI 3.1 uses, so the spec is generated
from the same classes that serialise every response: a field cannot be sent without being
documented. Every model forbids extra fields, so nothing is published by accident.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import AnyUrl, BaseModel, ConfigDict, Field


class Model(BaseModel):
    """Base of every API model: unknown fields are an error, not silently published."""

    model_config = ConfigDict(extra="forbid")


# --- common ------------------------------------------------------------------------------------


class PageLinks(Model):
    """Links between the pages of a list (absent links are null)."""

    self: AnyUrl
    first: AnyUrl
    last: AnyUrl
    next: AnyUrl | None
    prev: AnyUrl | None


class Interval(Model):
    """An estimate with its 95 % interval."""

    estimate: float
    low: float
    high: float


class Problem(Model):
    """An error as RFC 9457 problem details (application/problem+json)."""

    model_config = ConfigDict(extra="forbid", title="Problem")

    type: str = "about:blank"
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | None = None
    parameter: str | None = Field(default=None, description="The query parameter at fault.")


# --- index and categories ----------------------------------------------------------------------


class ApiIndex(Model):
    """The entry point: what this API offers, under which licence."""

    api_version: Literal["1"]
    title: str
    publisher: str
    licence: AnyUrl
    licence_name: str
    documentation: AnyUrl
    openapi: AnyUrl
    dcat: AnyUrl
    links: dict[str, AnyUrl] = Field(description="The collections of this API by name.")


# Texts are German; the optional English version sits beside each as `<field>_en`.
NOT_TRANSLATED = "The English text; null when there is none (the German one applies)."


class Category(Model):
    """A roadmap category."""

    slug: str
    name: str
    name_en: str | None = Field(description=NOT_TRANSLATED)
    position: int
    project_count: int = Field(ge=0, description="Published projects in this category.")
    projects: AnyUrl = Field(description="The category's projects in this API.")


class CategoryList(Model):
    """All categories in their roadmap order."""

    items: list[Category]


# --- projects ----------------------------------------------------------------------------------

Status = Literal["planned", "in_progress", "completed"]
Precision = Literal["day", "month"]


class ProjectSummary(Model):
    """A project as the public list shows it."""

    slug: str
    title: str
    title_en: str | None = Field(description=NOT_TRANSLATED)
    summary: str
    summary_en: str | None = Field(description=NOT_TRANSLATED)
    category: str = Field(description="The category's slug.")
    status: Status
    status_changed_on: dt.date
    status_precision: Precision = Field(description="month: only the month is known.")
    progress: int | None = Field(ge=0, le=100, description="Percent; null when not stated.")
    department: str
    updated_at: dt.datetime
    url: AnyUrl = Field(description="This project in the API.")
    html_url: AnyUrl = Field(description="The project's public page.")


class ProjectPage(Model):
    """One page of published projects."""

    items: list[ProjectSummary]
    page: int = Field(ge=1)
    per_page: int = Field(ge=1)
    total: int = Field(ge=0)
    pages: int = Field(ge=1)
    links: PageLinks


class StatusChange(Model):
    """A dated entry in a project's status history."""

    changed_on: dt.date
    precision: Precision
    old_status: Status | None
    new_status: Status
    reason: str
    author: str = Field(description="The accountable organisation or department.")


class ProjectUpdate(Model):
    """Dated news from the city about a project."""

    published_on: dt.date
    title: str
    title_en: str | None = Field(description=NOT_TRANSLATED)
    body: str
    body_en: str | None = Field(description=NOT_TRANSLATED)
    author: str = Field(description="The organisation or department.")


class ProjectDetail(ProjectSummary):
    """One project with its description, status history and updates (newest first)."""

    description: str
    description_en: str | None = Field(description=NOT_TRANSLATED)
    visibility: Literal["published", "archived"]
    is_category_editorial: bool = Field(
        description="The editors assigned the category; the city's source did not state it."
    )
    created_at: dt.datetime
    status_history: list[StatusChange]
    updates: list[ProjectUpdate]


class ProjectQuery(Model):
    """The filters of /api/v1/projects (as on the public list page)."""

    status: Status | None = None
    category: str | None = Field(default=None, max_length=80, description="A category slug.")
    q: str | None = Field(
        default=None, max_length=200, description="Words that must all occur in title or summary."
    )
    updated_since: dt.datetime | None = Field(
        default=None, description="Only projects changed at or after this time (ISO 8601)."
    )
    sort: Literal["title", "updated"] = Field(
        default="title", description="title: by title; updated: oldest change first."
    )
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=20, ge=1, le=100)


class PageQuery(Model):
    """Page through a list."""

    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=20, ge=1, le=100)


# --- priority rounds ---------------------------------------------------------------------------


class RoundSummary(Model):
    """A closed priority round whose result is frozen."""

    id: int
    title: str
    title_en: str | None = Field(description=NOT_TRANSLATED)
    method: Literal["approval", "points"]
    opens_at: dt.datetime
    closes_at: dt.datetime
    ballots: int = Field(ge=0, description="Ballots counted.")
    ballots_online: int = Field(ge=0, description="Of these, ballots cast online.")
    ballots_paper: int = Field(ge=0, description="Of these, paper ballots entered by staff.")
    suppressed: bool = Field(description="Too few ballots: only their number is published.")
    url: AnyUrl
    html_url: AnyUrl


class RoundList(Model):
    """Closed rounds, newest first."""

    items: list[RoundSummary]


class RoundProjectResult(Model):
    """One project's result in a round."""

    key: str = Field(description="The project's slug.")
    title: str
    category: str
    supporters: int
    points: int
    share: float
    share_low: float
    share_high: float
    rank: int
    rank_low: int
    rank_high: int
    tier: int


class RoundCategoryResult(Model):
    """One category's result in a round."""

    category: str
    ballots: int
    points: int
    supporters: int
    share: float
    share_low: float
    share_high: float


class ParticipationDay(Model):
    """Ballots cast on one day (null where fewer than k would be revealed)."""

    day: dt.date
    ballots: int | None


class RoundDetail(RoundSummary):
    """A closed round's frozen result, exactly as the public results page has it."""

    min_group_size: int
    bootstrap_samples: int
    computed_at: dt.datetime
    projects: list[RoundProjectResult]
    categories: list[RoundCategoryResult]
    participation: list[ParticipationDay]
    ballot_file: AnyUrl | None = Field(
        description="The anonymous ballot file (recount it yourself); null when suppressed."
    )
    ballot_file_sha256: str | None
    results_csv: AnyUrl
    note: str


# --- surveys -----------------------------------------------------------------------------------


class CountRow(Model):
    """One answer option's count and share (null where hidden to protect small groups)."""

    label: str
    label_en: str | None = Field(
        default=None,
        description="An option's English text; null: not translated, or not an option.",
    )
    count: int | None
    share: float | None
    low: float | None
    high: float | None


class RankRow(Model):
    """One option's mean place in a ranking question."""

    label: str
    label_en: str | None = Field(default=None, description=NOT_TRANSLATED)
    mean: float
    low: float
    high: float
    places: int


class QuestionResult(Model):
    """The published result of one question; free texts are never part of the API."""

    id: int
    text: str
    text_en: str | None = Field(default=None, description=NOT_TRANSLATED)
    kind: str
    randomised: bool
    suppressed: bool = Field(description="Fewer respondents than k: nothing is published.")
    n: int | None
    withheld: str | None = Field(
        description="Why figures of this question are not shown (small_groups, dp), if so."
    )
    rows: list[CountRow]
    ranking: list[RankRow]
    mean: Interval | None
    randomised_response: Interval | None


class SurveySummary(Model):
    """A closed survey with published results."""

    id: int
    title: str
    title_en: str | None = Field(description=NOT_TRANSLATED)
    opens_at: dt.datetime
    closes_at: dt.datetime
    results_available: bool = Field(description="false while the final release is prepared.")
    url: AnyUrl
    html_url: AnyUrl


class SurveyList(Model):
    """Closed surveys, newest first."""

    items: list[SurveySummary]


class SurveyDetail(SurveySummary):
    """A survey's final released results, suppressed as on the results page."""

    intro: str
    intro_en: str | None = Field(description=NOT_TRANSLATED)
    k: int | None
    n: int | None
    suppressed: bool
    withheld_answer_sets: int = Field(
        ge=0, description="Answer sets left out of the final release (fewer than k after it)."
    )
    dp_epsilon: float | None
    answer_sets_online: int | None = Field(
        default=None,
        description="Of n, answer sets sent online; null when no questionnaire came on paper "
        "or when the count is hidden (a channel below k hides both).",
    )
    answer_sets_paper: int | None = Field(
        default=None,
        description="Of n, paper questionnaires entered by staff; null as answer_sets_online.",
    )
    questions: list[QuestionResult]


# --- moderation and ratings --------------------------------------------------------------------


class ModerationMonth(Model):
    """What moderation did in one month (no personal data)."""

    month: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}$")
    published: int
    reported: int
    hidden: int
    restored: int
    report_reasons: dict[str, int]
    median_hours_to_decision: float | None
    appeals: int
    appeals_upheld: int
    appeals_rejected: int


class ModerationReport(Model):
    """The public moderation report, newest month first."""

    items: list[ModerationMonth]
    html_url: AnyUrl


class IndicatorRating(Model):
    """A released indicator aggregate; n and the mean only once at least k people rated."""

    indicator: Literal["benefit", "data_care"]
    released: bool
    n: int | None
    mean: Interval | None


class ProjectRatings(Model):
    """A project's indicator ratings."""

    project: str = Field(description="The project's slug.")
    url: AnyUrl
    indicators: list[IndicatorRating]


class RatingPage(Model):
    """One page of published projects' rating aggregates."""

    items: list[ProjectRatings]
    min_group_size: int
    page: int = Field(ge=1)
    per_page: int = Field(ge=1)
    total: int = Field(ge=0)
    pages: int = Field(ge=1)
    links: PageLinks
