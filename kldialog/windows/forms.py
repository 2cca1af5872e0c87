"""The window part of the staff forms of rounds, surveys and events: two local times → UTC.

Staff type times in the site's zone (`datetime-local` inputs); the forms hand the services
aware UTC. The part refuses years out of range, clock times that do not exist (the spring
DST gap), and an end that is not after the start; each form keeps its own wording.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from wtforms import DateTimeLocalField, Field, SelectChoice
from wtforms.validators import InputRequired, ValidationError

from kldialog.kernel.time import local_input_value, local_to_utc
from kldialog.windows.models import Eligibility

FIRST_YEAR, LAST_YEAR = 2000, 2099
INPUT_FORMAT = "%Y-%m-%dT%H:%M"
ELIGIBILITY_CHOICES = [
    SelectChoice(Eligibility.resident.value, _l("Everyone with a confirmed account")),
    SelectChoice(Eligibility.verified.value, _l("Only verified residents (residency code)")),
]


def real_local_time(form: Any, field: Field) -> None:
    """Refuse years out of range and clock times that do not exist (the spring DST gap)."""
    value = field.data
    if value is None:
        return
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValidationError(
            _l(
                "Please enter a date between the years %(first)d and %(last)d.",
                first=FIRST_YEAR,
                last=LAST_YEAR,
            )
        )
    if local_input_value(local_to_utc(value)) != value:
        raise ValidationError(
            _l("This time does not exist here: the clocks go forward that night.")
        )


class EndsAfter:
    """Refuse an end that is not after the start field (both entered as local times)."""

    def __init__(self, start: str, message: LazyString | str) -> None:
        """Remember the name of the start field and the form's own wording."""
        self.start = start
        self.message = message

    def __call__(self, form: Any, field: Field) -> None:
        """Compare with the start; an empty or invalid start has its own message already."""
        start = form[self.start].data
        if start is not None and field.data is not None and field.data <= start:
            raise ValidationError(self.message)


def window_fields(
    *,
    start: str,
    start_label: LazyString,
    start_example: LazyString,
    end_label: LazyString,
    end_example: LazyString,
    order_message: LazyString,
) -> tuple[DateTimeLocalField, DateTimeLocalField]:
    """Return the start and end fields of a window, for a form's class body.

    `start` is the name the start field gets in the form (the end compares with it).
    """
    return (
        DateTimeLocalField(
            start_label,
            format=INPUT_FORMAT,
            validators=[InputRequired(start_example), real_local_time],
        ),
        DateTimeLocalField(
            end_label,
            format=INPUT_FORMAT,
            validators=[
                InputRequired(end_example),
                real_local_time,
                EndsAfter(start, order_message),
            ],
        ),
    )


def window_utc(start: Field, end: Field) -> tuple[dt.datetime, dt.datetime]:
    """Return the entered window in UTC (call after the form validated)."""
    if start.data is None or end.data is None:
        raise ValueError("the window is read only from a validated form")
    return local_to_utc(start.data), local_to_utc(end.data)
