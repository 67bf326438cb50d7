"""Discounted Beta posteriors of success, and the decay that lets old evidence fade."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class PosteriorConfig:
    """How fast evidence about a tool's success and quality is forgotten."""

    discount: float = 0.95
    """Weight kept by past evidence at each new observation of the same record. 0.95 means
    the posterior remembers about 20 outcomes, so a reliable tool whose failures come mixed
    with successes drops below a 50 % success estimate after at most 14 failures (0.95**14
    < 0.5); failures in a row are caught sooner (``change_surprise``)."""

    half_life_s: float = 900.0
    """Evidence not refreshed halves every 15 minutes, so a tool that was dropped after failing
    becomes uncertain again and is retried within tens of minutes, not never; an outage of a
    tool rarely lasts less, so retrying sooner would mostly waste calls."""

    quality_half_life_s: float = 86_400.0
    """Quality evidence of a tool for a kind of intent fades over a day, not 15 minutes: an
    outage ends by itself, but a tool that gave poor answers for summaries does not start
    giving good ones while nobody calls it. (New observations still replace old ones at
    ``discount``.) With the outage half-life, the trade-off bench re-tried tools known to be
    poor for a task every few hundred intents."""

    change_surprise: float = 1e-3
    """A run of consecutive failures this unlikely under the tool's record before the run
    means the tool changed (an outage, a bad release): its past successes are cut to
    ``change_keep`` of their weight, so it drops after the run instead of after up to 14
    failures. For a tool at 93 % (its record with the prior) that is 3 failures in a row. A
    tool that really succeeds 97 % of the time runs into 3 in a row about once in 37,000
    calls; it is then passed over until the half-life fades those failures and it is tried
    again, and its record rebuilds with its successes."""

    change_keep: float = 0.1
    """Share of the past successes kept at a change (again at each further failure of the
    run): the record before the change says little about the tool after it."""

    prior_successes: float = 3.0
    prior_failures: float = 1.0
    """Beta(3, 1): a new tool is assumed to work (mean 0.75) until shown otherwise, so it is
    tried early, yet two failures already bring it below an unknown tool's prior."""

    quality_prior: float = 0.8
    quality_prior_weight: float = 1.0
    """An unrated tool is assumed decent (0.8) with the weight of one observation."""

    quality_sd: float = 0.25
    """Spread of a single quality observation (quality is in [0, 1]); sets the exploration
    noise of the quality estimate, which shrinks as 1/sqrt(observations)."""


def decayed(count: float, updated_at: float, now: float, half_life_s: float) -> float:
    """``count`` as seen at ``now`` after halving every ``half_life_s`` since ``updated_at``."""
    if now <= updated_at or half_life_s <= 0.0:
        return count
    return count * math.pow(0.5, (now - updated_at) / half_life_s)


def discounted_update(
    successes: float, failures: float, ok: bool, discount: float
) -> tuple[float, float]:
    """One observation of a discounted Beta: old evidence shrinks by ``discount``, then +1."""
    successes *= discount
    failures *= discount
    return (successes + 1.0, failures) if ok else (successes, failures + 1.0)


def observe(
    counts: tuple[float, float], run: int, run_from: float, ok: bool, config: PosteriorConfig
) -> tuple[float, float, int, float]:
    """:func:`discounted_update` with change detection (see ``PosteriorConfig.change_surprise``).

    ``run`` counts the failures in a row and ``run_from`` is the success mean when the run
    began; returns (successes, failures, run, run_from) after the observation."""
    successes, failures = counts
    if ok:
        return (*discounted_update(successes, failures, True, config.discount), 0, 0.0)
    if run == 0:
        prior = config.prior_successes + config.prior_failures
        run_from = (config.prior_successes + successes) / (prior + successes + failures)
    run += 1
    successes, failures = discounted_update(successes, failures, False, config.discount)
    if (1.0 - run_from) ** run < config.change_surprise:
        successes *= config.change_keep
    return successes, failures, run, run_from


def discounted_mean(
    mean: float, weight: float, value: float, discount: float
) -> tuple[float, float]:
    """Fold ``value`` into a running mean whose past weight is discounted first."""
    weight = weight * discount + 1.0
    return mean + (value - mean) / weight, weight


def beta_mean(
    alpha: npt.NDArray[np.float64], beta: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    return alpha / (alpha + beta)


def beta_lower_bound(
    alpha: npt.NDArray[np.float64], beta: npt.NDArray[np.float64], z: float = 1.0
) -> npt.NDArray[np.float64]:
    """Mean minus ``z`` standard deviations: a pessimistic success estimate for explanations."""
    total = alpha + beta
    var = alpha * beta / (total * total * (total + 1.0))
    return np.clip(alpha / total - z * np.sqrt(var), 0.0, 1.0)
