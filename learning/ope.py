"""Off-policy evaluation: what another strategy would have achieved on recorded decisions.

Each logged decision has the context it was made in, the action taken, the probability the
logging strategy gave that action (recorded on the plan), the reward observed, and the
probability the target strategy gives every action in that context. Two estimators:

* **Clipped inverse propensity (IPS)**: the mean of ``min(w, clip) * r`` with
  ``w = target(a) / logged(a)``. Unbiased without clipping when logged probabilities are
  right and every action the target takes was possible; clipping trades a little bias
  (towards zero) for bounded variance.
* **Doubly robust (DR)**: a reward model ``q(x, a)`` (mean reward per context and action,
  shrunk to the action's mean) supplies the target's expected reward, and the weighted
  residual of the logged action corrects the model's error:
  ``sum_a target(a) q(x, a) + min(w, clip) (r - q(x, a_logged))``. The model is fitted on
  the other folds (cross-fitting), so a decision's own reward does not cancel its residual.

Intervals are normal ones over the per-decision terms (their mean is the estimate). The
effective sample size ``(sum w)² / sum w²`` says how many on-policy decisions the weighted
sample is worth: far below ``n`` means the target acts where the logging strategy rarely did.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True)
class LoggedDecision:
    """One recorded choice and what happened."""

    context: str
    action: str
    propensity: float
    """Probability the logging strategy gave ``action``; must be > 0."""
    reward: float
    target: Mapping[str, float]
    """Probability the evaluated strategy gives each action here (missing: 0)."""


@dataclass(frozen=True)
class OpeConfig:
    """Estimator settings; defaults documented per field."""

    clip: float = 20.0
    """Largest importance weight used. A weight of 20 means the target takes an action 20x
    more often than logging did; beyond that one decision can move the estimate by more
    than the rest of a few hundred, and the variance estimate itself becomes unreliable."""

    confidence: float = 0.95
    """Two-sided coverage of the intervals."""

    folds: int = 2
    """Cross-fitting folds for the doubly robust reward model."""

    prior_weight: float = 2.0
    """Pseudo-observations pulling a context-action mean towards the action's overall mean:
    a pair seen once does not get its one reward as the model's answer."""

    def __post_init__(self) -> None:
        if self.clip <= 0 or not 0 < self.confidence < 1 or self.folds < 1:
            raise ValueError(
                f"OpeConfig needs clip > 0, 0 < confidence < 1 and folds >= 1; got clip "
                f"{self.clip}, confidence {self.confidence}, folds {self.folds}"
            )


@dataclass(frozen=True)
class Estimate:
    value: float
    lower: float
    upper: float
    stderr: float

    def covers(self, x: float) -> bool:
        return self.lower <= x <= self.upper

    def as_dict(self) -> dict[str, float]:
        return {
            "value": self.value,
            "lower": self.lower,
            "upper": self.upper,
            "stderr": self.stderr,
        }


@dataclass(frozen=True)
class OpeReport:
    n: int
    logged: Estimate
    """The logging strategy's own mean reward, for comparison."""
    ips: Estimate
    dr: Estimate
    effective_sample_size: float
    clipped_share: float
    """Share of decisions whose weight was clipped."""

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "logged": self.logged.as_dict(),
            "ips": self.ips.as_dict(),
            "dr": self.dr.as_dict(),
            "effective_sample_size": self.effective_sample_size,
            "clipped_share": self.clipped_share,
        }


class OpeError(ValueError):
    """The decisions cannot be evaluated; the message says which and why."""


def evaluate(decisions: Sequence[LoggedDecision], config: OpeConfig | None = None) -> OpeReport:
    config = config or OpeConfig()
    if not decisions:
        raise OpeError("no logged decisions to evaluate (is the history empty for this range?)")
    for i, d in enumerate(decisions):
        if not 0.0 < d.propensity <= 1.0:
            raise OpeError(
                f"decision {i} ({d.action} in {d.context!r}) has logged probability "
                f"{d.propensity}; it must be in (0, 1]: only decisions that recorded their "
                "choice probability can be evaluated"
            )
    weights = [d.target.get(d.action, 0.0) / d.propensity for d in decisions]
    clipped = [min(w, config.clip) for w in weights]
    ips_terms = [w * d.reward for w, d in zip(clipped, decisions, strict=True)]
    model = _cross_fitted_model(decisions, config)
    dr_terms = []
    for i, (w, d) in enumerate(zip(clipped, decisions, strict=True)):
        q = model[i % config.folds]
        direct = sum(p * q(d.context, a) for a, p in d.target.items())
        dr_terms.append(direct + w * (d.reward - q(d.context, d.action)))
    total, squares = sum(clipped), sum(w * w for w in clipped)
    return OpeReport(
        n=len(decisions),
        logged=_mean_interval([d.reward for d in decisions], config.confidence),
        ips=_mean_interval(ips_terms, config.confidence),
        dr=_mean_interval(dr_terms, config.confidence),
        effective_sample_size=total * total / squares if squares > 0 else 0.0,
        clipped_share=sum(w > config.clip for w in weights) / len(weights),
    )


def _mean_interval(terms: Sequence[float], confidence: float) -> Estimate:
    n = len(terms)
    mean = sum(terms) / n
    variance = sum((t - mean) ** 2 for t in terms) / (n - 1) if n > 1 else 0.0
    stderr = math.sqrt(variance / n)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    return Estimate(mean, mean - z * stderr, mean + z * stderr, stderr)


class _RewardModel:
    """Mean reward per (context, action), shrunk to the action's mean, then the overall mean."""

    def __init__(self, decisions: Sequence[LoggedDecision], prior_weight: float) -> None:
        pair: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
        action: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        total = 0.0
        for d in decisions:
            for cell in (pair[(d.context, d.action)], action[d.action]):
                cell[0] += d.reward
                cell[1] += 1.0
            total += d.reward
        self._overall = total / len(decisions) if decisions else 0.0
        self._pair = dict(pair)
        self._action = dict(action)
        self._k = prior_weight

    def __call__(self, context: str, action: str) -> float:
        a_sum, a_n = self._action.get(action, (0.0, 0.0))
        action_mean = (a_sum + self._k * self._overall) / (a_n + self._k)
        p_sum, p_n = self._pair.get((context, action), (0.0, 0.0))
        return (p_sum + self._k * action_mean) / (p_n + self._k)


def _cross_fitted_model(
    decisions: Sequence[LoggedDecision], config: OpeConfig
) -> list[_RewardModel]:
    """Model ``f`` is fitted on every decision whose index is not ``f`` modulo the folds."""
    if config.folds < 2:
        return [_RewardModel(decisions, config.prior_weight)]
    return [
        _RewardModel(
            [d for i, d in enumerate(decisions) if i % config.folds != fold], config.prior_weight
        )
        for fold in range(config.folds)
    ]
