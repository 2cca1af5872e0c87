"""Statistical disclosure control: the one rule every published figure follows.

1. A count is shown only if it is 0 or at least k (primary suppression); hidden cells must not be
   recoverable from published totals (complementary suppression: `hidden_cells`, `hidden_table`).
2. A figure derived from a distribution (mean, interval, share, rank distribution) is shown only
   when no cell of that distribution is hidden (`derived_figures_allowed`): with n and a mean on
   a 1–5 scale, the hidden cells could otherwise be solved for.
3. An aggregate that changes while people take part (ratings, running totals, interim results)
   is published as a stored *release*. A new release is made only after at least k contributions
   (new, changed or withdrawn) since the previous one, so the difference between two releases
   always covers at least k people (`contribute`, `release_of`).
4. With differential privacy on, noise is drawn once per release and stored in it (never per
   request, which could be averaged away), suppression is decided on the noisy figures, and
   every release spends ε from a budget recorded with it (`Release.epsilon_spent`).

The release table holds aggregates only, never an individual contribution, and no time finer
than the day (a release's exact moment would date the last contributor).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kldialog.kernel.db import Model, db
from kldialog.kernel.time import utcnow


class Release(Model):
    """The published state of one continuously updated aggregate, and what is still pending."""

    __tablename__ = "disclosure_release"

    # What is released, e.g. "rating:12:benefit", "round:3:totals", "survey:7:results".
    key: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    # Contributions counted in the published payload (None: nothing published yet).
    n: Mapped[int | None]
    payload: Mapped[Any | None] = mapped_column(sa.JSON)
    # Contributions (new, changed, withdrawn) since the payload was computed.
    pending: Mapped[int] = mapped_column(default=0)
    # Differential privacy: ε spent on this key's releases so far (0 without noise).
    epsilon_spent: Mapped[float] = mapped_column(default=0.0)
    released_on: Mapped[dt.date | None]

    __table_args__ = (
        sa.CheckConstraint("pending >= 0", name="pending_not_negative"),
        sa.CheckConstraint("epsilon_spent >= 0", name="epsilon_not_negative"),
    )

    def __repr__(self) -> str:
        return f"<Release {self.key} n={self.n} pending={self.pending}>"


# --- suppression of cells --------------------------------------------------------------------


def hidden_cells(counts: Sequence[int], k: int) -> list[bool]:
    """Return which cells of a partition to hide so none below k can be told or derived.

    Primary suppression hides every count with 0 < count < k. Because the total of the partition
    is published, complementary suppression then hides further cells (the smallest first) until
    no hidden cell can be recovered by subtraction: either nothing is hidden, or at least two
    cells are hidden and their sum is at least k. Zero cells are shown ("nobody chose this").
    """
    return _complete_line(counts, [0 < count < k for count in counts], k)


def hidden_table(table: Sequence[Sequence[int]], k: int) -> list[list[bool]]:
    """Return hidden flags for a two-way table whose row and column totals are known.

    Primary suppression, then complementary suppression row by row and column by column until
    every row and every column is safe on its own (see hidden_cells). This is the usual
    heuristic: it stops recovery by subtraction along a line, not every linear-programming attack.
    """
    rows = len(table)
    cols = len(table[0]) if rows else 0
    hidden = [[0 < table[r][c] < k for c in range(cols)] for r in range(rows)]
    changed = True
    while changed:
        changed = False
        lines = [[(r, c) for c in range(cols)] for r in range(rows)]
        lines += [[(r, c) for r in range(rows)] for c in range(cols)]
        for line in lines:
            already = [hidden[r][c] for r, c in line]
            if not any(already):
                continue
            wanted = _complete_line([table[r][c] for r, c in line], already, k)
            for (r, c), flag in zip(line, wanted, strict=True):
                if flag and not hidden[r][c]:
                    hidden[r][c] = True
                    changed = True
    return hidden


def _complete_line(counts: Sequence[int], hidden: Sequence[bool], k: int) -> list[bool]:
    """Extend the hidden cells of one line until they are safe against subtraction."""
    result = list(hidden)
    while True:
        hidden_counts = [c for c, h in zip(counts, result, strict=True) if h]
        if not hidden_counts or (len(hidden_counts) >= 2 and sum(hidden_counts) >= k):
            return result
        candidates = [i for i, h in enumerate(result) if not h]
        if not candidates:
            return result
        # Prefer the smallest non-zero cell; hide a zero only when nothing else is left.
        smallest = min(candidates, key=lambda i: (counts[i] == 0, counts[i]))
        result[smallest] = True


def count_allowed(n: int, k: int) -> bool:
    """Return whether a number of people may be published (none, or at least k)."""
    return n == 0 or n >= k


def derived_figures_allowed(counts: Sequence[int], k: int) -> bool:
    """Return whether a mean, interval or share may be shown next to this distribution.

    Only when its total is publishable and none of its cells is hidden: otherwise the figure and
    the visible cells together let someone solve for the hidden ones.
    """
    return sum(counts) >= k and not any(hidden_cells(counts, k))


# --- releases of continuously updated aggregates ----------------------------------------------


def release_of(key: str) -> Release | None:
    """Return the stored release of an aggregate (None: never released)."""
    return db.session.get(Release, key)


def contribute(
    key: str,
    k: int,
    compute: Callable[[], tuple[int, Any]],
    *,
    epsilon: float = 0.0,
    count: int = 1,
) -> Release:
    """Count a contribution to an aggregate and make a new release when at least k are pending.

    Call it in the transaction that writes the contribution. `compute` returns (n, payload)
    from the current data; it runs only when a release is due, and a release is stored only
    once n reaches k. `epsilon` is what one release spends (differential privacy).
    """
    release = db.session.get(Release, key, with_for_update=True)
    if release is None:
        release = Release(key=key, n=None, payload=None, pending=0, epsilon_spent=0.0)
        db.session.add(release)
    release.pending = (release.pending or 0) + count
    if release.pending >= k:
        n, payload = compute()
        if n >= k:
            release.n, release.payload = n, payload
            release.pending = 0
            release.epsilon_spent = (release.epsilon_spent or 0.0) + epsilon
            release.released_on = utcnow().date()
    return release


def release_now(
    key: str, compute: Callable[[], tuple[int, Any]], *, epsilon: float = 0.0
) -> Release:
    """Make a release regardless of pending contributions (a final one, e.g. at close)."""
    release = db.session.get(Release, key, with_for_update=True)
    if release is None:
        release = Release(key=key, pending=0, epsilon_spent=0.0)
        db.session.add(release)
    release.n, release.payload = compute()
    release.pending = 0
    release.epsilon_spent = (release.epsilon_spent or 0.0) + epsilon
    release.released_on = utcnow().date()
    return release


def forget_releases(prefix: str) -> None:
    """Delete the releases whose key starts with prefix (their aggregate no longer exists)."""
    db.session.execute(sa.delete(Release).where(Release.key.startswith(prefix, autoescape=True)))
