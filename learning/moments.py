"""Count, mean and variance of a metric in one pass (Welford), mergeable across shards.

Kept as ``[n, mean, m2]`` (``m2`` the sum of squared deviations from the mean) so a changelog
table can hold it; two shards merge exactly (Chan, Golub and LeVeque's parallel update), which
is how statistics written per partition are summed on read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Moments:
    """Statistics of the values seen so far; every operation returns a new value."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, x: float) -> Moments:
        n = self.n + 1
        delta = x - self.mean
        mean = self.mean + delta / n
        return Moments(n, mean, self.m2 + delta * (x - mean))

    def merge(self, other: Moments) -> Moments:
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        return Moments(n, mean, self.m2 + other.m2 + delta * delta * self.n * other.n / n)

    @property
    def variance(self) -> float:
        """The sample variance (n - 1 in the denominator); 0 below two values."""
        return self.m2 / (self.n - 1) if self.n > 1 else 0.0

    @property
    def sd(self) -> float:
        return math.sqrt(max(self.variance, 0.0))

    def to_record(self) -> list[float]:
        return [self.n, self.mean, self.m2]

    @classmethod
    def from_record(cls, record: Sequence[float] | None) -> Moments:
        if not record:
            return cls()
        n, mean, m2 = record
        return cls(int(n), float(mean), float(m2))

    @classmethod
    def of(cls, values: Iterable[float]) -> Moments:
        moments = cls()
        for x in values:
            moments = moments.add(x)
        return moments


def merged(parts: Iterable[Moments]) -> Moments:
    total = Moments()
    for part in parts:
        total = total.merge(part)
    return total
