"""execute_plans: PlanCreated -> a ToolCallCompleted per step, then the intent's outcome.

One agent runs every step of a plan (concurrently) and answers the intent, where three hops did
before (tool calls on their own topic, an executor, and a completer gathering plans and step
results in a table). Per intent that saves two topic hops and three changelog writes: the
worker's CPU per intent (bench.pipeline --profile) went from 15.8 to 11.5 ms, measured on a
loaded machine; what remains is mostly Kafka and Faust per-message work.

Restarts and redeliveries: each step's result is kept in ``completed_calls`` (keyed by call id)
with the plan record it was first answered in, so a plan read again re-sends the stored results
instead of running their tools again, and its outcome, assembled from the same results, has the
same id. A plan re-sent for an intent read again (a new record) sends no outcome once the record
that answered it is committed: Faust flushes a handler's output before it commits. A step whose
call a crash interrupted runs again (at-least-once).

A copy of a plan that arrives while this process still runs the first copy's steps (the record
handed to a second actor after a rebalance, or the plan re-sent for an intent read again)
awaits those steps instead of calling their tools a second time: before, both copies ran the
tool, and its two records (one id, perhaps different outcomes) disagreed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

from faust.types import TP

from agents.answers import answer_unreadable
from agents.boundary import each_message
from agents.budget_client import Admission
from agents.outcome_assembly import assemble, failure_outcome, record_at
from agents.plan_builder import tool_call_requests
from agents.runtime import get_runtime
from models import ErrorKind, PlanCreated, ToolCallCompleted, ToolCallRequested
from models.ids import derived_id
from streams.app import app, settings
from streams.partitions import is_committed
from streams.topics import outcomes_topic, plans_topic, tool_results_topic
from tables.workflow import completed_calls, keep

log = logging.getLogger(__name__)

# Plans whose outcome this process has handed to the producer (which Faust flushes before it
# commits). After a rebalance Faust may hand the same record to the agent twice; the second
# time the outcome must not go out again. After a restart the memory is empty and the outcome
# is sent again, with the same id: it may never have left.
_SENT_MAX = 10_000
_sent: OrderedDict[str, None] = OrderedDict()

# A step's result and the plan record it was answered in.
Answered = tuple[ToolCallCompleted, tuple[str, int, int] | None]
# Steps this process is running, by call id: what a second copy of the plan awaits.
_running: dict[str, asyncio.Future[Answered]] = {}


# Each concurrent actor holds one plan in flight; Faust commits an offset only once every
# earlier message of the partition is acked, so at-least-once holds.
@app.agent(plans_topic, name="execute-plans", concurrency=settings.executor_concurrency)
async def execute_plans(stream: Any) -> None:
    models = {plans_topic.get_topic_name(): PlanCreated}
    await each_message(stream, models, _execute, _answer)


async def _execute(event: Any, plan: PlanCreated) -> None:
    at = event.message
    runtime = await get_runtime(settings)
    requests = tool_call_requests(plan)
    open_ = [r for r in requests if completed_calls.get(r.call_id) is None]
    # Steps another copy of this plan is running here are awaited, not run again.
    joined = {r.call_id: _running[r.call_id] for r in open_ if r.call_id in _running}
    unanswered = [r for r in open_ if r.call_id not in joined]
    mine = _claim(unanswered)
    try:
        # Budgets: reserve every step not answered yet before any runs (agents.spend_control).
        admission = await runtime.spend.admit(plan, unanswered, runtime.tools)
        runs = await asyncio.gather(
            *(_run_step(r, at, plan, admission, joined.get(r.call_id), mine) for r in requests)
        )
    finally:
        _release(mine)
    results = [completion for completion, _by in runs]
    again = [(r, c) for r, c in zip(requests, results, strict=True) if r not in unanswered]
    runtime.spend.settle_answered(plan, again, runtime.tools)  # a settlement may be lost
    earlier = {by for _completion, by in runs}
    first = earlier.pop() if len(earlier) == 1 else None
    if first is not None and _delivered(first):
        # Every step was answered while handling an earlier copy of this plan, and that record
        # is committed: Faust flushed what its handler produced before committing, so the
        # outcome is out. (A re-sent plan: its intent was read again.)
        return
    for completion, by in runs:
        if by is not None:  # stored: its first publication may not have gone out either
            _publish(completion)
    position = record_at(at)
    if position in _sent:
        return
    _sent[position] = None
    while len(_sent) > _SENT_MAX:
        _sent.popitem(last=False)
    outcome = assemble(plan, results, time.time())
    await runtime.spend.remember_outcome(plan, outcome, runtime.tools)  # the plan cache
    await outcomes_topic.send(key=plan.intent_id.encode(), value=outcome.to_bytes())


def _delivered(position: tuple[str, int, int]) -> bool:
    topic, partition, offset = position
    return is_committed(app, TP(topic, partition), offset)


def _claim(requests: list[ToolCallRequested]) -> dict[str, asyncio.Future[Answered]]:
    """Mark ``requests`` as running in this process (before anything is awaited)."""
    loop = asyncio.get_running_loop()
    mine = {r.call_id: loop.create_future() for r in requests}
    _running.update(mine)
    return mine


def _release(mine: dict[str, asyncio.Future[Answered]]) -> None:
    for call_id, future in mine.items():
        if _running.get(call_id) is future:
            del _running[call_id]
        if not future.done():  # the first copy failed or was cancelled before the step ended
            future.set_exception(RuntimeError(f"the run of call {call_id} ended without result"))
            future.exception()  # retrieved: no 'never retrieved' warning when nobody waits


async def _run_step(
    request: ToolCallRequested,
    message: Any,
    plan: PlanCreated,
    admission: Admission | None,
    running: asyncio.Future[Answered] | None,
    mine: dict[str, asyncio.Future[Answered]],
) -> Answered:
    """The step's result, and the plan record it was first answered in if it was answered
    before or by another copy of the plan (None when the tool ran now). Published on
    tool-results when the tool ran."""
    if running is not None:  # another copy of the plan runs it: its answer is this one's
        return await asyncio.shield(running)
    stored = completed_calls.get(request.call_id)
    if stored is not None:
        by = stored.get("plan_record")
        where = (str(by[0]), int(by[1]), int(by[2])) if by else None
        return ToolCallCompleted.model_validate(stored), where
    runtime = await get_runtime(settings)
    # Refused by a budget, from the result cache, shared with an identical call, or run.
    completion = await runtime.spend.run_call(
        request, plan, admission, runtime.tools, runtime.runner
    )
    record = [message.topic, message.partition, message.offset]
    keep(
        completed_calls,
        request.call_id,
        {**completion.model_dump(mode="json"), "plan_record": record},
    )
    _publish(completion)
    future = mine.get(request.call_id)
    if future is not None and not future.done():
        future.set_result((completion, (message.topic, message.partition, message.offset)))
    return completion, None


def _publish(completion: ToolCallCompleted) -> None:
    # Observers read step results here; nothing in the pipeline waits for them.
    tool_results_topic.send_soon(key=completion.intent_id.encode(), value=completion.to_bytes())


async def _answer(event: Any, plan: PlanCreated | None, kind: str, reason: str) -> None:
    """A plan that could not be run still answers its intent, as a failure that says why; its
    steps are recorded as failed so that a copy of the plan does not run them again."""
    if plan is None:
        await answer_unreadable(event, kind, reason)
        return
    for request in tool_call_requests(plan):
        if completed_calls.get(request.call_id) is None:
            failed = ToolCallCompleted(
                event_id=derived_id("done", request.call_id),
                intent_id=request.intent_id,
                call_id=request.call_id,
                tool=request.step.tool,
                ok=False,
                error_kind=ErrorKind.PROCESSING_ERROR,
                error=f"{kind}: {reason}"[:2000],
                attempts=0,
            )
            keep(completed_calls, request.call_id, failed.model_dump(mode="json"))
    outcome = failure_outcome(plan.intent_id, "processing_error", f"{kind}: {reason}")
    await outcomes_topic.send(key=plan.intent_id.encode(), value=outcome.to_bytes())
