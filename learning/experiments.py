"""Per-variant statistics of an experiment: what each outcome adds, and the report people read.

A variant's statistics are kept as records ``{"assigned": n, "metrics": {metric: [n, mean,
m2]}}`` (plain JSON for a changelog table), one per shard; :func:`report` merges the shards
and compares every variant with the control on every metric with a confidence sequence,
and checks the assigned counts against the shares (sample-ratio mismatch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from learning.moments import Moments, merged
from learning.recommender import ScoringConfig
from learning.sequential import Comparison, SequentialConfig, compare, sample_ratio_mismatch
from models.events import IntentCompleted, IntentFailed
from models.experiments import Experiment, Metric

Record = dict[str, Any]


def metric_values(
    outcome: IntentCompleted | IntentFailed, scoring: ScoringConfig | None = None
) -> dict[str, float]:
    """Every metric of one intent's outcome.

    Quality is the mean over steps of the quality the answering tool reported, 1.0 for a
    successful step whose tool reports none (the recommender does not judge those on quality
    either) and 0.0 for a failed one. Utility weighs cost and latency as the recommender does.
    """
    scoring = scoring or ScoringConfig()
    ok = isinstance(outcome, IntentCompleted)
    steps = outcome.results
    if steps:
        quality = sum(
            (s.quality if s.quality is not None else 1.0) if s.ok else 0.0 for s in steps
        ) / len(steps)
    else:
        quality = 1.0 if ok else 0.0
    latency_s = outcome.latency_ms / 1000.0
    utility = quality - scoring.cost_weight * outcome.cost - scoring.latency_weight * latency_s
    return {
        Metric.SUCCESS.value: 1.0 if ok else 0.0,
        Metric.COST.value: outcome.cost,
        Metric.QUALITY.value: quality,
        Metric.LATENCY.value: latency_s,
        Metric.UTILITY.value: utility,
    }


def with_assignment(record: Record | None) -> Record:
    """``record`` with one more unit assigned."""
    old = record or {"assigned": 0, "metrics": {}}
    return {"assigned": old["assigned"] + 1, "metrics": old["metrics"]}


def with_outcome(record: Record | None, values: Mapping[str, float]) -> Record:
    """``record`` with one more outcome folded into every metric (a new dict)."""
    old = record or {"assigned": 0, "metrics": {}}
    metrics = dict(old["metrics"])
    for name, value in values.items():
        metrics[name] = Moments.from_record(metrics.get(name)).add(value).to_record()
    return {"assigned": old["assigned"], "metrics": metrics}


def report(
    experiment: Experiment,
    shards: Mapping[str, Iterable[Record]],
    config: SequentialConfig | None = None,
) -> dict[str, Any]:
    """The experiment's state for people: per-variant statistics, comparisons, SRM.

    ``shards`` maps each variant name to its statistics records (one per partition)."""
    config = config or SequentialConfig()
    assigned: dict[str, int] = {}
    moments: dict[str, dict[str, Moments]] = {}
    for variant in experiment.variants:
        records = list(shards.get(variant.name, ()))
        assigned[variant.name] = sum(int(r["assigned"]) for r in records)
        moments[variant.name] = {
            m.value: merged(Moments.from_record(r["metrics"].get(m.value)) for r in records)
            for m in Metric
        }
    control = experiment.control.name
    comparisons: dict[str, dict[str, dict[str, float | str | None]]] = {}
    for variant in experiment.variants[1:]:
        comparisons[variant.name] = {
            m.value: _oriented(
                compare(moments[control][m.value], moments[variant.name][m.value], config), m
            ).as_dict()
            for m in Metric
        }
    srm = sample_ratio_mismatch(assigned, dict(experiment.shares()))
    return {
        "experiment": experiment.model_dump(mode="json"),
        "metric": experiment.metric.value,
        "control": control,
        "variants": {
            v.name: {
                "strategy": v.strategy,
                "share": v.share,
                "assigned": assigned[v.name],
                "metrics": {
                    name: {"n": m.n, "mean": m.mean, "sd": m.sd}
                    for name, m in moments[v.name].items()
                },
            }
            for v in experiment.variants
        },
        "comparisons": comparisons,
        "sample_ratio_mismatch": srm.as_dict(),
        "sequential": {
            "alpha": config.alpha,
            "tightest_at": config.tightest_at,
            "min_samples": config.min_samples,
        },
    }


def _oriented(comparison: Comparison, metric: Metric) -> Comparison:
    """'better' means better for the metric: lower cost or latency is better."""
    if metric.higher_is_better or comparison.verdict not in ("better", "worse"):
        return comparison
    flipped = "worse" if comparison.verdict == "better" else "better"
    return Comparison(comparison.difference, comparison.lower, comparison.upper, flipped)
