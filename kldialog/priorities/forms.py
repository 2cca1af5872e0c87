"""Forms for priority rounds (staff), the ballot (residents) and indicator ratings.

Forms check shape only; the rules (budget, window, freezing) live in priorities.services.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    RadioField,
    SelectChoice,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from kldialog.kernel.errors import at_most_characters, number_range
from kldialog.kernel.params import BoundedIntegerField, IdsField, parse_int
from kldialog.kernel.time import local_to_utc
from kldialog.priorities.models import Indicator, Method
from kldialog.windows.forms import (
    ELIGIBILITY_CHOICES,
    INPUT_FORMAT,
    EndsAfter,
    real_local_time,
    window_fields,
    window_utc,
)
from kldialog.windows.models import Eligibility

METHOD_CHOICES = [
    SelectChoice(Method.approval.value, _l("Approval – support up to a number of projects")),
    SelectChoice(Method.points.value, _l("Points – distribute points among the projects")),
]
INDICATOR_LABELS = {
    Indicator.benefit: _l("Benefit for Kaiserslautern and its citizens"),
    Indicator.data_care: _l("Economical and responsible handling of data"),
}
SCORE_CHOICES = [
    SelectChoice("1", _l("1 – very low")),
    SelectChoice("2", _l("2 – low")),
    SelectChoice("3", _l("3 – medium")),
    SelectChoice("4", _l("4 – high")),
    SelectChoice("5", _l("5 – very high")),
]


class RoundForm(FlaskForm):
    """Create or change a priority round."""

    title = StringField(
        _l("Title"),
        validators=[
            DataRequired(_l("Please give the round a title.")),
            Length(max=200, message=at_most_characters(200)),
        ],
    )
    explanation = TextAreaField(
        _l("Explanation"),
        validators=[Optional(), Length(max=5000, message=at_most_characters(5000))],
        description=_l(
            "Why the city asks and what happens with the result. Shown above the ballot."
        ),
    )
    title_en = StringField(
        _l("Title (English)"),
        validators=[Optional(), Length(max=200, message=at_most_characters(200))],
        description=_l(
            "Shown on the English pages. Leave empty to show the German text there "
            "(marked as German)."
        ),
    )
    explanation_en = TextAreaField(
        _l("Explanation (English)"),
        validators=[Optional(), Length(max=5000, message=at_most_characters(5000))],
    )
    method = RadioField(
        _l("Method"),
        choices=METHOD_CHOICES,
        default=Method.approval.value,
        validators=[InputRequired(_l("Please choose a method."))],
    )
    max_choices = BoundedIntegerField(
        _l("Approval: projects each person may support"),
        default=5,
        validators=[InputRequired(number_range(1, 100)), NumberRange(1, 100, number_range(1, 100))],
    )
    budget = BoundedIntegerField(
        _l("Points: points each person distributes"),
        default=10,
        validators=[
            InputRequired(number_range(1, 1000)),
            NumberRange(1, 1000, number_range(1, 1000)),
        ],
    )
    max_per_project = BoundedIntegerField(
        _l("Points: most points on one project"),
        default=3,
        validators=[
            InputRequired(number_range(1, 1000)),
            NumberRange(1, 1000, number_range(1, 1000)),
        ],
    )
    eligibility = RadioField(
        _l("Who may vote"),
        choices=ELIGIBILITY_CHOICES,
        default=Eligibility.resident.value,
        validators=[InputRequired(_l("Please choose who may vote."))],
    )
    show_running_totals = BooleanField(
        _l("Show running totals while the round is open"),
        description=_l("Usually off: early totals sway later voters."),
    )
    opens_at, closes_at = window_fields(
        start="opens_at",
        start_label=_l("Opens (local time)"),
        start_example=_l("Please enter date and time, e.g. 2026-12-01 09:00."),
        end_label=_l("Closes (local time)"),
        end_example=_l("Please enter date and time, e.g. 2026-12-21 18:00."),
        order_message=_l("The round must close after it opens."),
    )
    paper_offered = BooleanField(
        _l("Offer paper ballots"),
        description=_l(
            "Staff print sheets with one-time codes and enter the returned sheets twice."
        ),
    )
    paper_until = DateTimeLocalField(
        _l("Paper sheets accepted until (local time)"),
        format=INPUT_FORMAT,
        validators=[
            Optional(),
            real_local_time,
            EndsAfter(
                "opens_at", _l("Paper sheets can be accepted only until a time after the opening.")
            ),
        ],  # fmt: skip
        description=_l("Sheets are entered until then; the results follow after it."),
    )
    projects = IdsField(
        _l("Projects on the ballot"),
        validate_choice=False,  # the service says which projects may not be on a ballot
        validators=[DataRequired(_l("Choose at least two projects for the ballot."))],
    )

    def validate_max_per_project(self, field: Any) -> None:
        """Mirror the CHECK max_per_project <= budget, for either method (it holds for both)."""
        budget = self.budget.data
        if isinstance(budget, int) and isinstance(field.data, int) and field.data > budget:
            raise ValidationError(
                _l("The maximum per project cannot be more than the points to distribute.")
            )

    def paper(self) -> tuple[bool, dt.datetime | None]:
        """Return whether paper is offered and its deadline in UTC (the service checks both)."""
        until = self.paper_until.data
        return bool(self.paper_offered.data), None if until is None else local_to_utc(until)

    def numbers(self) -> tuple[int, int, int]:
        """Return max_choices, budget and max_per_project (call after the form validated)."""
        choices, budget, per_project = (
            self.max_choices.data,
            self.budget.data,
            self.max_per_project.data,
        )
        if choices is None or budget is None or per_project is None:
            raise ValueError("the numbers are read only from a validated form")
        return choices, budget, per_project

    def window(self) -> tuple[dt.datetime, dt.datetime]:
        """Return opening and closing time in UTC (entered in the site's time zone)."""
        return window_utc(self.opens_at, self.closes_at)


class ActionForm(FlaskForm):
    """The CSRF token alone: buttons, and the ballot (parse_ballot reads its fields)."""


class RatingForm(FlaskForm):
    """Rate a project on the council's two indicators (either may stay empty)."""

    benefit = RadioField(
        INDICATOR_LABELS[Indicator.benefit], choices=SCORE_CHOICES, validators=[Optional()]
    )
    data_care = RadioField(
        INDICATOR_LABELS[Indicator.data_care], choices=SCORE_CHOICES, validators=[Optional()]
    )

    def scores(self) -> dict[Indicator, int | None]:
        """Return the chosen scores (None: no rating)."""
        return {
            # Optional() lets blank input like " " through unchecked: it means no rating.
            Indicator.benefit: parse_int(self.benefit.data, 1, 5),
            Indicator.data_care: parse_int(self.data_care.data, 1, 5),
        }


# Points beyond any budget (at most 1000) are read as unreadable, not as a huge number.
MAX_TYPED_POINTS = 9999


def parse_ballot(
    method: Method, formdata: MultiDict[str, Any]
) -> tuple[dict[int, int | None], dict[str, str]]:
    """Read a submitted ballot into ({project_id: points}, what the person typed).

    Only turns text into numbers (ASCII digits, `parse_int`); every rule, including which
    projects belong to the round, is checked once, by services.check_ballot. A project id
    that is not a number becomes 0 (no project has it); points that are not a whole number
    of 0 or more become None. Approval ballots send `project` checkboxes; points ballots send
    `points-<id>` fields, where an empty field means 0.
    """
    choices: dict[int, int | None] = {}
    typed: dict[str, str] = {}
    if method == Method.approval:
        for value in formdata.getlist("project"):
            project_id = parse_int(value, 1) or 0
            choices[project_id] = 1
            typed[str(project_id)] = "1"
        return choices, typed
    for key in formdata:
        if not key.startswith("points-"):
            continue
        project_id = parse_int(key.removeprefix("points-"), 1) or 0
        raw = str(formdata.get(key, "")).strip()
        points = 0 if raw == "" else parse_int(raw, 0, MAX_TYPED_POINTS)
        if project_id == 0 and choices.get(0) != 0 and 0 in choices:
            continue  # keep the first unreadable id that carried something
        choices[project_id] = points
        if project_id:
            typed[str(project_id)] = raw[:10]
    return choices, typed
