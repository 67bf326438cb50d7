"""Verdicts that stay valid however often people look: confidence sequences and an SRM check.

A fixed-horizon t-test read every minute finds a "significant" difference between two equal
variants far more often than its alpha says. A confidence sequence is a confidence interval
that holds at every sample size at once: the chance that it *ever* excludes the true
difference is at most alpha, so reading it after every outcome and stopping at the first
verdict is fine.

The sequence here is the normal-mixture one (Robbins; the mixture SPRT of Johari et al.,
"Always valid inference", and the asymptotic confidence sequences of Waudby-Smith et al.
2021). With the difference ``d`` of the two means, its variance ``V = s1²/n1 + s2²/n2`` and
a normal mixing distribution of variance ``tau²`` over the true difference, the mixture
likelihood ratio against a difference ``d0`` is::

    L(d0) = sqrt(V / (V + tau²)) * exp((d - d0)² tau² / (2 V (V + tau²)))

and the set of ``d0`` with ``L(d0) < 1 / alpha`` is the sequence at this sample size:
``d ± sqrt(V (V + tau²) / tau² * (2 log(1/alpha) + log((V + tau²) / V)))``. Variances are
estimated, so validity is asymptotic (hence ``min_samples``).

The sample-ratio-mismatch check asks whether the counts per variant fit the configured
shares (Pearson chi-square); a tiny p-value means assignment or logging is broken and no
verdict of the experiment can be trusted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from learning.moments import Moments


@dataclass(frozen=True)
class SequentialConfig:
    """How a comparison decides; defaults documented per field."""

    alpha: float = 0.05
    """Chance that the sequence ever excludes the true difference, over all looks."""

    tightest_at: int = 1000
    """Observations per variant at which the sequence is narrowest relative to a fixed-horizon
    interval. The mixture spread is
    chosen for it (as Waudby-Smith et al. choose it): a sequence tuned for 1,000 is about 1.5x
    wider there than a fixed-horizon 95 % interval, 2x at 100 and 1.8x at 100,000."""

    min_samples: int = 30
    """Observations per variant before any verdict: the normal approximation and the
    estimated variances need this many (a Bernoulli metric at 10 % has 3 successes at 30)."""

    @property
    def mixture_ratio(self) -> float:
        """rho, the mixture's standard deviation in units of the per-pair standard deviation."""
        log_term = -2.0 * math.log(self.alpha)
        return math.sqrt((log_term + math.log(log_term + 1.0)) / self.tightest_at)


@dataclass(frozen=True)
class Comparison:
    """Treatment minus control, with the confidence sequence at the current sample sizes."""

    difference: float
    lower: float
    upper: float
    verdict: str
    """'better' / 'worse' (the sequence excludes 0), 'inconclusive', or 'too_few' samples."""

    def as_dict(self) -> dict[str, float | str | None]:
        """JSON-ready: an unbounded side (too few samples) is None, not Infinity."""
        return {
            "difference": self.difference,
            "lower": self.lower if math.isfinite(self.lower) else None,
            "upper": self.upper if math.isfinite(self.upper) else None,
            "verdict": self.verdict,
        }


def confidence_radius(variance: float, spread: float, alpha: float) -> float:
    """Half-width of the mixture sequence for an estimate of variance ``variance``.

    ``spread`` is the mixing variance tau² (same units as ``variance``)."""
    if variance <= 0.0 or spread <= 0.0:
        return 0.0 if variance <= 0.0 else math.inf
    ratio = (variance + spread) / variance
    scale = variance * (variance + spread) / spread
    return math.sqrt(scale * (2.0 * math.log(1.0 / alpha) + math.log(ratio)))


def compare(
    control: Moments, treatment: Moments, config: SequentialConfig | None = None
) -> Comparison:
    """The current confidence sequence for ``treatment.mean - control.mean``."""
    config = config or SequentialConfig()
    difference = treatment.mean - control.mean
    if min(control.n, treatment.n) < config.min_samples:
        return Comparison(difference, -math.inf, math.inf, "too_few")
    variance = control.variance / control.n + treatment.variance / treatment.n
    pair_variance = control.variance + treatment.variance
    if variance <= 0.0:  # both constant: the difference is known exactly
        verdict = "inconclusive" if difference == 0 else _sign(difference)
        return Comparison(difference, difference, difference, verdict)
    radius = confidence_radius(variance, config.mixture_ratio**2 * pair_variance, config.alpha)
    lower, upper = difference - radius, difference + radius
    verdict = "inconclusive" if lower <= 0.0 <= upper else _sign(difference)
    return Comparison(difference, lower, upper, verdict)


def _sign(difference: float) -> str:
    return "better" if difference > 0 else "worse"


@dataclass(frozen=True)
class SrmCheck:
    chi_square: float
    p_value: float
    flagged: bool
    expected: dict[str, float]

    def as_dict(self) -> dict[str, object]:
        return {
            "chi_square": self.chi_square,
            "p_value": self.p_value,
            "flagged": self.flagged,
            "expected": self.expected,
        }


# p < 0.001: strict, as experimentation platforms use for SRM (Fabijan et al., "Diagnosing
# sample ratio mismatch", KDD 2019, use 0.0005), because the check runs on every look and a
# false alarm stops an experiment.
SRM_THRESHOLD = 0.001


def sample_ratio_mismatch(
    counts: Mapping[str, int], shares: Mapping[str, float], threshold: float = SRM_THRESHOLD
) -> SrmCheck:
    """Pearson's chi-square of observed counts against the configured shares."""
    if set(counts) - set(shares):
        unknown = ", ".join(sorted(set(counts) - set(shares)))
        raise ValueError(f"counts for variants without a share: {unknown}")
    total_share = sum(shares.values())
    if total_share <= 0:
        raise ValueError("shares must sum to more than 0")
    total = sum(counts.values())
    expected = {v: total * s / total_share for v, s in shares.items()}
    if total == 0 or len(shares) < 2:
        return SrmCheck(0.0, 1.0, False, expected)
    chi = sum((counts.get(v, 0) - e) ** 2 / e for v, e in expected.items() if e > 0)
    p = chi_square_sf(chi, len(shares) - 1)
    return SrmCheck(chi, p, p < threshold, expected)


def chi_square_sf(x: float, dof: int) -> float:
    """P(X > x) for X chi-square with ``dof`` degrees of freedom (upper regularized gamma)."""
    if x <= 0:
        return 1.0
    return _gamma_q(dof / 2.0, x / 2.0)


def _gamma_q(a: float, x: float) -> float:
    # Numerical Recipes 6.2: the series converges fast below a + 1, the continued fraction above.
    if x < a + 1.0:
        term = total = 1.0 / a
        k = a
        for _ in range(1000):
            k += 1.0
            term *= x / k
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - math.lgamma(a)))
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h
