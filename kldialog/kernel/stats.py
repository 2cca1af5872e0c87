"""Small statistics shared by priority rounds, ratings and surveys (no numpy needed)."""

from __future__ import annotations

import math
from collections.abc import Mapping
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
