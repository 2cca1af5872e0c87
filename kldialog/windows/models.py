"""One windowed item: who may take part, whether it is published, and when it is open.

Priority rounds and surveys are both published by staff, open for a window of time and
limited to residents or verified residents. Their tables take the columns and the rules from
`WindowMixin`, so "open", "started", "ended" and "eligible" mean the same everywhere. The
stored values and constraint names are those both tables had before (no data change).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from kldialog.kernel.db import UTCDateTime, enum_column
from kldialog.kernel.time import utcnow


class Eligibility(enum.StrEnum):
    """Who may take part: every resident with an account, or verified residents only."""

    resident = "resident"  # confirmed account
    verified = "verified"  # redeemed a residency code

    def admits(self, user: Any) -> bool:
        """Return whether this rule lets the person in (residency is checked by permissions)."""
        return self is not Eligibility.verified or bool(getattr(user, "is_verified", False))


class Publication(enum.StrEnum):
    """Whether residents can see an item at all; open or closed follows from its window.

    Rounds and surveys had one enum each with exactly these two states, so they share one.
    Events keep their own `EventState`: they can also be cancelled, which these cannot.
    """

    draft = "draft"
    published = "published"


def moment(now: dt.datetime | None) -> dt.datetime:
    """Return `now` (aware) or the current time; a naive time is refused, not guessed."""
    if now is None:
        return utcnow()
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("a window is compared with aware times only")
    return now


class WindowMixin:
    """The window columns (opens_at, closes_at), eligibility and publication of an item.

    `has_started` and `has_ended` look at the clock only; `is_open` and `is_closed` also ask
    whether the item is published (a draft is never open, and never closed either).
    """

    # Whether closes_at gets its own index (rounds list by it; surveys have a composite one).
    closes_at_index: ClassVar[bool] = False

    @declared_attr
    def opens_at(cls) -> Mapped[dt.datetime]:
        """When the item starts accepting (UTC)."""
        return mapped_column(UTCDateTime())

    @declared_attr
    def closes_at(cls) -> Mapped[dt.datetime]:
        """When the item stops accepting (UTC); the window is [opens_at, closes_at)."""
        return mapped_column(UTCDateTime(), index=cls.closes_at_index or None)

    @declared_attr
    def eligibility(cls) -> Mapped[Eligibility]:
        """Who may take part."""
        return mapped_column(enum_column(Eligibility, "eligibility"), default=Eligibility.resident)

    @declared_attr
    def state(cls) -> Mapped[Publication]:
        """Draft (staff only) or published."""
        return mapped_column(enum_column(Publication, "state"), default=Publication.draft)

    @property
    def is_published(self) -> bool:
        """Return whether residents can see the item."""
        return self.state == Publication.published

    def has_started(self, now: dt.datetime | None = None) -> bool:
        """Return whether the window has opened at `now` (published or not)."""
        return moment(now) >= self.opens_at

    def has_ended(self, now: dt.datetime | None = None) -> bool:
        """Return whether the window is over at `now` (published or not)."""
        return moment(now) >= self.closes_at

    def is_open(self, now: dt.datetime | None = None) -> bool:
        """Return whether the item accepts now: published and inside the window."""
        now = moment(now)
        return self.is_published and self.has_started(now) and not self.has_ended(now)

    def is_closed(self, now: dt.datetime | None = None) -> bool:
        """Return whether a published item's window has ended (results are due or out)."""
        return self.is_published and self.has_ended(now)

    def phase(self, now: dt.datetime | None = None) -> str:
        """Return what staff lists show: "draft", "upcoming", "open" or "closed"."""
        now = moment(now)
        if not self.is_published:
            return "draft"
        if self.is_open(now):
            return "open"
        return "closed" if self.has_ended(now) else "upcoming"

    def is_upcoming(self, now: dt.datetime | None = None) -> bool:
        """Return whether taking part lies ahead: a draft, or published and not opened yet."""
        return not self.is_published or not self.has_started(now)
