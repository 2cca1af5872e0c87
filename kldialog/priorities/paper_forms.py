"""Forms for paper ballots: printing sheets, starting a batch, reading the typed sheets.

Shape only; the rules (codes, deadline, ballot rules, two accounts) live in priorities.paper.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import HiddenField, SelectChoice, SelectField
from wtforms.validators import InputRequired, NumberRange

from kldialog.kernel.double_entry import BatchForm, Sheet
from kldialog.kernel.errors import number_range
from kldialog.kernel.params import BoundedIntegerField, parse_int
from kldialog.priorities.forms import MAX_TYPED_POINTS
from kldialog.priorities.models import InvalidReason, Method
from kldialog.priorities.paper import PRINT_MAX, make_sheet
from kldialog.templating import LANGUAGE_NAMES

__all__ = ["BatchForm", "EntryForm", "PrintForm", "read_sheets", "typed_of"]

INVALID_LABELS = {
    InvalidReason.unclear: _l("Marks cannot be read with certainty"),
    InvalidReason.rules: _l("More projects or points than allowed"),
    InvalidReason.blank: _l("Nothing marked"),
    InvalidReason.no_code: _l("Ballot code missing or unreadable"),
    InvalidReason.other: _l("Other reason"),
}


class PrintForm(FlaskForm):
    """Print a number of paper ballots with one-time codes."""

    count = BoundedIntegerField(
        _l("Number of sheets"),
        validators=[
            InputRequired(number_range(1, PRINT_MAX)),
            NumberRange(1, PRINT_MAX, number_range(1, PRINT_MAX)),
        ],
        description=_l("1 to 1,000. Each sheet gets its own one-time code."),
    )
    language = SelectField(
        _l("Language of the sheets"),
        validators=[InputRequired(_l("Please choose the language of the sheets."))],
    )
    # A one-time value from the form page: reloading the printed sheets must not print more.
    once = HiddenField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Offer the site's languages, the city's own first."""
        super().__init__(*args, **kwargs)
        self.language.choices = [
            SelectChoice(code, LANGUAGE_NAMES.get(code, code))
            for code in current_app.config["LANGUAGES"]
        ]
        if not self.language.data:
            self.language.data = current_app.config["BABEL_DEFAULT_LOCALE"]


class EntryForm(FlaskForm):
    """The CSRF token of an entry; read_sheets reads the typed sheets."""


def read_sheet(
    method: Method, project_ids: list[int], formdata: MultiDict[str, Any], index: int
) -> tuple[Sheet, dict[str, str]]:
    """Read sheet `index` of an entry into a sheet and what was typed (to show it again).

    Approval sheets send `mark-<i>-<project>` checkboxes, points sheets numbers (empty = 0);
    points that are not a whole number stay None so the rules can name the field.
    """
    prefix = f"s{index}"
    typed: dict[str, str] = {
        "code": str(formdata.get(f"{prefix}-code", ""))[:40],
        "invalid": str(formdata.get(f"{prefix}-invalid", ""))[:20],
    }
    choices: dict[int, int | None] = {}
    for project_id in project_ids:
        raw = str(formdata.get(f"{prefix}-mark-{project_id}", "")).strip()
        typed[str(project_id)] = raw[:10]
        if method == Method.approval:
            choices[project_id] = 1 if raw else 0
        else:
            choices[project_id] = 0 if raw == "" else parse_int(raw, 0, MAX_TYPED_POINTS)
    invalid = typed["invalid"] if typed["invalid"] in {r.value for r in InvalidReason} else ""
    if typed["invalid"] and not invalid:
        invalid = "?"  # an unknown reason: the check says so next to the sheet
    return make_sheet(typed["code"], invalid, choices), typed


def read_sheets(
    method: Method, project_ids: list[int], formdata: MultiDict[str, Any], count: int
) -> tuple[list[Sheet], list[dict[str, str]]]:
    """Read the `count` sheets of an entry."""
    pairs = [read_sheet(method, project_ids, formdata, i) for i in range(count)]
    return [sheet for sheet, _typed in pairs], [typed for _sheet, typed in pairs]


def typed_of(sheet: Sheet) -> dict[str, str]:
    """Return a stored sheet as typed values, to show it in the form again."""
    typed = {"code": sheet["code"], "invalid": sheet["invalid"]}
    typed.update({pid: str(points) for pid, points in sheet["choices"].items()})
    return typed
