"""Per-tool and per-(context, tool) records, and the pure functions that fold one execution in."""

from __future__ import annotations

import bisect
import copy
from typing import Any

from learning.posterior import PosteriorConfig, decayed, discounted_mean, observe
from models.events import ExecutionRecorded
from models.tools import ErrorKind

Record = dict[str, Any]

# Upper bounds (ms) of the latency histogram: roughly x1.5 steps from 5 ms to 2 minutes, so any
# percentile read from it is within ~25 % of the true value; the last bucket is open-ended.
LATENCY_BOUNDS_MS: tuple[float, ...] = (
    5, 10, 15, 25, 40, 60, 100, 150, 250, 400, 600, 1000, 1500, 2500, 4000, 6000,
    10000, 15000, 25000, 40000, 60000, 120000,
)  # fmt: skip

# EWMA weight of the newest latency: ~the last 10 calls dominate, quick to see a slowdown.
LATENCY_EWMA_ALPHA = 0.1

# Failures that say the tool does not serve this intent (it ran and refused or misfit),
# as opposed to the tool being broken. They teach relevance, not reliability.
MISFIT_KINDS = frozenset({ErrorKind.INVALID_ARGUMENTS})


def is_misfit(record: ExecutionRecorded) -> bool:
    """True when a failed call says 'wrong tool for this intent' rather than 'tool broken'."""
    return not record.ok and (record.error_kind is None or record.error_kind in MISFIT_KINDS)


def new_metrics(tool: str, version: str) -> Record:
    """An empty ``tool_metrics`` record. Plain counters and sums commute across records."""
    return {
        "tool": tool,
        "version": version,
        "calls": 0,
        "successes": 0,
        "failures": {},  # error kind -> count
        "latency_sum_ms": 0.0,
        "latency_ewma_ms": None,
        "latency_buckets": [0] * (len(LATENCY_BOUNDS_MS) + 1),
        "cost_sum": 0.0,
        "quality_sum": 0.0,
        "quality_n": 0,
        # Discounted success posterior counts (order-dependent, see PosteriorConfig.discount):
        "reliable_successes": 0.0,
        "reliable_failures": 0.0,
        "failure_run": 0,  # reliable failures in a row, and the success mean before them
        "failure_run_from": 0.0,
        "updated_at": 0.0,
    }


def new_context_score(context: str, tool: str) -> Record:
    """An empty ``context_scores`` record: what is known of ``tool`` for this kind of intent."""
    return {
        "context": context,
        "tool": tool,
        "calls": 0,
        "successes": 0.0,  # discounted
        "failures": 0.0,  # discounted, broken-tool failures only (misfits teach relevance)
        "misfits": 0,
        "failure_run": 0,  # broken-tool failures in a row, and the success mean before them
        "failure_run_from": 0.0,
        "quality_mean": 0.0,
        "quality_weight": 0.0,  # discounted number of quality observations
        "cost_mean": 0.0,
        "cost_weight": 0.0,
        "latency_mean_ms": 0.0,
        "latency_weight": 0.0,
        "updated_at": 0.0,
    }


def _bucket(latency_ms: float) -> int:
    return bisect.bisect_left(LATENCY_BOUNDS_MS, latency_ms)


def _observe(
    out: Record, counts: tuple[float, float], ok: bool, config: PosteriorConfig
) -> tuple[float, float]:
    """``counts`` (successes, failures) after one outcome, with change detection; the run of
    failures it tracks is kept in ``out`` (records stored before it existed have none)."""
    run, run_from = out.get("failure_run", 0), out.get("failure_run_from", 0.0)
    successes, failures, out["failure_run"], out["failure_run_from"] = observe(
        counts, run, run_from, ok, config
    )
    return successes, failures


def apply_metrics(metrics: Record, record: ExecutionRecorded, config: PosteriorConfig) -> Record:
    """``metrics`` with one execution folded in (a new dict; the input is left untouched)."""
    out = copy.deepcopy(metrics)
    out["calls"] += 1
    if record.ok:
        out["successes"] += 1
    else:
        kind = str(record.error_kind) if record.error_kind is not None else "unknown"
        out["failures"][kind] = out["failures"].get(kind, 0) + 1
    latency = max(0.0, record.latency_ms)
    out["latency_sum_ms"] += latency
    ewma = out["latency_ewma_ms"]
    out["latency_ewma_ms"] = (
        latency if ewma is None else ewma + LATENCY_EWMA_ALPHA * (latency - ewma)
    )
    out["latency_buckets"][_bucket(latency)] += 1
    out["cost_sum"] += record.cost
    if record.quality is not None:
        out["quality_sum"] += record.quality
        out["quality_n"] += 1
    if not is_misfit(record):
        now = max(out["updated_at"], record.occurred_at)
        s = decayed(out["reliable_successes"], out["updated_at"], now, config.half_life_s)
        f = decayed(out["reliable_failures"], out["updated_at"], now, config.half_life_s)
        out["reliable_successes"], out["reliable_failures"] = _observe(
            out, (s, f), record.ok, config
        )
        out["updated_at"] = now
    return out


def apply_context_score(
    score: Record, record: ExecutionRecorded, config: PosteriorConfig
) -> Record:
    """``score`` with one execution of its tool for its kind of intent folded in."""
    out = dict(score)
    out["calls"] += 1
    if is_misfit(record):
        out["misfits"] += 1
        return out
    now = max(out["updated_at"], record.occurred_at)
    fields = ("successes", "failures", "cost_weight", "latency_weight")
    for name in fields:  # time decay first, so idle evidence fades (see half_life_s)
        out[name] = decayed(out[name], out["updated_at"], now, config.half_life_s)
    out["quality_weight"] = decayed(
        out["quality_weight"], out["updated_at"], now, config.quality_half_life_s
    )
    out["successes"], out["failures"] = _observe(
        out, (out["successes"], out["failures"]), record.ok, config
    )
    if record.quality is not None:
        out["quality_mean"], out["quality_weight"] = discounted_mean(
            out["quality_mean"], out["quality_weight"], record.quality, config.discount
        )
    out["cost_mean"], out["cost_weight"] = discounted_mean(
        out["cost_mean"], out["cost_weight"], record.cost, config.discount
    )
    out["latency_mean_ms"], out["latency_weight"] = discounted_mean(
        out["latency_mean_ms"], out["latency_weight"], record.latency_ms, config.discount
    )
    out["updated_at"] = now
    return out


def latency_percentile(metrics: Record, q: float) -> float | None:
    """The ``q`` quantile (0-1) of latency from the histogram: the bucket's upper bound."""
    buckets: list[int] = metrics["latency_buckets"]
    total = sum(buckets)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(buckets):
        seen += count
        if seen >= rank and count:
            if index < len(LATENCY_BOUNDS_MS):
                return float(LATENCY_BOUNDS_MS[index])
            return float(metrics["latency_ewma_ms"] or LATENCY_BOUNDS_MS[-1])
    return float(LATENCY_BOUNDS_MS[-1])


def summary(metrics: Record) -> dict[str, float | int | None]:
    """Operator view of one ``tool_metrics`` record."""
    calls: int = metrics["calls"]
    return {
        "calls": calls,
        "success_rate": metrics["successes"] / calls if calls else None,
        "latency_mean_ms": metrics["latency_sum_ms"] / calls if calls else None,
        "latency_p50_ms": latency_percentile(metrics, 0.50),
        "latency_p95_ms": latency_percentile(metrics, 0.95),
        "cost_mean": metrics["cost_sum"] / calls if calls else None,
        "quality_mean": metrics["quality_sum"] / metrics["quality_n"]
        if metrics["quality_n"]
        else None,
    }
