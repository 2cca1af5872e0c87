"""Statistical disclosure control: the one rule every published figure follows.

1. A count is shown only if it is 0 or at least k (primary suppression); hidden cells must not be
   recoverable from published totals (complementary suppression: `hidden_cells`, `hidden_table`).
2. A figure derived from a distribution (mean, interval, share, rank distribution) is shown only
   when no cell of that distribution is hidden (`derived_figures_allowed`): with n and a mean on
   a 1–5 scale, the hidden cells could otherwise be solved for.
3. A mean over a small bounded scale that is published *without* its distribution (indicator
   ratings) is shown only if n, the mean and its interval leave at least k contributors who are
   not pinned to one value (`mean_allowed`): a mean of 5.0 with n = 5 says all five gave 5.
4. An aggregate that changes while people take part (ratings, running totals, interim results)
   is published as a stored *release*. A new snapshot is taken only after at least k distinct
   contributors (a new, changed or withdrawn contribution; one person changing five times is
   one) since the previous one, so two releases always differ by at least k people
   (`contribute`, `release_of`). Where a final figure follows the releases (running totals →
   round result), a release *lags* one step: the snapshot taken at the m-th step is published
   only at the (m+1)-th, so the final figure is always at least k people away from every
   published one, and the unpublished snapshot is deleted with the release at the close.
5. With differential privacy on, noise is drawn once per release and stored in it (never per
   request, which could be averaged away), suppression is decided on the noisy figures, and
   every release spends ε from a budget recorded with it (`Release.epsilon_spent`).

The release table holds aggregates only, never an individual contribution, and no time finer
than the day (a release's exact moment would date the last contributor). It holds, until the
next snapshot, keyed digests of who contributed since the last one (to count people, not
clicks): nothing a database reader could not already read from the contributions themselves.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from flask import current_app
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
    # Lagging releases: the snapshot taken at the last step, published at the next one.
    staged_n: Mapped[int | None]
    staged_payload: Mapped[Any | None] = mapped_column(sa.JSON)
    # Distinct contributors (new, changed, withdrawn) since the last snapshot was taken.
    pending: Mapped[int] = mapped_column(default=0)
    # Keyed digests of those contributors, so a person changing k times counts once.
    contributors: Mapped[list[str] | None] = mapped_column(sa.JSON)
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


# --- means published without their distribution -----------------------------------------------


def pinned_counts(counts: Mapping[int, int], lowest: int = 1, highest: int = 5) -> dict[int, int]:
    """Return per scale value the fewest contributors any distribution with this n, Σx, Σx² has.

    The reader is assumed to know n, the sum and the sum of squares exactly: the mean and its
    interval give them (three decimals in the council CSV, full precision in the API), and any
    rounding can only leave the reader knowing less. With the mean alone (no interval) the top
    bound is n·(mean − (highest − 1)): everyone else gave at most highest − 1.
    """
    values = range(lowest, highest + 1)
    full = [int(counts.get(v, 0)) for v in values]
    n = sum(full)
    total = sum(i * c for i, c in enumerate(full))
    squares = sum(i * i * c for i, c in enumerate(full))
    low, _high = _bounds(len(full), n, total, squares)
    return {v: low[i] for i, v in enumerate(values)}


def determined_counts(
    counts: Mapping[int, int], lowest: int = 1, highest: int = 5
) -> dict[int, int]:
    """Return the scale values whose count n, Σx and Σx² fix exactly, with that count."""
    values = range(lowest, highest + 1)
    full = [int(counts.get(v, 0)) for v in values]
    n = sum(full)
    total = sum(i * c for i, c in enumerate(full))
    squares = sum(i * i * c for i, c in enumerate(full))
    low, high = _bounds(len(full), n, total, squares)
    return {v: low[i] for i, v in enumerate(values) if low[i] == high[i]}


@functools.lru_cache(maxsize=4096)
def _bounds(size: int, n: int, total: int, squares: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Return (min, max) count per value 0..size-1 over the counts with this n, Σy and Σy²."""
    if size <= 3:
        # Three equations fix up to three counts: the distribution itself is known.
        known = tuple(_solve_small(size, n, total, squares))
        return known, known
    best = [n] * size
    most = [0] * size
    # Enumerate the counts of all but the top four values; the top four, with three equations
    # left, lie on a line: their counts are a + b·t with b = (−1, 3, −3, 1), t = top count.
    for head in _heads(size - 4, n, total, squares):
        used = sum(head)
        rest_n = n - used
        base = size - 4
        s_y = total - sum(i * c for i, c in enumerate(head)) - base * rest_n
        q_y = (
            squares
            - sum(i * i * c for i, c in enumerate(head))
            - 2 * base * (s_y + base * rest_n)
            + base * base * rest_n
        )
        if s_y < 0 or q_y < s_y or (q_y - s_y) % 2:
            continue
        alpha = (
            rest_n - 2 * s_y + q_y - (q_y - s_y) // 2,
            2 * s_y - q_y,
            (q_y - s_y) // 2,
            0,
        )
        beta = (-1, 3, -3, 1)
        t_low, t_high = 0, rest_n
        for a, b in zip(alpha, beta, strict=True):
            if b > 0:
                t_low = max(t_low, -(a // b))  # ceil(-a / b)
            else:
                t_high = min(t_high, a // -b)
        if t_low > t_high:
            continue
        for i, c in enumerate(head):
            best[i] = min(best[i], c)
            most[i] = max(most[i], c)
        for j, (a, b) in enumerate(zip(alpha, beta, strict=True)):
            # A linear function on [t_low, t_high] takes its minimum and maximum at the ends.
            ends = (a + b * t_low, a + b * t_high)
            best[base + j] = min(best[base + j], *ends)
            most[base + j] = max(most[base + j], *ends)
    return tuple(best), tuple(most)


def _heads(length: int, n: int, total: int, squares: int) -> list[tuple[int, ...]]:
    """Return the possible counts of the lowest `length` values (pruned by n and Σy)."""
    if length == 0:
        return [()]
    heads: list[tuple[int, ...]] = []
    for first in range(n + 1):
        heads += [(first, *tail) for tail in _heads(length - 1, n - first, total, squares)]
    return heads


def _solve_small(size: int, n: int, total: int, squares: int) -> list[int]:
    """Return the counts of a scale of at most three values from n, Σy and Σy²."""
    if size == 1:
        return [n]
    if size == 2:
        return [n - total, total]
    two = (squares - total) // 2  # Σy² − Σy = 2·c2
    return [n - (total - 2 * two) - two, total - 2 * two, two]


def mean_allowed(counts: Mapping[int, int], k: int, lowest: int = 1, highest: int = 5) -> bool:
    """Return whether a mean (with or without interval) may be shown without its distribution."""
    # Two rules. (1) No group disclosure: at least k contributors could each have given another
    # value than any one value v, i.e. max over v of pinned(v) ≤ n − k (n = 5, mean 4.8 pins four
    # to 5). (2) No hidden cell solved: a bar below k would be suppressed, so the mean and its
    # interval must not fix any count between 1 and k − 1 ({5: 5, 4: 4, 3: 1} with n = 10 is
    # the only distribution with its n, Σx, Σx²: the lone 3 would be known).
    n = sum(counts.values())
    if n < k:
        return False
    small = any(0 < c < k for c in counts.values())
    if max(counts.values()) <= n - k and not small:
        return True  # the true distribution is consistent: nothing is pinned or solved further
    if max(pinned_counts(counts, lowest, highest).values()) > n - k:
        return False
    return not any(0 < c < k for c in determined_counts(counts, lowest, highest).values())


# --- releases of continuously updated aggregates ----------------------------------------------


def release_of(key: str) -> Release | None:
    """Return the stored release of an aggregate (None: never released)."""
    return db.session.get(Release, key)


def contributor_tag(key: str, contributor: object) -> str:
    """Return a keyed digest of a contributor, valid for one aggregate only."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    message = f"{key}\0{contributor}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:24]


def contribute(
    key: str,
    k: int,
    compute: Callable[[], tuple[int, Any]],
    *,
    epsilon: float = 0.0,
    count: int = 1,
    contributor: object | None = None,
    lag: bool = True,
    remember: bool = True,
) -> Release:
    """Count a contribution to an aggregate and take a snapshot once k people are pending.

    Call it in the transaction that writes the contribution. `contributor` (e.g. an account id)
    makes a person count once per step however often they change; None counts `count` new
    people. `compute` returns (n, payload) from the current data; it runs only when a snapshot
    is due, and one is kept only once n reaches k. With `lag` the snapshot waits as
    `staged_*` and the one before it is published, so every published figure is at least k
    people away from anything computed later, the final figure included. `epsilon` is what one
    snapshot spends (differential privacy). `remember=False` (account deletion) counts the
    person without keeping their digest, and drops it if they were counted already.
    """
    release = db.session.get(Release, key, with_for_update=True)
    if release is None:
        release = Release(key=key, n=None, payload=None, pending=0, epsilon_spent=0.0)
        db.session.add(release)
    if contributor is not None:
        seen = list(release.contributors or [])
        tag = contributor_tag(key, contributor)
        if tag in seen:
            if not remember:  # counted already; keep no trace of a deleted account
                release.contributors = [t for t in seen if t != tag] or None
            return release  # the same person again within one step: still one person
        if remember:
            release.contributors = [*seen, tag]
    release.pending = (release.pending or 0) + count
    if release.pending >= k:
        n, payload = compute()
        if n >= k:
            if not lag:
                release.n, release.payload = n, payload
                release.released_on = utcnow().date()
            elif release.staged_payload is not None:
                release.n, release.payload = release.staged_n, release.staged_payload
                release.released_on = utcnow().date()
            if lag:
                release.staged_n, release.staged_payload = n, payload
            release.pending = 0
            release.contributors = None
            release.epsilon_spent = (release.epsilon_spent or 0.0) + epsilon
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
    release.staged_n, release.staged_payload = None, None
    release.pending = 0
    release.contributors = None
    release.epsilon_spent = (release.epsilon_spent or 0.0) + epsilon
    release.released_on = utcnow().date()
    return release


def forget_releases(prefix: str) -> None:
    """Delete the releases whose key starts with prefix (their aggregate no longer exists)."""
    db.session.execute(sa.delete(Release).where(Release.key.startswith(prefix, autoescape=True)))
