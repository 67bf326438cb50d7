"""plan_intents: IntentSubmitted -> PlanCreated (execute_plans runs it)."""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from agents.answers import answer_unreadable, send_failure
from agents.boundary import each_message, send_dead_letter
from agents.experiment_arms import plan_arm, plan_fields
from agents.model_thread import embed_ahead
from agents.plan_builder import (
    Candidate,
    PlanningError,
    Ranker,
    plan_steps,
)
from agents.runtime import Runtime, get_runtime
from learning import context_key
from models import Event, IntentSubmitted, PlanCreated, ToolSpec
from models.ids import derived_id
from streams.app import app, settings
from streams.topics import intents_topic, outcomes_topic, plans_topic
from tables.workflow import keep, planned_intents

log = logging.getLogger(__name__)

# Planning failures that are the intent's own fault and worth an operator's look: dead-lettered
# as well as answered. (no_tool and missing_arguments are answers, not bad input.)
_DEAD_LETTERED_KINDS = frozenset({"unknown_tool", "too_many_steps", "arguments_too_large"})


@app.agent(intents_topic, name="plan-intents")
async def plan_intents(stream: Any) -> None:
    models = {intents_topic.get_topic_name(): IntentSubmitted}
    await each_message(stream, models, _plan, answer_intent)


async def answer_intent(event: Any, intent: IntentSubmitted | None, kind: str, reason: str) -> None:
    """Tell the submitter their intent failed (the boundary's answer for the intents topic)."""
    if intent is None:
        await answer_unreadable(event, kind, reason)
    else:
        await send_failure(intent.intent_id, kind, reason)


async def _plan(event: Any, intent: IntentSubmitted) -> None:
    stored = planned_intents.get(intent.intent_id)
    if stored is not None:
        # Redelivered or resubmitted: send the same plan again (downstream
        # dedups by id); a planning failure already has its one outcome.
        if "plan" in stored:
            await _send_plan(PlanCreated.model_validate(stored["plan"]))
        elif "answered" in stored:  # spend control answered it (plan cache, budget refusal)
            answer = str(stored["answered"]).encode()
            await outcomes_topic.send(key=intent.intent_id.encode(), value=answer)
        return
    runtime = await get_runtime(settings)
    answered = await runtime.spend.before_planning(intent, runtime.tools)
    if answered is not None:
        return await _answer_without_plan(intent, answered)
    arm = await plan_arm(intent, runtime)  # the experiment's variant, or the default strategy
    try:
        steps = functools.partial(_steps, runtime=runtime, rank=arm.rank)
        planned = await runtime.plan(intent, steps)
    except PlanningError as exc:
        if exc.kind in _DEAD_LETTERED_KINDS:
            await send_dead_letter(event, exc.kind, exc.reason)
        keep(planned_intents, intent.intent_id, {"failed": exc.kind})
        await send_failure(intent.intent_id, exc.kind, exc.reason)
        return
    refused = runtime.spend.after_planning(intent, planned.steps, runtime.tools)
    if refused is not None:
        return await _answer_without_plan(intent, refused)
    plan = PlanCreated(
        event_id=derived_id("plan", intent.intent_id),
        intent_id=intent.intent_id,
        steps=planned.steps,
        planning=planned.record,
        context_key=context_key(intent.text, intent.context),
        # Copied onto every tool call and execution record: bounded (one 20 KB text was
        # copied onto 1,111 calls). The text model reads 256 tokens of it at most.
        intent_text=intent.text[: settings.carried_text_chars],
        submitted_at=intent.occurred_at,
        **plan_fields(arm, intent, planned.strategy, runtime.strategy),
        cache=intent.cache,
        plan_cache_key=runtime.spend.plan_key(intent),
    )
    keep(planned_intents, intent.intent_id, {"plan": plan.model_dump(mode="json")})
    runtime.spend.charge_planning(plan)
    await _send_plan(plan)


async def _answer_without_plan(intent: IntentSubmitted, outcome: Event) -> None:
    """The intent's outcome sent at once (no plan); kept so a redelivery sends it again."""
    value = outcome.to_bytes()
    keep(planned_intents, intent.intent_id, {"answered": value.decode()})
    await outcomes_topic.send(key=intent.intent_id.encode(), value=value)


async def _steps(intent: IntentSubmitted, runtime: Runtime, rank: Ranker) -> list[Any]:
    """Plan within ``settings.planning_budget_s``; the model runs off the event loop."""
    size = len(json.dumps(intent.arguments))
    if size > settings.max_argument_bytes:
        raise PlanningError(
            "arguments_too_large",
            f"the intent's arguments are {size} bytes of JSON; the limit is "
            f"{settings.max_argument_bytes}: pass large data by reference",
        )
    deadline = time.monotonic() + settings.planning_budget_s
    encoder = runtime.recommender.encoder
    if encoder is not None:
        try:
            await embed_ahead(encoder, intent, settings.max_steps, _left(deadline))
        except TimeoutError:
            raise _timeout() from None
    return plan_steps(
        intent,
        runtime.tools,
        _within(rank, deadline),
        settings.retry,
        max_steps=settings.max_steps,
    )


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _timeout() -> PlanningError:
    return PlanningError(
        "planning_timeout",
        f"planning took longer than its budget of {settings.planning_budget_s:g} s",
    )


def _within(rank: Ranker, deadline: float) -> Ranker:
    """The ranker, refusing to start another ranking once the planning budget is spent."""

    def ranked(text: str, context: Mapping[str, str], specs: Sequence[ToolSpec]) -> list[Candidate]:
        if time.monotonic() > deadline:
            raise _timeout()
        return rank(text, context, specs)

    return ranked


async def _send_plan(plan: PlanCreated) -> None:
    await plans_topic.send(key=plan.intent_id.encode(), value=plan.to_bytes())
