"""What the event use cases share: limits and the messages of a refused registration."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

MAX_ID = 2**31 - 1  # larger ids do not exist (and overflow SQLite's integer)
TEXT_LIMITS = {
    "title": 200,
    "description": 5000,
    "place": 300,
    "accessibility_note": 500,
    "online_url": 500,
    "reason": 1000,
    "summary": 3000,
}
MAX_CAPACITY = 100_000
NOT_TAKING = _l("This event does not take registrations.")
STARTED = _l("Registration has closed: the event has already begun.")
ALREADY = _l("You are already registered for this event.")
LINK_INVALID = _l("This link is not valid. Please check that it is complete.")
