"""complete_intents: PlanCreated + ToolCallCompleted -> IntentCompleted | IntentFailed."""

from __future__ import annotations

import time
from typing import Any

from agents.completion import apply_progress
from agents.inbound import valid_events
from models import Event, PlanCreated, ToolCallCompleted
from streams.app import app
from streams.topics import outcomes_topic, plans_topic, progress_topic, tool_results_topic
from tables.workflow import intent_progress


@app.agent(progress_topic, name="complete-intents")
async def complete_intents(stream: Any) -> None:
    models: dict[str, type[Event]] = {
        plans_topic.get_topic_name(): PlanCreated,
        tool_results_topic.get_topic_name(): ToolCallCompleted,
    }
    async for _event, update in valid_events(stream, models):
        assert isinstance(update, PlanCreated | ToolCallCompleted)
        state, outcome = apply_progress(intent_progress.get(update.intent_id), update, time.time())
        intent_progress[update.intent_id] = state
        if outcome is not None:
            await outcomes_topic.send(key=update.intent_id.encode(), value=outcome.to_bytes())
