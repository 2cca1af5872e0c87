"""Small statistics shared by priority rounds, ratings and surveys (no numpy needed)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054  # two-sided 95 % quantile of the standard normal distribution


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Return the Wilson score interval for a share successes/n (0..1); (0, 0) when n is 0."""
    if n <= 0:
        return (0.0, 0.0)
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    margin = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # Clamp rounding noise so an interval never leaves [0, 1] or misses the observed share.
    return (max(0.0, min(p, centre - margin)), min(1.0, max(p, centre + margin)))


@dataclass(frozen=True)
class MeanEstimate:
    """A mean of small integer ratings with its normal-approximation 95 % interval."""

    n: int
    mean: float
    low: float
    high: float


def mean_interval(
    counts: Mapping[int, int], lowest: int = 1, highest: int = 5, z: float = Z95
) -> MeanEstimate:
    """Return the mean of ratings given as {value: count} with a 95 % interval clamped to scale."""
    n = sum(counts.values())
    if n <= 0:
        return MeanEstimate(0, 0.0, 0.0, 0.0)
    mean = sum(value * count for value, count in counts.items()) / n
    if n == 1:
        return MeanEstimate(1, mean, float(lowest), float(highest))
    variance = sum(count * (value - mean) ** 2 for value, count in counts.items()) / (n - 1)
    margin = z * math.sqrt(variance / n)
    return MeanEstimate(n, mean, max(lowest, mean - margin), min(highest, mean + margin))


def suppress_small_counts(counts: Mapping[str, int], k: int) -> dict[str, int | None]:
    """Return counts with every cell below k set to None, plus complementary suppression.

    The total of all cells is published elsewhere, so a single hidden cell could be recovered
    by subtraction; when exactly one cell is hidden, the smallest visible cell is hidden too.
    """
    shown: dict[str, int | None] = {
        key: (value if value >= k or value == 0 else None) for key, value in counts.items()
    }
    hidden = [key for key, value in shown.items() if value is None]
    if len(hidden) == 1:
        visible = [key for key, value in shown.items() if value]
        if visible:
            shown[min(visible, key=lambda key: (counts[key], key))] = None
    return shown


def tiers_from_rank_intervals(intervals: list[tuple[int, int]]) -> list[int]:
    """Return a tier number per item, given (low, high) rank intervals in observed rank order.

    A tier starts with the best-ranked item not yet placed and takes in every following item
    whose interval reaches into the first item's interval, so items the data cannot tell apart
    share a tier instead of getting a falsely precise place.
    """
    tiers: list[int] = []
    tier = 0
    anchor_high = -1
    for low, high in intervals:
        if not tiers or low > anchor_high:
            tier += 1
            anchor_high = high
        tiers.append(tier)
    return tiers


def suppress_cells(counts: Sequence[int], k: int) -> list[bool]:
    """Return which cells of a partition to hide so none below k can be told or derived.

    Primary suppression hides every count with 0 < count < k. Because the total of the partition
    is published, complementary suppression then hides further cells (the smallest first) until
    no hidden cell can be recovered by subtraction: either nothing is hidden, or at least two
    cells are hidden and their sum is at least k. Zero cells are shown ("nobody chose this").
    """
    hidden = [0 < count < k for count in counts]

    def needs_more() -> bool:
        hidden_counts = [c for c, h in zip(counts, hidden, strict=True) if h]
        if not hidden_counts:
            return False
        return len(hidden_counts) < 2 or sum(hidden_counts) < k  # noqa: PLR2004

    while needs_more():
        candidates = [i for i, h in enumerate(hidden) if not h]
        if not candidates:
            break
        # Prefer the smallest non-zero cell; hide a zero only when nothing else is left.
        smallest = min(candidates, key=lambda i: (counts[i] == 0, counts[i]))
        hidden[smallest] = True
    return hidden


def suppress_table(table: Sequence[Sequence[int]], k: int) -> list[list[bool]]:
    """Return hidden flags for a two-way table whose row and column totals are known.

    Applies primary suppression, then complementary suppression row by row and column by column
    until every row and every column is safe on its own (see suppress_cells). This is the usual
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
            counts = [table[r][c] for r, c in line]
            already = [hidden[r][c] for r, c in line]
            if not any(already):
                continue
            wanted = _complete_line(counts, already, k)
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
        if len(hidden_counts) >= 2 and sum(hidden_counts) >= k:  # noqa: PLR2004
            return result
        candidates = [i for i, h in enumerate(result) if not h]
        if not candidates:
            return result
        smallest = min(candidates, key=lambda i: (counts[i] == 0, counts[i]))
        result[smallest] = True


def randomised_response_estimate(
    yes: int, n: int, truth_probability: float = 0.5, z: float = Z95
) -> tuple[float, float, float]:
    """Return the estimated true yes-share and its 95 % interval under randomised response.

    Each person answers truthfully with probability p, otherwise by a fair coin (yes with 1/2),
    so P(reported yes) = p*pi + (1-p)/2 and pi = (lambda - (1-p)/2) / p. The Wilson interval
    of lambda is mapped through the same line, which widens it by the factor 1/p.
    """
    if n <= 0:
        return (0.0, 0.0, 0.0)
    p = truth_probability
    low, high = wilson_interval(yes, n, z)

    def unbias(share: float) -> float:
        return min(1.0, max(0.0, (share - (1 - p) / 2) / p))

    return (unbias(yes / n), unbias(low), unbias(high))
