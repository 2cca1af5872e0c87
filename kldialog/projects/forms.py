"""The project list's filter form (GET, so filtered lists are shareable links)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SearchField, SelectChoice, SelectField
from wtforms.validators import Length, NumberRange, Optional

from kldialog.projects.models import Status

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
    category = SelectField(_l("Category"), validators=[Optional()])
    status = SelectField(_l("Status"), validators=[Optional()])
    sort = SelectField(
        _l("Sort by"), choices=SORT_CHOICES, default="title", validators=[Optional()]
    )
    page = IntegerField(
        _l("Page"), default=1, validators=[Optional(), NumberRange(min=1, max=100_000)]
    )

    def set_choices(self, categories: list, status_labels: dict) -> None:
        """Fill category and status choices; the empty value means "all"."""
        self.category.choices = [SelectChoice("", _l("All categories"))] + [
            SelectChoice(category.slug, category.name) for category in categories
        ]
        self.status.choices = [SelectChoice("", _l("All statuses"))] + [
            SelectChoice(status.value, status_labels[status]) for status in Status
        ]
