"""Gather an intent's plan and step results into exactly one outcome.

Plans and results travel on different topics, so a result may arrive before
its plan; both are kept until every step of the plan has a result. The state
is a plain JSON dict so a changelog-backed table can hold it. Applying the
same event twice changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from models import IntentCompleted, IntentFailed, PlanCreated, StepResult, ToolCallCompleted
from models.ids import derived_id

Outcome = IntentCompleted | IntentFailed
State = dict[str, Any]
_OUTCOME: TypeAdapter[Outcome] = TypeAdapter(
    Annotated[IntentCompleted | IntentFailed, Field(discriminator="type")]
)


def record_at(message: Any) -> str:
    """Where a record sits, for ``apply_progress``'s ``at``: topic/partition@offset."""
    return f"{message.topic}/{message.partition}@{message.offset}"


def apply_progress(
    state: State | None, event: PlanCreated | ToolCallCompleted, now: float, at: str
) -> tuple[State, Outcome | None]:
    """Return the new state and the outcome, if this event completed the intent.

    ``at`` names the record the event came in (``record_at``).
    """
    state = dict(state) if state else {"plan": None, "results": {}, "done": None}
    if state["done"] is not None:
        if state.get("by") == at and state.get("outcome"):
            # The record that completed the intent came again: the worker
            # stopped after recording the outcome but maybe before sending it.
            # Send again (same outcome id). A duplicate of that event in another
            # record, or any other late event, changes nothing.
            return state, _OUTCOME.validate_python(state["outcome"])
        return state, None
    if isinstance(event, PlanCreated):
        if state["plan"] is None:
            state["plan"] = event.model_dump(mode="json")
    else:
        results = dict(state["results"])
        results.setdefault(event.call_id, event.model_dump(mode="json"))
        state["results"] = results
    if state["plan"] is None:
        return state, None
    plan = PlanCreated.model_validate(state["plan"])
    if any(step.step_id not in state["results"] for step in plan.steps):
        return state, None
    outcome = _outcome(plan, state["results"], now)
    return closed(outcome, at, now), outcome


def closed(outcome: Outcome, at: str, now: float) -> State:
    """The state of a finished intent: only its outcome, so the table stays small and late
    events are ignored; ``at_s`` says when, for the retention sweep."""
    return {
        "plan": None,
        "results": {},
        "done": outcome.event_id,
        "by": at,
        "outcome": outcome.model_dump(mode="json"),
        "at_s": now,
    }


def failure_outcome(intent_id: str, kind: str, reason: str) -> IntentFailed:
    """An intent's IntentFailed, with the same id any outcome of the intent has."""
    return IntentFailed(
        event_id=derived_id("outcome", intent_id),
        intent_id=intent_id,
        reason=reason[:2000],
        error_kind=kind,
    )


def _outcome(plan: PlanCreated, results: dict[str, Any], now: float) -> Outcome:
    steps = [ToolCallCompleted.model_validate(results[s.step_id]) for s in plan.steps]
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
        )
        for r in steps
    ]
    # What planning spent (an LLM planner's tokens) is part of what the intent cost.
    cost = sum(r.cost for r in steps) + (plan.planning.cost if plan.planning else 0.0)
    attempts = sum(r.attempts for r in steps)
    latency_ms = max(0.0, (now - plan.submitted_at) * 1000.0) if plan.submitted_at else 0.0
    event_id = derived_id("outcome", plan.intent_id)
    failed = [r for r in steps if not r.ok]
    if failed:
        first = failed[0]
        return IntentFailed(
            event_id=event_id,
            intent_id=plan.intent_id,
            reason=f"step {first.call_id} ({first.tool}) failed: {first.error}",
            error_kind=str(first.error_kind or "tool_error"),
            results=step_results,
            cost=cost,
            latency_ms=latency_ms,
            attempts=attempts,
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
