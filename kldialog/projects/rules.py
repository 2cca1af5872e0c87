"""Input rules the roadmap's use cases share: slugs, text cleaning, length limits, ids."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from flask_babel import lazy_gettext as _l

from kldialog.kernel.errors import RuleViolation, at_most_characters

_TRANSLITERATION = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
)


def slugify(text: str, max_length: int = 120) -> str:
    """Turn a German title into an ASCII slug ("Verkehr & Mobilität" -> "verkehr-mobilitaet")."""
    ascii_text = (
        unicodedata.normalize("NFKD", text.translate(_TRANSLITERATION))
        .encode("ascii", "ignore")
        .decode()
    )
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_length].rstrip("-")


# Addresses staff type: lower-case words joined by single hyphens ("digitale-schule").
SLUG_RULE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# The longest texts the console accepts; the forms say the same, the services make sure.
TEXT_LIMITS = {
    "title": 300,
    "slug": 120,
    "summary": 2000,
    "description": 20000,
    "department": 300,
    "reason": 2000,
    "body": 20000,
    "author": 200,
    "name": 120,
}
MAX_ID = 2**31 - 1  # ids beyond a 32-bit integer do not exist (and would overflow queries)


LOST_RACE = _l(
    "Your change could not be saved because the data was changed at the same time. "
    "Please check the page and try again."
)


def clean_line(text: str | None) -> str:
    """Normalise one-line text: NFC, runs of whitespace folded to one space, trimmed."""
    return " ".join(unicodedata.normalize("NFC", text or "").split())


def clean_text(text: str | None) -> str:
    """Normalise multi-line text: NFC, Unix line ends, no trailing spaces or outer blank lines."""
    text = unicodedata.normalize("NFC", text or "").replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def limited(kind: str, value: str, field_name: str | None = None) -> str:
    """Refuse a text longer than the console accepts for its kind."""
    limit = TEXT_LIMITS[kind]
    if len(value) > limit:
        raise RuleViolation(at_most_characters(limit), field=field_name or kind)
    return value


def past_date(value: dt.date | None, field_name: str) -> dt.date:
    """Return the date (today if empty); refuse dates in the future."""
    today = dt.date.today()
    date = value or today
    if date > today:
        raise RuleViolation(_l("The date must not be in the future."), field=field_name)
    return date
