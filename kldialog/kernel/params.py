"""One way to read integers from URLs, query strings and forms: ASCII digits, within bounds.

`str.isdigit()` accepts "²" and "٣", which `int()` then refuses or reads as another number;
an unbounded id overflows PostgreSQL's integer columns. Everything that turns request text
into a number goes through `parse_int` (or the `int` URL converter below, which uses it).

Choices work the same way: `choice()` for query parameters, `ChoiceField` for selects (it
strips and refuses whitespace, which WTForms' `Optional()` let through), `IdsField` for
multiple selects of ids, and `BoundedIntegerField` for numbers typed into forms.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from flask_babel import lazy_gettext as _l
from werkzeug.routing import BaseConverter, ValidationError
from wtforms import IntegerField, SelectField, SelectMultipleField
from wtforms import ValidationError as FieldError

T = TypeVar("T")

# The largest value of a PostgreSQL `integer` (and of every id column here).
MAX_ID = 2**31 - 1
_DIGITS = frozenset("0123456789")
CHOOSE_FROM_LIST = _l("Please choose from the list.")


def parse_int(text: Any, low: int = 0, high: int = MAX_ID) -> int | None:
    """Return the integer `text` spells in ASCII digits if low <= value <= high, else None."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    negative = text.startswith("-")
    digits = text[1:] if negative else text
    # More digits than the bound has cannot be in range (and keeps int() of huge input cheap).
    if not digits or len(digits) > len(str(max(abs(low), abs(high)))) or set(digits) - _DIGITS:
        return None
    value = -int(digits) if negative else int(digits)
    return value if low <= value <= high else None


def page_number(text: Any, last: int = 100_000) -> int:
    """Return a page number from a query or form value: 1 for anything that is not one."""
    return parse_int(text, 1, last) or 1


def as_id(text: Any) -> int:
    """Coerce a select's value to an id (WTForms `coerce=`): ValueError unless 1..MAX_ID."""
    if isinstance(text, int) and not isinstance(text, bool) and 1 <= text <= MAX_ID:
        return text  # choices and defaults are ints already
    number = parse_int(text, 1, MAX_ID)
    if number is None:
        raise ValueError(text)
    return number


def choice(text: Any, allowed: Iterable[str], default: T) -> str | T:
    """Return `text` stripped if it is one of `allowed`, else `default` (blank and unknown)."""
    if not isinstance(text, str):
        return default
    text = text.strip()
    return text if text and text in set(allowed) else default


class BoundedIntegerField(IntegerField):  # type: ignore[misc]  # WTForms is untyped
    """An IntegerField that reads ASCII digits only, within -MAX_ID..MAX_ID (via parse_int)."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Read the number, or keep None with the field's error for anything else."""
        if not valuelist:
            return
        self.data = parse_int(valuelist[0], -MAX_ID, MAX_ID)
        if self.data is None and str(valuelist[0]).strip():
            raise ValueError(self.invalid_value_message or _l("Please enter a whole number."))


class ChoiceField(SelectField):  # type: ignore[misc]  # WTForms is untyped
    """A select that strips its value and refuses blank and unknown values.

    WTForms' `Optional()` clears the choice error when the value is whitespace only, so
    " " reached views as a valid choice. The check here runs in `post_validate`, after the
    validator chain, so no validator can clear it. Whitespace only is refused; "" (nothing
    chosen) is accepted only if it is one of the choices.
    """

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Strip the submitted value before coercing it."""
        super().process_formdata([v.strip() if isinstance(v, str) else v for v in valuelist])

    def pre_validate(self, form: Any) -> None:
        """Check in post_validate instead (see the class docstring)."""

    def post_validate(self, form: Any, validation_stopped: bool) -> None:
        """Refuse a submitted value that is not one of the choices."""
        if not self.raw_data or self.process_errors or self.errors:
            return
        raw = self.raw_data[0]
        blank = isinstance(raw, str) and raw != "" and not raw.strip()
        if blank or not any(option.selected for option in self.iter_choices()):
            self.errors.append(self.invalid_choice_message or CHOOSE_FROM_LIST)


def _choice_value(option: Any) -> Any:
    """Return the value of a choice given as SelectChoice, (value, label) pair or value."""
    if hasattr(option, "value"):
        return option.value
    if isinstance(option, str | int):
        return option
    return option[0]


class IdsField(SelectMultipleField):  # type: ignore[misc]  # WTForms is untyped
    """A multiple select of ids: each value must be an id in range and one of the choices."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Coerce with `as_id`; unknown ids are refused as a field error."""
        kwargs.setdefault("coerce", as_id)
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Read every value as an id; one that is not (e.g. 99999999999) is a field error."""
        parsed = [parse_int(value, 1, MAX_ID) for value in valuelist]
        self.data: list[int] = [value for value in parsed if value is not None]
        if len(self.data) != len(parsed):
            raise ValueError(CHOOSE_FROM_LIST)

    def pre_validate(self, form: Any) -> None:
        """Refuse ids that are not among the choices (unless the service checks them)."""
        if self.process_errors or not self.data or not self.validate_choice:
            return
        allowed = {as_id(_choice_value(c)) for c in self.choices or []}
        if set(self.data) - allowed:
            raise FieldError(self.invalid_choice_message or CHOOSE_FROM_LIST)


class BoundedIntConverter(BaseConverter):
    """The `<int:...>` converter for every route: ASCII digits from 1 to MAX_ID, else 404."""

    regex = r"[0-9]{1,10}"  # not \d, which matches every Unicode digit
    weight = 50

    def to_python(self, value: str) -> int:
        """Return the id; a value out of range does not match the route (404)."""
        number = parse_int(value, 1, MAX_ID)
        if number is None:
            raise ValidationError()
        return number

    def to_url(self, value: Any) -> str:
        """Return the id as digits."""
        return str(int(value))
