"""What is known of each candidate tool's performance: success posterior, quality, cost, latency.

Read from the ``tool_metrics`` and ``context_scores`` records of the tools a recommendation
considers (its candidates, see :mod:`learning.recall`), so the per-tool Python work of a
recommendation grows with the candidates, not with the catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from learning.metrics import latency_percentile
from learning.posterior import PosteriorConfig, decayed
from learning.state import LearningState, context_score_key, metrics_key
from models.tools import ToolSpec

Array = npt.NDArray[np.float64]


@dataclass
class Performance:
    """One entry per tool asked about, in the order asked."""

    served: Array  # share of this context's calls that were not misfits (Laplace: n / (n + 1))
    success_alpha: Array  # Beta posterior of success for this kind of intent
    success_beta: Array
    quality: Array  # posterior mean quality (1 for tools that never report quality)
    quality_sd: Array
    cost: Array
    latency_ms: Array
    p95_ms: list[float | None]


def performance(
    tools: Sequence[ToolSpec],
    context: str,
    state: LearningState,
    posterior: PosteriorConfig,
    success_prior_strength: float,
    min_latency_samples: int,
    now: float | None,
) -> Performance:
    """What the learned records say of ``tools`` for intents of ``context`` at ``now``.

    ``now`` None: each tool's own newest update, so no decay is invented."""
    post = posterior
    n = len(tools)
    alpha, beta = np.zeros(n), np.zeros(n)
    quality, quality_sd = np.ones(n), np.zeros(n)
    cost, latency, p95 = np.zeros(n), np.zeros(n), []
    served = np.zeros(n)
    for i, spec in enumerate(tools):
        metrics = state.tool_metrics.get(metrics_key(spec.name, spec.version))
        score = state.context_scores.get(context_score_key(context, spec.name))
        at = now if now is not None else _latest(metrics, score)
        g_s = g_f = 0.0
        if metrics is not None:
            since, half_life = metrics["updated_at"], post.half_life_s
            g_s = decayed(metrics["reliable_successes"], since, at, half_life)
            g_f = decayed(metrics["reliable_failures"], since, at, half_life)
        global_rate = (post.prior_successes + g_s) / (
            post.prior_successes + post.prior_failures + g_s + g_f
        )
        alpha[i] = success_prior_strength * global_rate
        beta[i] = success_prior_strength * (1.0 - global_rate)
        cost[i] = spec.cost_per_call
        if metrics is not None and metrics["calls"]:
            cost[i] = metrics["cost_sum"] / metrics["calls"]
            latency[i] = float(metrics["latency_ewma_ms"] or 0.0)
        p95.append(
            latency_percentile(metrics, 0.95)
            if metrics is not None and metrics["calls"] >= min_latency_samples
            else None
        )
        rated = False
        q_prior = post.quality_prior
        if metrics is not None and metrics["quality_n"] > 0:
            rated, q_prior = True, metrics["quality_sum"] / metrics["quality_n"]
        q_mean, q_weight = q_prior, post.quality_prior_weight
        if score is not None:
            # Calls that ran without a misfit show the tool serves this kind of intent,
            # whatever the words' posterior says about competing tools (Laplace: n/(n+1)).
            served[i] = (score["calls"] - score["misfits"]) / (score["calls"] + 1.0)
            since = score["updated_at"]
            alpha[i] += decayed(score["successes"], since, at, post.half_life_s)
            beta[i] += decayed(score["failures"], since, at, post.half_life_s)
            w = decayed(score["quality_weight"], since, at, post.quality_half_life_s)
            if w > 0:
                rated = True
                q_mean = (q_prior * q_weight + score["quality_mean"] * w) / (q_weight + w)
                q_weight += w
            if score["cost_weight"] > 0:
                cost[i] = score["cost_mean"]
            if score["latency_weight"] > 0:
                latency[i] = score["latency_mean_ms"]
        if rated:  # tools that never report quality are not judged on it
            quality[i], quality_sd[i] = q_mean, post.quality_sd / np.sqrt(q_weight)
    return Performance(served, alpha, beta, quality, quality_sd, cost, latency, p95)


def _latest(*records: Mapping[str, object] | None) -> float:
    """'Now' when the caller gives none: the newest update seen, so no decay is invented."""
    times = [float(r["updated_at"]) for r in records if r is not None]  # type: ignore[arg-type]
    return max(times, default=0.0)
