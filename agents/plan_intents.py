"""plan_intents: IntentSubmitted -> PlanCreated + ToolCallRequested per step."""

from __future__ import annotations

import logging
from typing import Any

from agents.boundary import send_dead_letter, valid_events
from agents.plan_builder import PlanningError, plan_steps, tool_call_requests
from agents.runtime import get_runtime
from learning import context_key
from models import IntentFailed, IntentSubmitted, PlanCreated
from streams.app import app, settings
from streams.topics import intents_topic, outcomes_topic, plans_topic, tool_calls_topic
from tables.workflow import planned_intents

log = logging.getLogger(__name__)


@app.agent(intents_topic, name="plan-intents")
async def plan_intents(stream: Any) -> None:
    models = {intents_topic.get_topic_name(): IntentSubmitted}
    async for event, intent in valid_events(stream, models):
        try:
            await _plan(event, intent)
        except Exception as exc:
            # A bug or an outage must not crash the agent and silently drop the
            # intent: dead-letter it with the reason and answer the submitter.
            log.exception("planning %s failed", intent.intent_id)
            await send_dead_letter(event, "processing_error", repr(exc)[:2000])
            failed = IntentFailed(
                event_id=f"outcome:{intent.intent_id}",
                intent_id=intent.intent_id,
                reason=f"planning failed: {exc!r}"[:2000],
                error_kind="processing_error",
            )
            await outcomes_topic.send(key=intent.intent_id.encode(), value=failed.to_bytes())


async def _plan(event: Any, intent: IntentSubmitted) -> None:
    stored = planned_intents.get(intent.intent_id)
    if stored is not None:
        # Redelivered or resubmitted: send the same plan again (downstream
        # dedups by id); a planning failure already has its one outcome.
        if "plan" in stored:
            await _send_plan(PlanCreated.model_validate(stored["plan"]))
        return
    runtime = await get_runtime(settings)
    try:
        steps = plan_steps(intent, runtime.tools, runtime.rank, settings.retry)
    except PlanningError as exc:
        if exc.kind == "unknown_tool":
            await send_dead_letter(event, exc.kind, exc.reason)
        failed = IntentFailed(
            event_id=f"outcome:{intent.intent_id}",
            intent_id=intent.intent_id,
            reason=exc.reason,
            error_kind=exc.kind,
        )
        planned_intents[intent.intent_id] = {"failed": failed.model_dump(mode="json")}
        await outcomes_topic.send(key=intent.intent_id.encode(), value=failed.to_bytes())
        return
    plan = PlanCreated(
        event_id=f"plan:{intent.intent_id}",
        intent_id=intent.intent_id,
        steps=steps,
        strategy=runtime.strategy,
        context_key=context_key(intent.text, intent.context),
        intent_text=intent.text,
        submitted_at=intent.occurred_at,
    )
    planned_intents[intent.intent_id] = {"plan": plan.model_dump(mode="json")}
    await _send_plan(plan)


async def _send_plan(plan: PlanCreated) -> None:
    key = plan.intent_id.encode()
    await plans_topic.send(key=key, value=plan.to_bytes())
    for request in tool_call_requests(plan):
        await tool_calls_topic.send(key=key, value=request.to_bytes())
