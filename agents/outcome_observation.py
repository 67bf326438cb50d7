"""Join an intent's plan with its step results, once, for experiment statistics and sessions.

The same assembly as the completer's (``outcome_assembly``), on the same topics, but each
outcome is produced here exactly once: the completer sends an outcome again after a crash,
which must not count twice. Only plans that belong to an experiment or a session are kept
until their results are in; any other plan leaves a small marker. Applying the same event
twice changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agents.outcome_assembly import Outcome, apply_progress
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
    state: State | None, event: PlanCreated | ToolCallCompleted, at: str
) -> tuple[State | None, Joined | None, bool]:
    """(new state, the plan and outcome when this event completed it, a new assignment?).

    A new state of None deletes the key. The flag is True once per plan of an experiment,
    the first time it is seen: its unit counts as assigned. ``at`` names the record
    (``outcome_assembly.record_at``)."""
    if state is not None and (state.get("done") or state.get("skip")):
        return state, None, False
    if isinstance(event, PlanCreated):
        if state is not None and state.get("plan") is not None:
            return state, None, False  # a redelivered plan
        if not observes(event):
            # Results that came before the plan are dropped with the state.
            return (None if state is not None else {"skip": True}), None, False
        assigned = bool(event.experiment_id)
    else:
        assigned = False
    # The outcome's latency is measured to the completing result's own time, so the same
    # records give the same statistics whenever they are read.
    now = event.occurred_at
    progress, outcome = apply_progress(state, event, now, at)
    if outcome is None:
        return progress, None, assigned
    if isinstance(event, PlanCreated):
        plan = event
    else:
        assert state is not None  # an outcome needs the plan, so the state held it
        plan = PlanCreated.model_validate(state["plan"])
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
