"""Dependencies of the agents, wired once per worker: tools, ranker, cache."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.argument_filling import fill_arguments
from agents.cancellation import CancellationPolicy, Cancellations
from agents.content_exchange import ClaimCheckPolicy, ContentGateway, check_in_intent
from agents.content_store import ContentStore, RedisContentStore
from agents.llm_planner import llm_planner
from agents.plan_builder import Ranker, keyword_ranker
from agents.planners import Planned, Planner, StepsFn
from agents.ranking import STRATEGY as LEARNED_STRATEGY
from agents.ranking import learned_ranker, text_encoder
from agents.result_cache import Breaker, GuardedCache, RedisResultCache
from agents.spend_control import SpendControl, start_spend_control
from agents.step_runner import StepRunner
from agents.tool_mesh import ToolMesh, prefer_available, start_mesh
from agents.tool_policy import retry_safe
from learning import LearningState, Recommender
from models import (
    CancellationRequested,
    ExecutionRecorded,
    IntentSubmitted,
    ToolCallProgressed,
    ToolSpec,
)
from streams.follower import OnRecord, Record, TopicFollower
from streams.settings import Settings
from streams.topics import executions_topic, progress_topic
from tables.learned_replica import LearnedReplica
from tables.learning import changelog_topic_name
from tools.config import load_tools_config
from tools.registry import ToolRegistry

log = logging.getLogger(__name__)

KEYWORD_STRATEGY = "builtin-keyword"
# Even with state_retention_s=0, a cancellation must outlive the intent's plan in flight.
_MIN_CANCELLATION_KEEP_S = 600.0


@dataclass
class Runtime:
    settings: Settings
    registry: ToolRegistry
    cache: GuardedCache | None
    rank: Ranker
    strategy: str
    runner: StepRunner
    tools: Mapping[str, ToolSpec]
    learned: LearnedReplica
    recommender: Recommender
    content: ContentStore | None = None
    claim_check: ClaimCheckPolicy = field(default_factory=ClaimCheckPolicy)
    planner: Planner | None = None  # None: the built-in planner with ``rank``
    cancellations: Cancellations = field(default_factory=Cancellations)
    cancellation_feed: TopicFollower | None = None
    spend_control: SpendControl | None = None  # budgets and caches (agents.spend_control)
    mesh: ToolMesh | None = None  # versions, nodes, health; None: tools as listed at start

    @property
    def spend(self) -> SpendControl:
        if self.spend_control is None:  # nothing counted, nothing cached
            self.spend_control = SpendControl(self.settings, None, None)
        return self.spend_control

    def version_for(self, tool: str, intent_id: str) -> str:
        """The version of ``tool`` (a name or a ``name@version`` pin) this intent's call uses."""
        if self.mesh is not None:
            return self.mesh.router.resolve(tool, intent_id)[1]
        spec = self.tools.get(tool)
        return spec.version if spec else "1"

    async def plan(self, intent: IntentSubmitted, builtin: StepsFn) -> Planned:
        """Plan ``intent`` with the configured planner (``builtin`` unless it is 'llm'),
        its large content parts first moved to the content store."""
        intent = await check_in_intent(intent, self.content, self.claim_check)
        if self.planner is None:
            return Planned(await builtin(intent), self.strategy)
        return await self.planner.plan(intent, builtin)

    async def aclose(self) -> None:
        if self.cancellation_feed is not None:
            await self.cancellation_feed.stop()
        await self.spend.aclose()
        await self.learned.stop()
        if self.mesh is not None:
            await self.mesh.aclose()
        await self.registry.aclose()
        if self.cache is not None:
            await self.cache.aclose()
        if self.content is not None:
            await self.content.aclose()
        if self.planner is not None:
            await self.planner.aclose()


def record_execution(record: ExecutionRecorded) -> None:
    # send_soon only buffers: recording never waits on Kafka in the call path.
    executions_topic.send_soon(key=record.tool.encode(), value=record.to_bytes())


def record_progress(event: ToolCallProgressed) -> None:
    progress_topic.send_soon(key=event.intent_id.encode(), value=event.to_bytes())


def follow_cancellations(cancellations: Cancellations) -> OnRecord:
    """What to do with each record of the cancellations topic: stop the intent's calls."""

    def on_record(record: Record) -> None:
        try:
            request = CancellationRequested.model_validate_json(record.value or b"")
        except ValueError as exc:
            log.warning("ignoring an unreadable cancellation at offset %d: %s", record.offset, exc)
            return
        stopped = cancellations.cancel(request.intent_id, request.reason)
        log.info("intent %s cancelled (%d running calls stopped)", request.intent_id, stopped)

    return on_record


@dataclass
class _Parts:
    """What the runtime needs that sends nothing through the app's producer: started by
    ``prepare_runtime`` as the worker's loop starts, each part beside the others."""

    registry: ToolRegistry
    cancellations: Cancellations
    cancellation_feed: TopicFollower
    learned: LearnedReplica
    recommender: Recommender
    spend_control: SpendControl
    cache: GuardedCache | None


_runtime: Runtime | None = None
_lock = asyncio.Lock()
_parts: asyncio.Task[_Parts] | None = None


async def prepare_runtime(settings: Settings) -> _Parts:
    """Start the tool servers, the replicas and feeds, and the sentence model, concurrently.

    Called when the worker's loop starts (``interfaces.worker``), before Faust has joined the
    group; ``get_runtime`` awaits the same start. A failed start is tried again by the next
    call."""
    global _parts
    if _parts is None:
        _parts = asyncio.get_running_loop().create_task(_start_parts(settings))
    task = _parts
    try:
        return await asyncio.shield(task)
    except BaseException:
        if task.done() and _parts is task:
            _parts = None
        raise


async def _start_parts(settings: Settings) -> _Parts:
    took = _Phases()
    registry = ToolRegistry.from_config(load_tools_config(settings.tools_config))
    cache: GuardedCache | None = None
    if settings.redis_url:
        cache = GuardedCache(
            RedisResultCache(settings.redis_url, settings.redis_timeout_s),
            settings.redis_timeout_s,
            Breaker(settings.redis_cooldown_s),
        )
    cancellations = Cancellations(
        CancellationPolicy(keep_s=max(settings.state_retention_s, _MIN_CANCELLATION_KEEP_S))
    )
    cancellation_feed = TopicFollower(
        settings.bootstrap_servers,
        [settings.topic_name("cancellations")],
        follow_cancellations(cancellations),
        lookback_s=cancellations.policy.keep_s,
        name="cancellations",
    )
    learned = LearnedReplica(
        settings.bootstrap_servers,
        changelog_topic_name(),
        settings.topic_name("learning-control"),
    )
    recommender = Recommender(encoder=text_encoder(settings))

    async def tools_and_planner() -> None:
        # Tool servers (a stdio one is a process that imports the MCP SDK: 1-2 s, side by
        # side) while the sentence model loads in a thread; then what the first plan would
        # otherwise pay within its budget (1 s): embedding every tool description, the
        # time-zone and place tables, compiling patterns.
        model = asyncio.create_task(asyncio.to_thread(_load_model, recommender))
        await registry.start()
        took.mark("tool servers")
        log.info("tools: %s", ", ".join(spec.name for spec in registry.specs()))
        await model
        await asyncio.to_thread(_warm_planner, recommender, registry.specs())
        took.mark("planner warm-up")

    async def timed(name: str, start: Awaitable[Any]) -> None:
        await start
        took.mark(name)

    spend_control = asyncio.create_task(start_spend_control(settings, cache))
    await asyncio.gather(
        tools_and_planner(),
        timed("cancellations", cancellation_feed.start()),
        timed("learned state", learned.start()),
        timed("spend control", asyncio.shield(spend_control)),
    )
    log.info("runtime parts started in %s", took)
    return _Parts(
        registry,
        cancellations,
        cancellation_feed,
        learned,
        recommender,
        spend_control.result(),
        cache,
    )


async def get_runtime(settings: Settings) -> Runtime:
    """The worker's runtime, started on first use (tool servers connected, tools listed)."""
    global _runtime
    async with _lock:
        if _runtime is None:
            parts = await prepare_runtime(settings)
            registry = parts.registry
            content: ContentStore | None = (
                RedisContentStore(
                    settings.redis_url,
                    settings.app_id,
                    settings.content_ttl_s,
                    settings.content_max_bytes,
                )
                if settings.redis_url
                else None
            )
            claim_check = ClaimCheckPolicy(settings.content_inline_max_bytes)
            began = time.monotonic()
            mesh = await start_mesh(settings, registry)  # the registry, health, failover
            log.info("tool mesh started in %.2f s", time.monotonic() - began)
            gateway = ContentGateway(mesh.router.call, content, claim_check)
            runner = StepRunner(
                call=gateway,
                record=record_execution,
                progress=record_progress,
                progress_interval_s=settings.progress_interval_s,
                cancellations=parts.cancellations,
                resolve=mesh.router.resolve,
            )
            tools = mesh.tools  # live: versions activated and tools registered at run time
            recommender = parts.recommender
            rank: Ranker = keyword_ranker
            strategy = KEYWORD_STRATEGY
            if settings.planner_strategy in ("learned", "llm"):
                rng = np.random.default_rng()
                rank = learned_ranker(recommender, parts.learned, settings.recommend_top_k, rng)
                strategy = LEARNED_STRATEGY
            rank = prefer_available(rank, mesh.router.available)
            planner: Planner | None = None
            if settings.planner_strategy == "llm":  # the learned planner is its fallback
                planner = llm_planner(
                    settings, tools, rank, strategy, record_execution, recommender.encoder
                )
            _runtime = Runtime(
                settings,
                registry,
                parts.cache,
                rank,
                strategy,
                runner,
                tools,
                parts.learned,
                recommender,
                content,
                claim_check,
                planner,
                parts.cancellations,
                parts.cancellation_feed,
                spend_control=parts.spend_control,
                mesh=mesh,
            )
            runner.retry_safe = lambda tool: retry_safe(tools.get(tool))
            _runtime.spend.version_for = _runtime.version_for  # cache keys: a canary's version
            mesh.router.may_repeat = retry_safe  # failover to another node after a sent call
        return _runtime


class _Phases:
    """When each part of the runtime's start was done, for the log."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.phases: list[tuple[str, float]] = []

    def mark(self, phase: str) -> None:
        self.phases.append((phase, time.monotonic() - self.began))

    def __str__(self) -> str:
        parts = ", ".join(f"{name} at {s:.2f}" for name, s in self.phases)
        return f"{max((s for _n, s in self.phases), default=0.0):.2f} s ({parts})"


def _load_model(recommender: Recommender) -> None:
    if recommender.encoder is not None:
        recommender.encoder.embed(["warm up"])


def _warm_planner(recommender: Recommender, specs: list[ToolSpec]) -> None:
    recommender.recommend("warm up", {}, specs, LearningState(), top_k=1, explore=False)
    for spec in specs:
        fill_arguments(spec, "warm up at 9:00 in Paris on 2026-01-01", {})


async def close_runtime() -> None:
    """Close the runtime, or the parts started early when the worker stops before it is
    ready; a later ``get_runtime`` starts everything anew."""
    global _runtime, _parts
    async with _lock:
        parts, _parts = _parts, None
        if _runtime is not None:
            await _runtime.aclose()
            _runtime = None
        elif parts is not None:
            if not parts.done():
                parts.cancel()
            await asyncio.gather(parts, return_exceptions=True)
            if not parts.cancelled() and parts.exception() is None:
                await _close_parts(parts.result())


async def _close_parts(parts: _Parts) -> None:
    await parts.cancellation_feed.stop()
    await parts.spend_control.aclose()
    await parts.learned.stop()
    await parts.registry.aclose()
    if parts.cache is not None:
        await parts.cache.aclose()
