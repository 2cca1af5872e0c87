"""Differential privacy for survey releases: noise drawn once per release, ε accounted.

Every count of a release gets discrete Laplace noise (sensitivity 1, scale 1/ε) when the
release is made, and the noisy release is stored (kernel.disclosure): reading it again never
draws new noise, so averaging many requests learns nothing. Suppression and derived figures
are decided on the noisy counts. `Noise.spent` adds up what one release costs (sequential
composition): a histogram in which each person is in one cell costs ε (parallel
composition); a count a person can add to several times costs ε per count.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

_random = random.SystemRandom()


def laplace_sampler(epsilon: float) -> Callable[[int], int]:
    """Return a function adding discrete Laplace noise for a count query (sensitivity 1).

    OpenDP is used when installed (the `dp` extra); otherwise a documented fallback draws the
    same two-sided geometric distribution from the operating system's random source.
    """
    scale = 1.0 / epsilon
    try:
        import opendp.prelude as dp

        dp.enable_features("contrib")
        measurement = dp.m.make_laplace(
            dp.atom_domain(T=int), dp.absolute_distance(T=int), scale=scale
        )
        return lambda value: int(measurement(int(value)))
    except ImportError:
        alpha = math.exp(-epsilon)

        def geometric() -> int:
            # Number of failures before the first success with success probability 1 - alpha.
            u = 1.0 - _random.random()
            return int(math.floor(math.log(u) / math.log(alpha))) if alpha > 0 else 0

        return lambda value: int(value) + geometric() - geometric()


class Noise:
    """Noise for one release, counting the ε it spends."""

    def __init__(self, epsilon: float) -> None:
        """Draw with scale 1/epsilon."""
        self.epsilon = epsilon
        self.spent = 0.0
        self._sample = laplace_sampler(epsilon)

    def count(self, value: int) -> int:
        """Return one noisy count, never below 0 (costs ε)."""
        self.spent += self.epsilon
        return max(0, self._sample(value))

    def histogram(self, values: Sequence[int]) -> list[int]:
        """Return noisy cells of a partition, each person in one cell (costs ε in all)."""
        self.spent += self.epsilon
        return [max(0, self._sample(value)) for value in values]

    def counts(self, values: Sequence[int], contributions: int) -> list[int]:
        """Return noisy counts a person adds to up to `contributions` times (costs that × ε)."""
        self.spent += self.epsilon * max(1, min(contributions, len(values)))
        return [max(0, self._sample(value)) for value in values]
