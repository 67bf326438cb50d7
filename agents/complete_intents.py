"""complete_intents: PlanCreated + ToolCallCompleted -> IntentCompleted | IntentFailed."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from agents.answers import answer_unreadable
from agents.boundary import each_message
from agents.outcome_assembly import apply_progress, closed, failure_outcome, record_at
from models import Event, PlanCreated, ToolCallCompleted
from streams.app import app
from streams.topics import outcomes_topic, plans_topic, progress_topic, tool_results_topic
from tables.workflow import intent_progress, keep

# Completing records whose outcome this process has handed to the producer
# (which Faust flushes before it commits). After a rebalance Faust may hand
# the same record to the agent twice; the second time the outcome must not go
# out again. After a restart the memory is empty and the outcome is re-sent:
# it may never have left.
_SENT_MAX = 10_000
_sent: OrderedDict[str, None] = OrderedDict()


def _remember_sent(at: str) -> None:
    _sent[at] = None
    while len(_sent) > _SENT_MAX:
        _sent.popitem(last=False)


@app.agent(progress_topic, name="complete-intents")
async def complete_intents(stream: Any) -> None:
    models: dict[str, type[Event]] = {
        plans_topic.get_topic_name(): PlanCreated,
        tool_results_topic.get_topic_name(): ToolCallCompleted,
    }
    await each_message(stream, models, _progress, _answer)


async def _progress(event: Any, update: Event) -> None:
    assert isinstance(update, PlanCreated | ToolCallCompleted)
    at = record_at(event.message)
    state, outcome = apply_progress(intent_progress.get(update.intent_id), update, time.time(), at)
    keep(intent_progress, update.intent_id, state)
    if outcome is not None and at not in _sent:
        _remember_sent(at)
        await outcomes_topic.send(key=update.intent_id.encode(), value=outcome.to_bytes())


async def _answer(event: Any, update: Event | None, kind: str, reason: str) -> None:
    """The intent fails with the reason; its progress is closed so that later events of the
    intent cannot produce a second, different outcome."""
    if not isinstance(update, PlanCreated | ToolCallCompleted):
        await answer_unreadable(event, kind, reason)
        return
    failed = failure_outcome(update.intent_id, kind, f"completing the intent failed: {reason}")
    keep(intent_progress, update.intent_id, closed(failed, record_at(event.message), time.time()))
    await outcomes_topic.send(key=update.intent_id.encode(), value=failed.to_bytes())
