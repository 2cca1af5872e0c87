"""Roadmap forms: the public filter (GET), following, and the staff console.

Forms check shape only (required, lengths, choices); the rules live in the service modules
(projects.staff, projects.categories, ...).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    DateField,
    HiddenField,
    SearchField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    AnyOf,
    DataRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from kldialog.kernel.errors import at_most_characters
from kldialog.kernel.params import BoundedIntegerField, ChoiceField, parse_int
from kldialog.projects.models import Status, Visibility
from kldialog.templating import localized

SORT_CHOICES = [
    SelectChoice("title", _l("Title (A–Z)")),
    SelectChoice("recent", _l("Latest status change")),
    SelectChoice("status", _l("Status")),
    SelectChoice("category", _l("Category")),
]


class ProjectFilterForm(FlaskForm):
    """Filters for /projects; a bad value is dropped with a notice, never a 500."""

    class Meta:
        """Form options."""

        csrf = False  # a GET search changes nothing

    q = SearchField(_l("Search in title and summary"), validators=[Optional(), Length(max=200)])
    category = ChoiceField(_l("Category"), validators=[Optional()])
    status = ChoiceField(_l("Status"), validators=[Optional()])
    sort = ChoiceField(
        _l("Sort by"), choices=SORT_CHOICES, default="title", validators=[Optional()]
    )
    page = BoundedIntegerField(
        _l("Page"), default=1, validators=[Optional(), NumberRange(min=1, max=100_000)]
    )

    def set_choices(self, categories: list, status_labels: dict) -> None:
        """Fill category and status choices; the empty value means "all"."""
        self.category.choices = [SelectChoice("", _l("All categories"))] + [
            SelectChoice(category.slug, localized(category, "name")) for category in categories
        ]
        self.status.choices = [SelectChoice("", _l("All statuses"))] + [
            SelectChoice(status.value, status_labels[status]) for status in Status
        ]


# --- staff console ------------------------------------------------------------------------

VISIBILITY_CHOICES = [
    SelectChoice(Visibility.draft.value, _l("Draft – only staff can see it")),
    SelectChoice(Visibility.published.value, _l("Published – public and listed")),
    SelectChoice(Visibility.archived.value, _l("Archived – public, but no longer listed")),
]
STAFF_SORT_CHOICES = [
    SelectChoice("recent", _l("Last change")),
    SelectChoice("title", _l("Title (A–Z)")),
]


# The hint of the first English field of a form; the others follow the same rule.
ENGLISH_HINT = _l(
    "Shown on the English pages. Leave empty to show the German text there (marked as German)."
)


def english_data(form: Any, names: tuple[str, ...]) -> dict[str, str | None]:
    """Return the English fields of a validated form by name ("" for empty)."""
    return {name: form[name].data or "" for name in names}


def _at_most(limit: int) -> Length:
    """Return a length check with the console's message."""
    return Length(max=limit, message=at_most_characters(limit))


def in_choices(message: Any) -> Any:
    """Check a select's value against its choices with our own message (not WTForms')."""

    def check(form: Any, field: Any) -> None:
        if field.data not in {choice.value for choice in field.choices}:
            raise ValidationError(message)

    return check


def whole_percent(form: Any, field: Any) -> None:
    """Accept empty or a whole number 0–100 ("40" or "40 %")."""
    text = (field.data or "").strip().removesuffix("%").strip()
    if text and parse_int(text, 0, 100) is None:
        raise ValidationError(
            _l("Please enter a whole number from 0 to 100, or leave the field empty.")
        )


def percent_value(field: Any) -> int | None:
    """Return a validated progress field as a number, or None when empty."""
    return parse_int((field.data or "").strip().removesuffix("%").strip(), 0, 100)


class ActionForm(FlaskForm):
    """A button that changes state (follow, archive, move): the CSRF token only."""


class FollowForm(ActionForm):
    """Follow or unfollow; `next` brings the person back to where they clicked."""

    next = HiddenField(validators=[Optional(), Length(max=2000)])


class StaffFilterForm(FlaskForm):
    """Search and filter the staff project list (GET)."""

    class Meta:
        """Form options."""

        csrf = False  # a GET search changes nothing

    q = SearchField(_l("Search in title and summary"), validators=[Optional(), Length(max=200)])
    visibility = ChoiceField(
        _l("Visibility"),
        choices=[SelectChoice("", _l("All projects"))]
        + [
            SelectChoice(Visibility.draft.value, _l("Drafts")),
            SelectChoice(Visibility.published.value, _l("Published")),
            SelectChoice(Visibility.archived.value, _l("Archived")),
        ],
        validators=[Optional()],
    )
    sort = ChoiceField(
        _l("Sort by"), choices=STAFF_SORT_CHOICES, default="recent", validators=[Optional()]
    )
    page = BoundedIntegerField(
        _l("Page"), default=1, validators=[Optional(), NumberRange(min=1, max=100_000)]
    )


class ProjectForm(FlaskForm):
    """Create or edit a project (status has its own form, with a reason)."""

    title = StringField(
        _l("Title"),
        validators=[DataRequired(_l("Please enter a title.")), _at_most(300)],
    )
    slug = StringField(
        _l("Address (slug)"),
        validators=[Optional(), _at_most(120)],
        description=_l(
            "Part of the web address: lower-case letters, digits and hyphens. "
            "Leave empty to derive it from the title."
        ),
    )
    summary = TextAreaField(
        _l("Summary"),
        validators=[Optional(), _at_most(2000)],
        description=_l("One or two sentences for the project list."),
    )
    description = TextAreaField(
        _l("Description"),
        validators=[Optional(), _at_most(20000)],
        description=_l("Separate paragraphs with an empty line."),
    )
    title_en = StringField(
        _l("Title (English)"),
        validators=[Optional(), _at_most(300)],
        description=ENGLISH_HINT,
    )
    summary_en = TextAreaField(_l("Summary (English)"), validators=[Optional(), _at_most(2000)])
    description_en = TextAreaField(
        _l("Description (English)"), validators=[Optional(), _at_most(20000)]
    )
    category = SelectField(
        _l("Category"),
        validate_choice=False,
        validators=[
            DataRequired(_l("Please choose a category.")),
            in_choices(_l("Please choose a category from the list.")),
        ],
    )
    department = StringField(
        _l("Responsible department"),
        validators=[Optional(), _at_most(300)],
        description=_l("An office or organisation, not a person's name."),
    )
    progress = StringField(
        _l("Progress in percent"),
        validators=[Optional(), whole_percent],
        description=_l("A whole number from 0 to 100. Leave empty if it is not known."),
    )
    visibility = SelectField(
        _l("Visibility"),
        choices=VISIBILITY_CHOICES,
        validate_choice=False,
        validators=[
            DataRequired(_l("Please choose a visibility.")),
            in_choices(_l("Please choose a visibility from the list.")),
        ],
        default=Visibility.draft.value,
    )

    def set_choices(self, categories: list, status_labels: dict) -> None:
        """Fill the category (and, when creating, status) choices."""
        self.category.choices = [SelectChoice("", _l("Please choose"))] + [
            SelectChoice(str(category.id), localized(category, "name")) for category in categories
        ]
        if "status" in self:
            self.status.choices = [
                SelectChoice(status.value, status_labels[status]) for status in Status
            ]


class NewProjectForm(ProjectForm):
    """Create a project: also its first status (later changes need a reason)."""

    status = SelectField(
        _l("Status"),
        validate_choice=False,
        validators=[
            DataRequired(_l("Please choose a status.")),
            in_choices(_l("Please choose a status from the list.")),
        ],
        default=Status.planned.value,
    )


def _author_field() -> StringField:
    """Return the "responsible" field of imports, status changes and updates (not a person)."""
    return StringField(
        _l("Responsible (shown as the source)"),
        validators=[Optional(), _at_most(200)],
        description=_l("An office or organisation, not a person's name."),
    )


class StatusForm(FlaskForm):
    """Change a project's status with a reason for the public history."""

    status = SelectField(
        _l("New status"),
        validate_choice=False,
        validators=[
            DataRequired(_l("Please choose the new status.")),
            in_choices(_l("Please choose a status from the list.")),
        ],
    )
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(_l("Please give a reason. It is shown in the public status history.")),
            _at_most(2000),
        ],
        description=_l("Shown publicly in the project's status history."),
    )
    changed_on = DateField(
        _l("Date of the change"),
        default=dt.date.today,
        validators=[Optional()],
        description=_l("Leave as it is for today."),
    )
    author = _author_field()

    def set_choices(self, current: Status, status_labels: dict) -> None:
        """Offer every status; the current one is marked (the service refuses it clearly)."""
        self.status.choices = [SelectChoice("", _l("Please choose"))] + [
            SelectChoice(
                status.value,
                _l("%(status)s (current status)", status=status_labels[status])
                if status == current
                else status_labels[status],
            )
            for status in Status
        ]


class UpdateForm(FlaskForm):
    """Post dated news about a project."""

    title = StringField(
        _l("Title"), validators=[DataRequired(_l("Please enter a title.")), _at_most(300)]
    )
    body = TextAreaField(
        _l("Text"),
        validators=[Optional(), _at_most(20000)],
        description=_l("Separate paragraphs with an empty line."),
    )
    title_en = StringField(
        _l("Title (English)"), validators=[Optional(), _at_most(300)], description=ENGLISH_HINT
    )
    body_en = TextAreaField(_l("Text (English)"), validators=[Optional(), _at_most(20000)])
    published_on = DateField(
        _l("Date"),
        default=dt.date.today,
        validators=[Optional()],
        description=_l("Leave as it is for today."),
    )
    author = _author_field()


class CategoryForm(FlaskForm):
    """Create or rename a category."""

    name = StringField(
        _l("Name"), validators=[DataRequired(_l("Please enter a name.")), _at_most(120)]
    )
    name_en = StringField(
        _l("Name (English)"),
        validators=[Optional(), _at_most(120)],
        description=ENGLISH_HINT,
    )


class MoveForm(FlaskForm):
    """Move a category up or down in the roadmap order."""

    direction = HiddenField(
        validators=[DataRequired(), AnyOf(["up", "down"], message=_l("Unknown direction."))]
    )


class ImportForm(FlaskForm):
    """Upload a roadmap file (JSON or CSV) to check or import."""

    file = FileField(
        _l("Roadmap file (JSON or CSV)"),
        validators=[
            FileRequired(_l("Please choose a file.")),
            FileAllowed(["json", "csv"], _l("Please upload a .json or .csv file.")),
        ],
        description=_l(
            "The same format as the export below and the command `flask roadmap import`. "
            "At most 1 MB."
        ),
    )
    as_of = StringField(
        _l("Date of status changes"),
        validators=[
            Optional(),
            Regexp(
                r"^[0-9]{4}-[0-9]{2}(-[0-9]{2})?$",
                message=_l("Please enter a date as YYYY-MM-DD or a month as YYYY-MM."),
            ),
        ],
        description=_l("YYYY-MM-DD or YYYY-MM. Empty: the date in the file, otherwise today."),
    )
    author = _author_field()
    status_reason = TextAreaField(
        _l("Reason for status changes"),
        validators=[Optional(), _at_most(2000)],
        description=_l("Used where the file gives no reason. Shown in the public history."),
    )
    check = SubmitField(_l("Check only"))
    run = SubmitField(_l("Import"))
