"""prewarm_sessions: SessionStepCompleted -> the session model, and tools warmed ahead of time.

Per session (the topic's key), each completed intent teaches the model of its partition the
transition from the session's previous intent; when the next intent is likely enough
(settings.prewarm_threshold), the tool that usually serves it gets its MCP session opened
and, when it is cacheable and its arguments are predictable, is run now into the result
cache. The model is kept per partition: sessions are spread over partitions at random, so
each partition's model learns the same transitions from its share of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any

from faust.types import TP

from agents.boundary import each_message
from agents.result_cache import cache_key
from agents.runtime import Runtime, get_runtime
from learning.sessions import PrewarmCall, SessionModelConfig, advance, end_session, with_counts
from models.experiments import SessionStepCompleted
from streams.app import app, settings
from streams.topics import sessions_topic
from tables.experiments import partition_key, prewarm_stats, session_model, session_state, write
from tables.workflow import keep

log = logging.getLogger(__name__)

# Pre-warm calls in flight per worker: they are speculative, so they must not crowd out the
# executor's real calls (16 by default); 4 keeps a burst of sessions from doing so.
_MAX_IN_FLIGHT = 4
_slots = asyncio.Semaphore(_MAX_IN_FLIGHT)
_tasks: set[asyncio.Task[None]] = set()


@app.agent(sessions_topic, name="prewarm-sessions")
async def prewarm_sessions(stream: Any) -> None:
    models = {sessions_topic.get_topic_name(): SessionStepCompleted}
    await each_message(stream, models, _advance)


_config = replace(SessionModelConfig(), threshold=settings.prewarm_threshold)


async def _advance(event: Any, step: SessionStepCompleted) -> None:
    runtime = await get_runtime(settings)
    partition = event.message.partition

    def model_of(intent_class: str) -> Any:
        return session_model.get(partition_key(partition, intent_class))

    result = advance(session_state.get(step.session), step, model_of, runtime.tools, _config)
    if result is None:
        return  # a redelivered step
    keep(session_state, step.session, result.session)
    if result.model_class is not None:
        session_model[partition_key(partition, result.model_class)] = result.model
    key = partition_key(partition, "stats")
    prewarm_stats[key] = with_counts(prewarm_stats.get(key), result.counts)
    if result.calls:
        task = asyncio.create_task(_prewarm(runtime, result.calls, key, partition))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)


async def _prewarm(runtime: Runtime, calls: list[PrewarmCall], key: str, partition: int) -> None:
    """Open each tool's session; run the cacheable ones with arguments into the cache."""
    async with _slots:
        for call in calls:
            try:
                await _prewarm_one(runtime, call, key, partition)
            except Exception:  # speculative work must never take the agent down
                log.exception("pre-warming %s failed", call.tool)


async def _prewarm_one(runtime: Runtime, call: PrewarmCall, key: str, partition: int) -> None:
    spec = runtime.tools.get(call.tool)
    if spec is None:
        return
    await runtime.registry.warm(spec.name)
    if call.arguments is None or not spec.cacheable or runtime.cache is None:
        return  # never run a tool ahead of time whose result may not be reused
    if not spec.read_only:
        return  # nor one that may change something: nobody asked for this call yet
    entry = cache_key(settings.app_id, spec.name, spec.version, call.arguments)
    if await runtime.cache.get(entry) is not None:
        return
    result = await runtime.registry.call(spec.name, call.arguments, settings.retry.timeout_s)
    if result.ok:
        await runtime.cache.put(entry, result.output, settings.cache_ttl_s)
    counts = {
        "prewarm_runs": 1,
        "prewarm_cost": result.cost,
        "prewarm_failures": int(not result.ok),
    }
    # Counted after the record's processing: the key is this partition's, so its changelog
    # partition is given explicitly.
    write(prewarm_stats, partition, key, with_counts(prewarm_stats.data.get(key), counts))


# Idle sessions are looked for this often: a fifth of the idle time (a session ends at most 20 %
# late), at most a minute.
_IDLE_SWEEP_S = min(60.0, settings.prewarm_session_idle_s / 5)


@app.timer(interval=_IDLE_SWEEP_S)  # type: ignore[untyped-decorator]  # faust's is untyped
async def end_idle_sessions() -> None:
    """Sessions idle for settings.prewarm_session_idle_s teach the model that they ended."""
    ended = 0
    cutoff = time.time() - settings.prewarm_session_idle_s
    for name, value in list(session_state.data.items()):
        if not isinstance(value, dict) or float(value.get("at_s", cutoff)) > cutoff:
            continue
        partition = int(value.get("p", -1))
        if partition < 0 or not _owns(partition):
            continue  # another worker's session now

        def model_of(intent_class: str, p: int = partition) -> Any:
            return session_model.data.get(partition_key(p, intent_class))

        result = end_session(value, model_of, _config)
        if result is None:
            continue
        # at_s is kept: the retention sweep still forgets the session when it is due.
        write(session_state, partition, name, {**result.session, "at_s": value["at_s"]})
        if result.model_class is not None:
            model_key = partition_key(partition, result.model_class)
            write(session_model, partition, model_key, result.model)
        key = partition_key(partition, "stats")
        write(
            prewarm_stats, partition, key, with_counts(prewarm_stats.data.get(key), result.counts)
        )
        ended += 1
        if ended % 1000 == 0:
            await asyncio.sleep(0)  # a long scan must not hold the event loop


def _owns(partition: int) -> bool:
    topic = session_state.changelog_topic.get_topic_name()
    return bool(app.assignor.is_active(TP(topic, partition)))


@app.on_before_shutdown.connect
async def _cancel_prewarms(sender: Any, /, *args: Any, **kwargs: Any) -> None:
    for task in list(_tasks):
        task.cancel()
    if _tasks:
        await asyncio.gather(*_tasks, return_exceptions=True)
