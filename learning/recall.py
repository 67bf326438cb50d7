"""Two-stage ranking: a cheap recall over every tool picks the candidates that get the full model.

A recommendation computes each tool's fit (description prior and learned evidence) for the
whole catalogue in a few vectorised steps, but reads performance records, draws posteriors
and builds explanations only for *candidates*: the ``RecallConfig.candidates`` tools with the
highest optimistic fit ``max(exp(log_fit - max log_fit), floor)`` (the fit a tool has in a
draw without noise, or its description floor), plus every tool that has served the intent's
context before (its served share can lift its fit to near 1 whatever its words say).

A tool outside the candidates has success and quality at most 1 and cost and latency at
least 0, so in a Thompson draw its utility is at most ``max(exp(log_fit + T g - M), floor)``,
with ``g`` its standard Gumbel noise, ``T`` the exploration temperature and ``M`` the draw's
highest noisy log-fit among the candidates. It can only outrank a candidate of utility ``w``
if ``floor >= w`` or ``g > (M + log w - log_fit) / T``, whose probability is below
``exp(-(M + log w - log_fit) / T)``. Summed over the tools outside (a union bound), the
chance that any of them would outrank ``w`` in a draw is at most

    exp(logsumexp(log_fit_outside / T) - (M + log w) / T)

which costs one log-sum-exp over the catalogue and one number per draw. :func:`leak_bound`
computes it for the winner of every draw (which tools win, the recorded probabilities) and
for the last of the ``top_k`` shown in the draw that is used; the recommender doubles the
candidates until both are below ``RecallConfig.leak_tolerance``. The recorded probability is
the share of draws a tool wins among the candidates: exactly the policy that ran.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
Indices = npt.NDArray[np.int64]


@dataclass(frozen=True)
class RecallConfig:
    """How many tools get the full model; defaults measured on MetaTool (see README)."""

    candidates: int = 32
    """Tools given the full utility model and the Thompson draws at first. 32 of MetaTool's
    199: the per-candidate work (records read, draws) is ~6x smaller than for every tool. In
    ``bench.recommend`` (7,220 calls, 6,000 of them while learning) the bound asked for more
    in 7.8 % of calls, 51 candidates on average (README, "The recommender's own cost")."""

    leak_tolerance: float = 1e-3
    """Largest accepted bound on the chance that a tool outside the candidates would have won
    a draw (averaged over the draws) or entered the shown list: at 1e-3 a recorded
    probability is off by at most 0.1 point, far below the +-5 points of 100 draws."""


@dataclass
class RecallStats:
    """How the candidates fared, counted by a recommender over its calls (for benchmarks)."""

    calls: int = 0
    widened: int = 0  # calls where the first candidates could not settle the answer
    candidates: int = 0  # candidates given the full model, summed over calls

    def as_dict(self) -> dict[str, float]:
        calls = max(self.calls, 1)
        return {
            "calls": self.calls,
            "widened_share": round(self.widened / calls, 5),
            "mean_candidates": round(self.candidates / calls, 2),
        }


def optimistic_order(log_fit: Array, floor: Array) -> Indices:
    """Tools by the fit they have in a draw without noise (or their floor), best first."""
    optimistic = np.maximum(np.exp(log_fit - log_fit.max()), floor)
    order: Indices = np.argsort(-optimistic, kind="stable")
    return order


def candidates(order: Indices, size: int, forced: Collection[int]) -> Indices:
    """The first ``size`` tools of ``order`` and every tool in ``forced``, in index order."""
    chosen = set(order[:size].tolist()) | set(forced)
    return np.array(sorted(chosen), dtype=np.int64)


def outside_mass(log_fit: Array, inside: Indices, temperature: float) -> float:
    """``logsumexp(log_fit / T)`` over the tools not in ``inside`` (-inf when none is left)."""
    mask = np.ones(log_fit.size, dtype=bool)
    mask[inside] = False
    if not mask.any():
        return float("-inf")
    scaled = log_fit[mask] / temperature
    top = float(scaled.max())
    return top + float(np.log(np.exp(scaled - top).sum()))


def leak_bound(
    log_mass: float,
    floor_outside: float,
    max_log_fit: Array,
    threshold: Array,
    temperature: float,
) -> Array:
    """Per draw, a bound on the chance that a tool outside the candidates has a utility above
    ``threshold`` (see the module docstring). ``max_log_fit`` is each draw's highest noisy
    log-fit among the candidates, ``floor_outside`` the highest floor outside."""
    out = np.ones_like(threshold)
    if log_mass == float("-inf"):
        return np.zeros_like(threshold)
    positive = threshold > max(floor_outside, 0.0)
    exponent = log_mass - (max_log_fit[positive] + np.log(threshold[positive])) / temperature
    out[positive] = np.minimum(1.0, np.exp(np.minimum(exponent, 0.0)))
    return out
