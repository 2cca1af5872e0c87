"""One page of a list, and the query pair (count, page) that fetches it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from kldialog.kernel.db import db

T = TypeVar("T")


def page_count(total: int, per_page: int) -> int:
    """Return the number of pages (at least one, so an empty list still has page 1)."""
    return max(1, -(-total // per_page))


def clamp_page(page: int, total: int, per_page: int) -> int:
    """Return page within 1..last page (a too large number shows the last page)."""
    return min(max(1, page), page_count(total, per_page))


def page_window(page: int, pages: int, around: int = 2) -> list[int | None]:
    """Return the page numbers to link: first, last and a few around the current one.

    None marks a gap ("…"). Computed here because looping over every page number in a
    template cost more than the query once a list had a hundred pages.
    """
    shown = sorted({1, pages} | set(range(max(1, page - around), min(pages, page + around) + 1)))
    numbers: list[int | None] = []
    for number in shown:
        if numbers and number - (numbers[-1] or 0) > 1:
            numbers.append(None)
        numbers.append(number)
    return numbers


class Paged:
    """What the pagination links need, for any page object with total, page and per_page."""

    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """Return the number of pages (at least one)."""
        return page_count(self.total, self.per_page)

    def window(self, around: int = 2) -> list[int | None]:
        """Return the page numbers to link, with None for gaps."""
        return page_window(self.page, self.pages, around)


@dataclass(frozen=True)
class Page(Paged, Generic[T]):
    """One page of a list of items."""

    items: list[T]
    total: int
    page: int
    per_page: int


def paginate(
    query: sa.Select[*tuple[Any, ...]],
    *,
    count: sa.Select[Any],
    page: int,
    per_page: int,
    scalars: bool = True,
) -> Page[Any]:
    """Run `count`, clamp the page number, fetch that page of `query`: two statements."""
    total = db.session.scalar(count) or 0
    page = clamp_page(page, total, per_page)
    window = query.limit(per_page).offset((page - 1) * per_page)
    result = db.session.scalars(window) if scalars else db.session.execute(window)
    return Page(list(result.unique() if scalars else result), total, page, per_page)
