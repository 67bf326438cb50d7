"""The chaos scenarios: each runs a deployment through one kind of fault and returns its row.

Every scenario publishes through a ``Publisher``, watches outcomes and dead letters with a
``Watch``, waits until every record is settled (or its drain time is up), reads the execution
records, and counts (``bench.chaos_count``). Scenarios that kill or freeze a broker or Redis
use the harness's private ones (``bench.chaos_services``), never the shared services.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from bench.chaos_count import Published, Row, count, latencies_ms, summary
from bench.chaos_hostile import Hostile, generate
from bench.chaos_rig import (
    Deployment,
    Publisher,
    SteadyLoad,
    Watch,
    broker_auto_creates_topics,
    mixed_intent,
    read_executions,
)
from bench.chaos_services import PrivateServices
from models import IntentSubmitted, RetryPolicy

log = logging.getLogger(__name__)

# A worker that answers nothing this long after its start is not coming up (a first start on
# 2 busy cores loads the sentence model and joins the group in 10-30 s).
READY_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Profile:
    """How hard each scenario pushes; ``SHORT`` is the CI profile."""

    rate: float = 20.0  # intents/s of the steady load
    kill9_kills: int = 20
    two_worker_kills: int = 5
    # A kill comes this many seconds after the worker answered again (uniformly); every 4th
    # comes 1-8 s after its start instead, before it may be ready.
    kill_after_s: tuple[float, float] = (0.5, 10.0)
    broker_outage_s: float = 30.0
    redis_outage_s: float = 20.0  # the issue's ~20 s freeze
    settle_s: float = 15.0  # load before and after a Redis outage: the latency windows
    hostile: int = 10_000
    good_after: int = 100  # good intents published after the hostile ones
    fresh_runs: int = 10
    fresh_intents: int = 10  # per batch: one batch before the worker starts, one as it starts
    shutdown_runs: int = 10
    growth_intents: int = 200_000
    growth_checkpoints: tuple[int, ...] = (20_000, 200_000)
    # Table stores the growth scenario compares (bench.chaos_growth.configurations).
    growth_stores: tuple[str, ...] = ("rocksdb", "memory", "retention")
    short_retention_s: float = 120.0
    # Draining: records still unsettled when no answer came for this long are counted lost (a
    # restarted worker rejoins and recovers within ~30 s; a slow one keeps answering).
    drain_idle_s: float = 90.0
    # Settings of every worker (TOOLWISE_* names in lower case), on top of the harness's.
    worker_env: tuple[tuple[str, str], ...] = ()


# The CI profile: every kind of fault once or twice, at a pace 2 busy cores keep up with.
SHORT = Profile(
    rate=8.0,
    kill9_kills=2,
    two_worker_kills=2,
    kill_after_s=(0.5, 4.0),
    redis_outage_s=10.0,
    settle_s=8.0,
    hostile=400,
    good_after=20,
    fresh_runs=1,
    fresh_intents=5,
    shutdown_runs=1,
    # Words only: CI checks what faults do to records, and the sentence model's planning cost
    # (bench.pipeline measures it) made the short profile twice as long on 2 busy cores.
    worker_env=(("text_model", "words"),),
)


@dataclass
class Context:
    profile: Profile
    root: Path
    seed: int
    broker: str  # the shared broker, for scenarios that do not hurt it
    redis_url: str
    private: PrivateServices
    loglevel: str = "info"
    keep_topics: bool = False
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    async def private_broker(self) -> str:
        if not self.private.kafka_started:
            await self.private.start_kafka()
        return self.private.broker

    async def private_redis(self) -> str:
        if not self.private.redis_started:
            await self.private.start_redis()
        return self.private.redis_url

    def deployment(self, stem: str, **values: Any) -> Deployment:
        values = {
            "broker": self.broker,
            "redis_url": self.redis_url,
            **dict(self.profile.worker_env),
            **values,
        }
        return Deployment.create(self.root, stem, self.loglevel, **values)


Chaos = Callable[[Deployment, Watch, Publisher], Awaitable[dict[str, Any]]]


async def under_load(
    ctx: Context,
    name: str,
    deployment: Deployment,
    chaos: Chaos,
    workers: int = 1,
    windows: dict[str, tuple[float, float]] | None = None,
) -> Row:
    """Start ``workers`` workers, put them under the steady load, run ``chaos``, then drain
    and count. Exits the harness did not cause are counted, and those workers restarted.
    ``windows`` (filled by ``chaos``): name -> (since, until), the latency of the intents
    submitted in each."""
    settings = deployment.settings
    await deployment.create_topics()
    watch = Watch(settings)
    await watch.start()
    started = time.time()
    for slot in range(workers):
        deployment.spawn(slot)
    exits = asyncio.create_task(deployment.watch_exits())
    notes: dict[str, Any] = {}
    try:
        async with Publisher(settings) as publisher:
            await publisher.submit(mixed_intent(0))
            ready = await watch.first_outcome_after(started, READY_TIMEOUT_S)
            notes["first_ready_s"] = None if ready is None else round(ready, 1)
            load = SteadyLoad(publisher, ctx.profile.rate)
            load.start()
            try:
                notes |= await chaos(deployment, watch, publisher)
            finally:
                await load.stop()
            chaos_ended = time.time()
            drained = await watch.drain(publisher.published, ctx.profile.drain_idle_s)
            notes["drained_s"] = round(time.time() - chaos_ended, 1)
            if not drained:
                notes["drain_timed_out"] = True
            if publisher.gave_up:
                notes["not_published"] = publisher.gave_up
            if windows:
                notes["latency"] = {
                    window: latencies_ms(publisher.published, watch.outcomes, since, until)
                    for window, (since, until) in windows.items()
                }
        return await finish(ctx, name, deployment, watch, publisher, notes)
    finally:
        exits.cancel()
        await asyncio.gather(exits, return_exceptions=True)
        await cleanup(ctx, deployment, watch)


async def finish(
    ctx: Context,
    name: str,
    deployment: Deployment,
    watch: Watch,
    publisher: Publisher,
    notes: dict[str, Any],
) -> Row:
    ids = {p.intent_id for p in publisher.published if p.intent_id is not None}
    executions = await read_executions(deployment.settings, ids)
    row = count(
        name,
        publisher.published,
        watch.outcomes,
        watch.letters,
        executions,
        len(deployment.unexpected),
    )
    row.notes = {**notes, **row.notes}
    gap = max_gap(sorted(o.arrived_at for o in watch.outcomes))
    if gap is not None:
        row.notes["longest_pause_in_outcomes_s"] = round(gap, 1)
    if deployment.unexpected:
        row.notes["unexpected_exits"] = [line.splitlines()[0] for line in deployment.unexpected]
    row.notes["logs"] = str(deployment.root)
    if row.lost or row.dup_other_id:
        deployment.keep_topics = True  # for a look at where the records stopped
        row.notes["topics_kept"] = f"{deployment.settings.topic_prefix}-*"
    return row


async def cleanup(ctx: Context, deployment: Deployment, watch: Watch) -> None:
    await watch.stop()
    await deployment.stop()
    if not (ctx.keep_topics or deployment.keep_topics):
        with contextlib.suppress(Exception):
            await deployment.delete_topics()


def max_gap(times: list[float]) -> float | None:
    return max((b - a for a, b in pairwise(times)), default=None)


async def _ready_after(watch: Watch, since: float) -> float | None:
    return await watch.first_outcome_after(since, READY_TIMEOUT_S)


async def kill9(ctx: Context) -> Row:
    """One worker under steady load, kill -9 at random moments and restarted each time."""
    profile = ctx.profile

    async def chaos(deployment: Deployment, watch: Watch, _pub: Publisher) -> dict[str, Any]:
        ready: list[float] = []
        early = 0
        never = 0
        for kill in range(profile.kill9_kills):
            worker = deployment.worker(0)
            if kill % 4 == 3:  # every 4th kill: during start-up and recovery
                early += 1
                await asyncio.sleep(ctx.rng.uniform(1.0, 8.0))
            else:
                took = await _ready_after(watch, worker.started_at)
                if took is None:
                    never += 1
                await asyncio.sleep(ctx.rng.uniform(*profile.kill_after_s))
            await worker.kill9()
            restarted = deployment.spawn(0)
            took = await _ready_after(watch, restarted.started_at)
            if took is None:
                never += 1
            else:
                ready.append(took)
        await asyncio.sleep(5.0)
        notes: dict[str, Any] = {
            "kills": profile.kill9_kills,
            "kills_during_startup": early,
            "restart_to_ready_s": summary(ready),
        }
        if never:
            notes["restarts_not_ready_in_180s"] = never
        return notes

    return await under_load(ctx, "kill9", ctx.deployment("kill9"), chaos)


async def two_workers(ctx: Context) -> Row:
    """Two workers under load; kill -9 one of them (at random) and restart it, repeatedly."""
    profile = ctx.profile

    async def chaos(deployment: Deployment, watch: Watch, _pub: Publisher) -> dict[str, Any]:
        # Both workers in the group and serving before the first kill.
        await asyncio.sleep(15.0)
        killed = []
        for _ in range(profile.two_worker_kills):
            await asyncio.sleep(ctx.rng.uniform(5.0, 15.0))
            slot = ctx.rng.randrange(2)
            await deployment.worker(slot).kill9()
            deployment.spawn(slot)
            killed.append(slot)
        await asyncio.sleep(10.0)
        return {"kills": len(killed), "killed_slots": killed}

    return await under_load(ctx, "two-workers", ctx.deployment("two"), chaos, workers=2)


async def broker(ctx: Context) -> Row:
    """The (private) broker is killed -9 under load and started again after an outage."""
    outage = ctx.profile.broker_outage_s
    url = await ctx.private_broker()

    async def chaos(deployment: Deployment, watch: Watch, _pub: Publisher) -> dict[str, Any]:
        await asyncio.sleep(10.0)
        await ctx.private.kill_kafka()
        killed = time.time()
        await asyncio.sleep(outage)
        await ctx.private.start_kafka()
        back = time.time()
        resumed = await watch.first_outcome_after(back, READY_TIMEOUT_S)
        await asyncio.sleep(20.0)
        return {
            "outage_s": round(back - killed, 1),
            "outcomes_again_after_broker_back_s": None if resumed is None else round(resumed, 1),
        }

    deployment = ctx.deployment("broker", broker=url)
    return await under_load(ctx, "broker", deployment, chaos)


async def redis_outage(ctx: Context, freeze: bool) -> Row:
    """The (private) Redis is killed -9 (or frozen with SIGSTOP) for a while under load;
    latency before, during and after."""
    outage = ctx.profile.redis_outage_s
    url = await ctx.private_redis()
    windows: dict[str, tuple[float, float]] = {}

    async def chaos(deployment: Deployment, watch: Watch, _pub: Publisher) -> dict[str, Any]:
        await asyncio.sleep(ctx.profile.settle_s)
        began = time.time()
        windows["before"] = (began - ctx.profile.settle_s + 3.0, began)
        if freeze:
            ctx.private.signal_redis(signal.SIGSTOP)
        else:
            await ctx.private.kill_redis()
        await asyncio.sleep(outage)
        ended = time.time()
        if freeze:
            ctx.private.signal_redis(signal.SIGCONT)
        else:
            await ctx.private.start_redis()
        windows["during"] = (began, ended)
        await asyncio.sleep(ctx.profile.settle_s)
        windows["after"] = (ended + 3.0, time.time())
        return {"outage_s": round(ended - began, 1)}

    name = "redis-freeze" if freeze else "redis-kill"
    deployment = ctx.deployment(name, redis_url=url)
    return await under_load(ctx, name, deployment, chaos, windows=windows)


async def redis_kill(ctx: Context) -> Row:
    return await redis_outage(ctx, freeze=False)


async def redis_freeze(ctx: Context) -> Row:
    return await redis_outage(ctx, freeze=True)


async def hostile(ctx: Context) -> Row:
    """Generated hostile records on the intents topic, then good intents after them."""
    profile = ctx.profile
    deployment = ctx.deployment("hostile")
    settings = deployment.settings
    made = time.monotonic()
    records = generate(profile.hostile, ctx.seed, f"{settings.topic_prefix}-h")
    generated_s = time.monotonic() - made
    await deployment.create_topics()
    watch = Watch(settings)
    await watch.start()
    started = time.time()
    deployment.spawn(0)
    exits = asyncio.create_task(deployment.watch_exits())
    notes: dict[str, Any] = {"generated_s": round(generated_s, 1)}
    try:
        async with Publisher(settings) as publisher:
            await publisher.submit(mixed_intent(0))
            ready = await watch.first_outcome_after(started, READY_TIMEOUT_S)
            notes["first_ready_s"] = None if ready is None else round(ready, 1)
            gate = asyncio.Semaphore(16)  # publishes in flight: fast, and in order enough

            async def one(record: Hostile) -> Published | None:
                async with gate:
                    return await publisher.publish(
                        record.value, record.key, record.intent_id, hostile=True
                    )

            published_at = time.time()
            sent = await asyncio.gather(*(one(r) for r in records))
            good = [mixed_intent(n) for n in range(1, profile.good_after + 1)]
            for intent in good:
                await publisher.submit(intent)
            notes["publish_s"] = round(time.time() - published_at, 1)
            drained = await watch.drain(publisher.published, profile.drain_idle_s)
            notes["settled_s"] = round(time.time() - published_at, 1)
            if not drained:
                notes["drain_timed_out"] = True
            notes |= _hostile_notes(watch, list(zip(records, sent, strict=True)), good)
        return await finish(ctx, "hostile", deployment, watch, publisher, notes)
    finally:
        exits.cancel()
        await asyncio.gather(exits, return_exceptions=True)
        await cleanup(ctx, deployment, watch)


def _hostile_notes(
    watch: Watch, sent: list[tuple[Hostile, Published | None]], good: list[IntentSubmitted]
) -> dict[str, Any]:
    lost: Counter[str] = Counter(
        record.kind for record, at in sent if at is not None and not watch.settled(at)
    )
    completed = {o.intent_id for o in watch.outcomes if o.type == "IntentCompleted"}
    letters = Counter(letter.error_kind for letter in watch.letters)
    good_ids = {g.intent_id for g in good}
    good_failed = Counter(
        o.error_kind for o in watch.outcomes if o.intent_id in good_ids - completed
    )
    notes: dict[str, Any] = {
        "hostile": len(sent),
        "good_completed": f"{len(good_ids & completed)}/{len(good)}",
        "letters_by_kind": dict(letters.most_common()),
    }
    if good_failed:
        notes["good_failed_by_kind"] = dict(good_failed.most_common())
    if lost:
        notes["lost_by_kind"] = dict(lost.most_common())
    return notes


async def fresh(ctx: Context) -> Row:
    """Fresh deployments: a client publishes before the first worker starts and as it starts."""
    profile = ctx.profile
    url = ctx.broker
    if await broker_auto_creates_topics(url.split("://", 1)[-1]):
        # The bundled config disables auto-creation; a broker that auto-creates gives the
        # client's first topic 1 partition and the worker refuses it (by design, with a fix).
        url = await ctx.private_broker()
    published, outcomes, letters, executions = [], [], [], []
    ready: list[float] = []
    exits = 0
    unexpected: list[str] = []
    for run in range(profile.fresh_runs):
        deployment = ctx.deployment(f"fresh{run}", broker=url)
        watch = Watch(deployment.settings)
        try:
            async with Publisher(deployment.settings) as publisher:
                before = [mixed_intent(n) for n in range(profile.fresh_intents)]
                tasks = [asyncio.create_task(publisher.submit(i)) for i in before]
                await asyncio.sleep(0.5)  # the client is waiting for the topic already
                worker = deployment.spawn(0)
                watcher = asyncio.create_task(deployment.watch_exits())
                as_it_starts = [
                    mixed_intent(n) for n in range(profile.fresh_intents, 2 * profile.fresh_intents)
                ]
                tasks += [asyncio.create_task(publisher.submit(i)) for i in as_it_starts]
                await watch.start(timeout_s=READY_TIMEOUT_S)
                await asyncio.gather(*tasks)
                took = await watch.first_outcome_after(worker.started_at, READY_TIMEOUT_S)
                if took is not None:
                    ready.append(took)
                if not await watch.drain(publisher.published, profile.drain_idle_s):
                    deployment.keep_topics = True  # for a look at where the records stopped
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
                ids = {p.intent_id for p in publisher.published if p.intent_id}
                published += publisher.published
                outcomes += watch.outcomes
                letters += watch.letters
                executions += await read_executions(deployment.settings, ids)
                exits += len(deployment.unexpected)
                unexpected += [line.splitlines()[0] for line in deployment.unexpected]
        finally:
            await cleanup(ctx, deployment, watch)
    row = count("fresh", published, outcomes, letters, executions, exits)
    row.notes = {
        "runs": profile.fresh_runs,
        "broker": "private (auto-create off)" if url != ctx.broker else "shared",
        "start_to_first_outcome_s": summary(ready),
        **row.notes,
    }
    if unexpected:
        row.notes["unexpected_exits"] = unexpected
    return row


def sleep_intent(seconds: float) -> IntentSubmitted:
    return IntentSubmitted(
        text="chaos sleep",
        tool="testing.sleep",
        arguments={"seconds": seconds},
        policy=RetryPolicy(timeout_s=300, max_attempts=1),
    )


async def shutdown(ctx: Context) -> Row:
    """SIGTERM a worker with tool calls in flight, repeatedly: the time it takes to exit."""
    profile = ctx.profile
    exit_s: list[float] = []
    codes: list[int] = []
    ready: list[float] = []

    async def chaos(deployment: Deployment, watch: Watch, pub: Publisher) -> dict[str, Any]:
        for _ in range(profile.shutdown_runs):
            worker = deployment.worker(0)
            await _ready_after(watch, worker.started_at)
            for _ in range(3):
                await pub.submit(sleep_intent(round(ctx.rng.uniform(5.0, 20.0), 1)))
            await asyncio.sleep(ctx.rng.uniform(2.0, 5.0))  # the sleeps are running now
            exit_s.append(await worker.terminate())
            codes.append(worker.proc.returncode)
            restarted = deployment.spawn(0)
            took = await _ready_after(watch, restarted.started_at)
            if took is not None:
                ready.append(took)
        await asyncio.sleep(5.0)
        return {
            "stops": len(exit_s),
            "exit_s": summary(exit_s),
            "exits_over_15s": sum(s > 15.0 for s in exit_s),
            "exit_codes": sorted(set(codes)),
            "restart_to_ready_s": summary(ready),
        }

    return await under_load(ctx, "shutdown", ctx.deployment("shutdown"), chaos)


SCENARIOS: dict[str, Callable[[Context], Awaitable[Row]]] = {
    "kill9": kill9,
    "two-workers": two_workers,
    "broker": broker,
    "redis-kill": redis_kill,
    "redis-freeze": redis_freeze,
    "hostile": hostile,
    "fresh": fresh,
    "shutdown": shutdown,
}
SHORT_SCENARIOS = ("kill9", "hostile", "fresh", "shutdown")
