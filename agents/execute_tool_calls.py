"""execute_tool_calls: ToolCallRequested -> ToolCallCompleted, each attempt recorded."""

from __future__ import annotations

import logging
from typing import Any

from agents.answers import answer_unreadable
from agents.boundary import each_message
from agents.result_cache import cache_key
from agents.runtime import Runtime, get_runtime
from agents.step_runner import execute_step
from models import ErrorKind, ToolCallCompleted, ToolCallRequested
from models.ids import derived_id
from streams.app import app, settings
from streams.topics import tool_calls_topic, tool_results_topic
from tables.workflow import completed_calls, keep

log = logging.getLogger(__name__)


# Each concurrent actor holds one call in flight; Faust commits an offset only
# once every earlier message of the partition is acked, so at-least-once holds.
@app.agent(tool_calls_topic, name="execute-tool-calls", concurrency=settings.executor_concurrency)
async def execute_tool_calls(stream: Any) -> None:
    models = {tool_calls_topic.get_topic_name(): ToolCallRequested}
    await each_message(stream, models, _execute, _answer)


async def _execute(event: Any, request: ToolCallRequested) -> None:
    stored = completed_calls.get(request.call_id)
    if stored is not None:
        completion = ToolCallCompleted.model_validate(stored)
    else:
        runtime = await get_runtime(settings)
        completion = await _cached(runtime, request) or await execute_step(request, runtime.runner)
        await _remember(runtime, request, completion)
        keep(completed_calls, request.call_id, completion.model_dump(mode="json"))
    await _send(request, completion)


async def _send(request: ToolCallRequested, completion: ToolCallCompleted) -> None:
    await tool_results_topic.send(key=request.intent_id.encode(), value=completion.to_bytes())


async def _answer(event: Any, request: ToolCallRequested | None, kind: str, reason: str) -> None:
    """A call that could not be run still completes its step, as a failure, so the intent's
    outcome says why; a request that could not even be read fails the intent directly."""
    if request is None:
        await answer_unreadable(event, kind, reason)
        return
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
    await _send(request, failed)


async def _cached(runtime: Runtime, request: ToolCallRequested) -> ToolCallCompleted | None:
    step = request.step
    spec = runtime.tools.get(step.tool)
    if runtime.cache is None or spec is None or not spec.cacheable:
        return None
    # A guarded cache: an outage or a slow Redis reads as a miss (agents.result_cache).
    output = await runtime.cache.get(
        cache_key(settings.app_id, spec.name, spec.version, step.arguments)
    )
    if output is None:
        return None
    return ToolCallCompleted(
        event_id=derived_id("done", request.call_id),
        intent_id=request.intent_id,
        call_id=request.call_id,
        tool=spec.name,
        ok=True,
        output=output,
        attempts=0,
        tools_tried=[],
        cached=True,
    )


async def _remember(runtime: Runtime, request: ToolCallRequested, done: ToolCallCompleted) -> None:
    spec = runtime.tools.get(done.tool)
    if runtime.cache is None or spec is None or not spec.cacheable or not done.ok or done.cached:
        return
    if done.content:
        return  # the cache keeps output only; a hit must not come back without its parts
    arguments = request.step.arguments
    if done.tool != request.step.tool:
        arguments = next(f.arguments for f in request.step.fallbacks if f.tool == done.tool)
    await runtime.cache.put(
        cache_key(settings.app_id, spec.name, spec.version, arguments),
        done.output,
        settings.cache_ttl_s,
    )
