"""observe_outcomes: PlanCreated + ToolCallCompleted -> experiment statistics and session steps.

It reads the plans and the step results the executor publishes for observers.

Per intent of an experiment, its variant's statistics (one record per partition, merged on
read) count the assignment when the plan is seen and every metric once the last step's
result is in; per intent of a session, a SessionStepCompleted goes to the sessions topic,
keyed by session, for pre-warming.
"""

from __future__ import annotations

from typing import Any

from agents.boundary import each_message
from agents.outcome_observation import apply_observation, session_step
from learning.experiments import metric_values, with_assignment, with_outcome
from models import Event, PlanCreated, ToolCallCompleted
from streams.app import app
from streams.topics import plan_results_topic, plans_topic, sessions_topic, tool_results_topic
from tables.experiments import experiment_intents, experiment_stats, partition_key
from tables.workflow import keep


@app.agent(plan_results_topic, name="observe-outcomes")
async def observe_outcomes(stream: Any) -> None:
    models: dict[str, type[Event]] = {
        plans_topic.get_topic_name(): PlanCreated,
        tool_results_topic.get_topic_name(): ToolCallCompleted,
    }
    # No answer: the completer answers for these records; a bad one is only dead-lettered.
    await each_message(stream, models, _observe)


async def _observe(event: Any, update: Event) -> None:
    assert isinstance(update, PlanCreated | ToolCallCompleted)
    before = experiment_intents.get(update.intent_id)
    state, joined, assigned = apply_observation(before, update)
    partition = event.message.partition
    if assigned:
        assert isinstance(update, PlanCreated)
        key = partition_key(partition, f"{update.experiment_id}|{update.variant}")
        experiment_stats[key] = with_assignment(experiment_stats.get(key))
    if joined is not None:
        plan = joined.plan
        if plan.experiment_id:
            key = partition_key(partition, f"{plan.experiment_id}|{plan.variant}")
            values = metric_values(joined.outcome)
            experiment_stats[key] = with_outcome(experiment_stats.get(key), values)
        step = session_step(joined)
        if step is not None:
            await sessions_topic.send(key=step.session.encode(), value=step.to_bytes())
    if state is None:
        experiment_intents.pop(update.intent_id, None)
    elif state != before:
        keep(experiment_intents, update.intent_id, state)
