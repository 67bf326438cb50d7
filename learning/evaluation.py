"""Recorded plans and executions as logged decisions, for evaluating another strategy offline.

History is replayed in time order: the learning state is rebuilt from the execution records
that came before each plan, so the evaluated strategy is asked what it would have chosen
with what the planner knew then. Each plan step that recorded its choice probability is a
decision; its reward comes from the chosen tool's own attempts (not its fallbacks', which
another choice would not have had): the metric of the last attempt's outcome, with the
cost and latency of all of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from learning.learner import update
from learning.ope import LoggedDecision
from learning.recommender import Recommender, ScoringConfig
from learning.state import LearningState
from learning.strategies import Strategy, choice_probabilities
from models.events import ExecutionRecorded, PlanCreated
from models.experiments import Metric
from models.tools import ToolSpec


@dataclass
class Replayed:
    decisions: list[LoggedDecision] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """Steps not evaluated, by reason."""
    logging_strategies: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def step_reward(
    attempts: Sequence[ExecutionRecorded], metric: Metric, scoring: ScoringConfig
) -> float:
    """The metric of one step's chosen tool, from its attempts in order."""
    last = attempts[-1]
    cost = sum(a.cost for a in attempts)
    latency_s = sum(a.latency_ms for a in attempts) / 1000.0
    quality = (last.quality if last.quality is not None else 1.0) if last.ok else 0.0
    if metric is Metric.SUCCESS:
        return 1.0 if last.ok else 0.0
    if metric is Metric.COST:
        return cost
    if metric is Metric.QUALITY:
        return quality
    if metric is Metric.LATENCY:
        return latency_s
    return quality - scoring.cost_weight * cost - scoring.latency_weight * latency_s


def replay_decisions(
    plans: Sequence[PlanCreated],
    executions: Sequence[ExecutionRecorded],
    target: Strategy,
    recommender: Recommender,
    tools: Sequence[ToolSpec],
    *,
    since: float = 0.0,
    metric: Metric = Metric.UTILITY,
    draws: int = 2000,
) -> Replayed:
    """The decisions of the plans made at or after ``since``, with ``target``'s probabilities."""
    # A call run again after a crash records the same attempt under the same id: the first
    # record read (topic order; one call's records share a partition) is the one that counts.
    first: dict[str, ExecutionRecorded] = {}
    for record in executions:
        first.setdefault(record.event_id, record)
    executions = list(first.values())
    by_call: dict[tuple[str, str], list[ExecutionRecorded]] = defaultdict(list)
    for record in executions:
        by_call[(record.call_id, record.tool)].append(record)
    history = sorted(executions, key=lambda r: (r.occurred_at, r.event_id))
    state = LearningState()
    learned = 0
    out = Replayed()
    # A redelivered intent re-sends its stored plan (same id): one decision per intent.
    unique = {p.intent_id: p for p in reversed(plans)}.values()
    for plan in sorted(unique, key=lambda p: (p.occurred_at, p.intent_id)):
        # What the planner could have known: every record older than the plan.
        upto = learned
        while upto < len(history) and history[upto].occurred_at < plan.occurred_at:
            upto += 1
        if upto > learned:
            update(state, history[learned:upto])
            learned = upto
        if plan.occurred_at < since:
            continue
        for step in plan.steps:
            attempts = sorted(by_call.get((step.step_id, step.tool), []), key=lambda r: r.attempt)
            if step.choice_probability is None or step.choice_probability <= 0:
                out.skipped["no recorded probability"] += 1
                continue
            if not attempts:
                out.skipped["no execution record"] += 1
                continue
            probabilities = choice_probabilities(
                recommender, target, step.text or plan.intent_text, plan.context or None, tools,
                state, now=plan.occurred_at, draws=draws,
            )  # fmt: skip
            out.decisions.append(
                LoggedDecision(
                    plan.context_key,
                    step.tool,
                    step.choice_probability,
                    step_reward(attempts, metric, recommender.scoring),
                    probabilities,
                )
            )
            out.logging_strategies[plan.strategy] += 1
    return out
