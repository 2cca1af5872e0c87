"""Staff forms for building surveys; answers are read by services.parse_answers, not WTForms.

Forms check shape only; the rules (freezing, option counts, randomised response) live in
surveys.services.
"""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from kldialog.kernel.errors import at_most_characters, number_range
from kldialog.kernel.params import BoundedIntegerField, IdsField, as_id
from kldialog.surveys.models import QuestionKind
from kldialog.windows.forms import ELIGIBILITY_CHOICES, window_fields, window_utc
from kldialog.windows.models import Eligibility

KIND_LABELS = {
    QuestionKind.single: _l("Single choice"),
    QuestionKind.multiple: _l("Multiple choice"),
    QuestionKind.scale: _l("Scale from 1 to 5"),
    QuestionKind.ranking: _l("Ranking"),
    QuestionKind.yes_no: _l("Yes or no"),
    QuestionKind.short_text: _l("Short text"),
    QuestionKind.long_text: _l("Long text"),
}


class SurveyForm(FlaskForm):
    """Create or change a survey's settings."""

    title = StringField(
        _l("Title"),
        validators=[
            DataRequired(_l("Please enter a title.")),
            Length(max=200, message=at_most_characters(200)),
        ],
    )
    intro = TextAreaField(
        _l("Introduction"),
        validators=[Optional(), Length(max=5000, message=at_most_characters(5000))],
        description=_l("Why the city asks and what happens with the answers."),
    )
    title_en = StringField(
        _l("Title (English)"),
        validators=[Optional(), Length(max=200, message=at_most_characters(200))],
        description=_l(
            "Shown on the English pages. Leave empty to show the German text there "
            "(marked as German)."
        ),
    )
    intro_en = TextAreaField(
        _l("Introduction (English)"),
        validators=[Optional(), Length(max=5000, message=at_most_characters(5000))],
    )
    opens_at, closes_at = window_fields(
        start="opens_at",
        start_label=_l("Opens (local time)"),
        start_example=_l("Please enter date and time, e.g. 2026-12-01 09:00."),
        end_label=_l("Closes (local time)"),
        end_example=_l("Please enter date and time, e.g. 2026-12-21 18:00."),
        order_message=_l("The survey must close after it opens."),
    )
    eligibility = RadioField(
        _l("Who may answer"),
        choices=ELIGIBILITY_CHOICES,
        default=Eligibility.resident.value,
        validators=[InputRequired(_l("Please choose who may answer."))],
    )
    project_ids = IdsField(
        _l("Related projects"),
        validate_choice=False,  # builder._projects names the problem
        description=_l("The survey page links to these projects."),
    )

    def window(self) -> tuple[dt.datetime, dt.datetime]:
        """Return opening and closing time in UTC (entered in the site's time zone)."""
        return window_utc(self.opens_at, self.closes_at)


class QuestionForm(FlaskForm):
    """Add or change a question."""

    section_id = SelectField(_l("Page"), coerce=as_id, validate_choice=False)
    kind = RadioField(
        _l("Type of question"),
        choices=[SelectChoice(kind.value, label) for kind, label in KIND_LABELS.items()],
        default=QuestionKind.single.value,
        validators=[InputRequired(_l("Please choose a type."))],
    )
    text = TextAreaField(
        _l("Question"),
        validators=[
            DataRequired(_l("Please enter the question.")),
            Length(max=1000, message=at_most_characters(1000)),
        ],
    )
    text_en = TextAreaField(
        _l("Question (English)"),
        validators=[Optional(), Length(max=1000, message=at_most_characters(1000))],
        description=_l(
            "Shown on the English pages. Leave empty to show the German text there "
            "(marked as German)."
        ),
    )
    help_text = TextAreaField(
        _l("Help text"),
        validators=[Optional(), Length(max=1000, message=at_most_characters(1000))],
        description=_l("Shown below the question."),
    )
    help_text_en = TextAreaField(
        _l("Help text (English)"),
        validators=[Optional(), Length(max=1000, message=at_most_characters(1000))],
        description=_l(
            "Shown on the English pages. Leave empty to show the German text there "
            "(marked as German)."
        ),
    )
    options = TextAreaField(
        _l("Options"),
        validators=[Optional(), Length(max=5000, message=at_most_characters(5000))],
        description=_l("Single choice, multiple choice and ranking: one option per line."),
    )
    options_en = TextAreaField(
        _l("Options (English)"),
        validators=[Optional(), Length(max=5000, message=at_most_characters(5000))],
        description=_l(
            "One per line, in the same order as the options above. Leave empty to show the "
            "German options."
        ),
    )
    is_required = BooleanField(_l("An answer is required"))
    has_other = BooleanField(
        _l("Offer “Other” with a text field"),
        description=_l("Single and multiple choice only."),
    )
    min_choices = BoundedIntegerField(
        _l("Multiple choice: at least this many options"),
        validators=[Optional(), NumberRange(1, 50, number_range(1, 50))],
    )
    max_choices = BoundedIntegerField(
        _l("Multiple choice: at most this many options"),
        validators=[Optional(), NumberRange(1, 50, number_range(1, 50))],
    )
    scale_low_label = StringField(
        _l("Scale: label of 1"),
        validators=[Optional(), Length(max=80, message=at_most_characters(80))],
    )
    scale_high_label = StringField(
        _l("Scale: label of 5"),
        validators=[Optional(), Length(max=80, message=at_most_characters(80))],
    )
    scale_low_label_en = StringField(
        _l("Scale: label of 1 (English)"),
        validators=[Optional(), Length(max=80, message=at_most_characters(80))],
    )
    scale_high_label_en = StringField(
        _l("Scale: label of 5 (English)"),
        validators=[Optional(), Length(max=80, message=at_most_characters(80))],
    )
    is_randomised = BooleanField(
        _l("Randomised response (sensitive yes/no questions)"),
        description=_l(
            "The browser tosses a coin: with probability 1/2 the true answer is sent, otherwise "
            "a second coin decides yes or no. Nobody, not even the city, learns a person's true "
            "answer; the results estimate the true share with a wider interval. Without "
            "JavaScript the question is skipped, so it cannot be required."
        ),
    )


class SectionForm(FlaskForm):
    """Add a page or rename one."""

    title = StringField(
        _l("Heading of the page"),
        validators=[Optional(), Length(max=200, message=at_most_characters(200))],
    )
    title_en = StringField(
        _l("Heading of the page (English)"),
        validators=[Optional(), Length(max=200, message=at_most_characters(200))],
    )


class ActionForm(FlaskForm):
    """A button that changes state (publish, move, delete): the CSRF token only."""


class CrosstabForm(FlaskForm):
    """Choose two questions to cross-tabulate (a GET form: no CSRF needed)."""

    class Meta:
        """Reading results changes nothing."""

        csrf = False

    first = SelectField(
        _l("Rows"), coerce=as_id, validate_choice=False, validators=[InputRequired()]
    )
    second = SelectField(
        _l("Columns"), coerce=as_id, validate_choice=False, validators=[InputRequired()]
    )
