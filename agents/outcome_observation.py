"""Join an intent's plan with its step results, once, for experiment statistics and sessions.

The same outcome the executor sends (``outcome_assembly.assemble``), assembled here from the
plans and tool-results topics exactly once per intent: the executor sends an outcome again
after a crash, which must not count twice. Only plans that belong to an experiment or a
session are kept until their results are in; any other plan leaves a small marker. Results
may arrive before their plan. Applying the same event twice changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agents.outcome_assembly import Outcome, assemble
from models import IntentCompleted, PlanCreated, ToolCallCompleted
from models.experiments import SessionStepCompleted

State = dict[str, Any]

# A session's last output is kept for predicting the next intent's arguments; outputs
# larger than this (as JSON) are dropped from the session step, so the sessions topic
# and table stay small. 64 KB holds a fetched page of text.
MAX_OUTPUT_CHARS = 64_000


@dataclass(frozen=True)
class Joined:
    plan: PlanCreated
    outcome: Outcome


def observes(plan: PlanCreated) -> bool:
    return bool(plan.experiment_id or plan.context.get("session"))


def apply_observation(
    state: State | None, event: PlanCreated | ToolCallCompleted
) -> tuple[State | None, Joined | None, bool]:
    """(new state, the plan and outcome when this event completed it, a new assignment?).

    A new state of None deletes the key. The flag is True once per plan of an experiment,
    the first time it is seen: its unit counts as assigned."""
    if state is not None and (state.get("done") or state.get("skip")):
        return state, None, False
    old = state or {}
    results: dict[str, Any] = dict(old.get("results", {}))
    if isinstance(event, PlanCreated):
        if old.get("plan") is not None:
            return state, None, False  # a redelivered plan
        if not observes(event):
            # Results that came before the plan are dropped with the state.
            return (None if state is not None else {"skip": True}), None, False
        new: State = {"plan": event.model_dump(mode="json"), "results": results}
        assigned = bool(event.experiment_id)
    else:
        if event.call_id in results:
            return state, None, False  # a redelivered result
        results[event.call_id] = event.model_dump(mode="json")
        new = {"plan": old.get("plan"), "results": results}
        assigned = False
    if new["plan"] is None:
        return new, None, assigned
    plan = PlanCreated.model_validate(new["plan"])
    if any(step.step_id not in results for step in plan.steps):
        return new, None, assigned
    done = [ToolCallCompleted.model_validate(results[step.step_id]) for step in plan.steps]
    # The outcome's latency is measured to the last result's own time, so the same records
    # give the same statistics whenever they are read.
    outcome = assemble(plan, done, max(r.occurred_at for r in done))
    return {"done": True}, Joined(plan, outcome), assigned


def session_step(joined: Joined) -> SessionStepCompleted | None:
    """The session step this intent was, when it belongs to a session and completed a step."""
    plan, outcome = joined.plan, joined.outcome
    session = plan.context.get("session")
    if not session or not plan.steps:
        return None
    results = {r.step_id: r for r in outcome.results}
    first, last = plan.steps[0], plan.steps[-1]
    first_result, last_result = results.get(first.step_id), results.get(last.step_id)
    output = last_result.output if last_result is not None and last_result.ok else None
    if output is not None and len(_json(output)) > MAX_OUTPUT_CHARS:
        output = None
    return SessionStepCompleted(
        event_id=f"session-step:{plan.intent_id}",
        session=session,
        intent_id=plan.intent_id,
        intent_class=plan.context_key,
        first_tool=first_result.tool if first_result is not None else first.tool,
        first_arguments=_arguments(plan, first.step_id, first_result),
        first_cached=first_result.cached if first_result is not None else False,
        last_tool=last_result.tool if last_result is not None else last.tool,
        last_arguments=_arguments(plan, last.step_id, last_result),
        last_output=output,
        ok=isinstance(outcome, IntentCompleted),
        completed_at=outcome.occurred_at,
    )


def _arguments(plan: PlanCreated, step_id: str, result: Any) -> dict[str, Any]:
    """The arguments the answering tool got: the step's, or its fallback's."""
    step = next(s for s in plan.steps if s.step_id == step_id)
    if result is None or result.tool == step.tool:
        return dict(step.arguments)
    for fallback in step.fallbacks:
        if fallback.tool == result.tool:
            return dict(fallback.arguments)
    return dict(step.arguments)


def _json(value: Any) -> str:
    return json.dumps(value, default=str)
