"""One way to read integers from URLs, query strings and forms: ASCII digits, within bounds.

`str.isdigit()` accepts "²" and "٣", which `int()` then refuses or reads as another number;
an unbounded id overflows PostgreSQL's integer columns. Everything that turns request text
into a number goes through `parse_int` (or the `int` URL converter below, which uses it).
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import BaseConverter, ValidationError

# The largest value of a PostgreSQL `integer` (and of every id column here).
MAX_ID = 2**31 - 1
_DIGITS = frozenset("0123456789")


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
