"""An intent's plan and its steps' results, assembled into its one outcome.

The outcome's id derives from the intent id, so the same plan and results assembled again (a
redelivered plan) give an outcome with the same id: receivers dedupe by ``event_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from models import IntentCompleted, IntentFailed, PlanCreated, StepResult, ToolCallCompleted
from models.ids import derived_id

Outcome = IntentCompleted | IntentFailed


def record_at(message: Any) -> str:
    """Where a record sits: topic/partition@offset."""
    return f"{message.topic}/{message.partition}@{message.offset}"


def assemble(plan: PlanCreated, results: Sequence[ToolCallCompleted], now: float) -> Outcome:
    """The outcome of ``plan`` given one result per step, in the plan's order."""
    if [r.call_id for r in results] != [s.step_id for s in plan.steps]:
        raise ValueError(
            f"plan {plan.intent_id} has steps {[s.step_id for s in plan.steps]}, "
            f"results are for {[r.call_id for r in results]}"
        )
    step_results = [
        StepResult(
            step_id=r.call_id,
            tool=r.tool,
            ok=r.ok,
            output=r.output,
            content=r.content,
            error_kind=r.error_kind,
            error=r.error,
            attempts=r.attempts,
            cost=r.cost,
            latency_ms=r.latency_ms,
            quality=r.quality,
            cached=r.cached,
            budget=r.budget,
            failures=r.failures,
        )
        for r in results
    ]
    # What planning spent (an LLM planner's tokens) is part of what the intent cost.
    cost = sum(r.cost for r in results) + (plan.planning.cost if plan.planning else 0.0)
    attempts = sum(r.attempts for r in results)
    latency_ms = max(0.0, (now - plan.submitted_at) * 1000.0) if plan.submitted_at else 0.0
    event_id = derived_id("outcome", plan.intent_id)
    failed = [r for r in results if not r.ok]
    if failed:
        first = failed[0]
        return IntentFailed(
            event_id=event_id,
            intent_id=plan.intent_id,
            reason=_failure_reason(first),
            error_kind=str(first.error_kind or "tool_error"),
            results=step_results,
            cost=cost,
            latency_ms=latency_ms,
            attempts=attempts,
            budget=first.budget,  # refused by a budget: its scope and numbers
        )
    return IntentCompleted(
        event_id=event_id,
        intent_id=plan.intent_id,
        results=step_results,
        cost=cost,
        latency_ms=latency_ms,
        attempts=attempts,
        strategy=plan.strategy,
    )


def failure_outcome(intent_id: str, kind: str, reason: str) -> IntentFailed:
    """An intent's IntentFailed, with the same id any outcome of the intent has."""
    return IntentFailed(
        event_id=derived_id("outcome", intent_id),
        intent_id=intent_id,
        reason=reason[:2000],
        error_kind=kind,
    )


def _failure_reason(step: ToolCallCompleted) -> str:
    """Why a step failed, naming every tool it tried, not only the last."""
    if len(step.failures) <= 1:
        return f"step {step.call_id} ({step.tool}) failed: {step.error}"
    each = "; ".join(f"{f.tool}: {f.error_kind or 'failed'}: {f.error}" for f in step.failures)
    return f"step {step.call_id} failed with every tool tried: {each}"[:4000]
