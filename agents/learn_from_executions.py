"""learn_from_executions: ExecutionRecorded batches -> the learned-state table.

Batches are size- and time-bound (settings.learning_batch_size/_s) and
never touch the tool-call path: executors only buffer their records.
Per partition and generation, a watermark (the last offset applied) makes
redeliveries change nothing and lets a replayed generation take over where
`toolwise replay` stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import learning
from agents.boundary import decoded_events, send_dead_letter
from agents.runtime import Runtime, get_runtime
from learning import exemplars
from learning.embedding import Vectors
from models import ExecutionRecorded
from models.codec import InvalidMessage, decode
from streams.app import app, settings
from streams.topics import executions_topic
from tables.learned import key, learning_state
from tables.learned_replica import LearnedReplica
from tables.learning import read_local, write
from tables.replica import read_range

log = logging.getLogger(__name__)
Offsets = list[tuple[int, ExecutionRecorded]]


_batcher: learning.Batcher[Any] = learning.Batcher(
    learning.BatchPolicy(
        max_records=settings.learning_batch_size, max_wait_s=settings.learning_batch_s
    )
)
# One batch learned at a time, in the order batches were taken: the watermark
# of a partition must only move forward.
_learning = asyncio.Lock()
# Texts per embedding call in the worker thread: one forward batch of the model.
_EMBED_CHUNK = 64


# Batching by hand rather than with Stream.take(): take() waits on the agent's
# channel with a timeout, and a rebalance during that wait cancelled the agent
# (robinhood/faust#678); in a two-worker run one learner stopped for good.
# Manual acks (Stream.noack) left one reference per message, so Faust never
# committed these offsets and waited for them forever at shutdown. So events
# are acked as read: a crash can lose at most one batch window of learning
# (never an outcome), and shutdown learns what is buffered first.
#
# So does a rebalance: each partition's learned keys have one writer, and the
# worker that takes a partition over recovers its keys from the changelog.
# A batch learned after the hand-over would be written by the old owner behind
# the new one's back (traced with two workers: counts both lost and doubled).
@app.agent(executions_topic, name="learn-from-executions")
async def learn_from_executions(stream: Any) -> None:
    models = {executions_topic.get_topic_name(): ExecutionRecorded}
    async for event, record in decoded_events(stream, models):
        await _learn_events(_batcher.add((event, record), time.monotonic()))


@app.timer(interval=0.1)  # type: ignore[untyped-decorator]  # faust's decorator is untyped
async def _flush_overdue() -> None:
    await _learn_events(_batcher.poll(time.monotonic()))


@app.on_partitions_revoked.connect
async def _learn_before_handing_over(
    sender: Any, /, *args: Any, signal: Any, **kwargs: Any
) -> None:
    await _learn_buffered()
    await app.producer.flush()


async def flush_pending() -> None:
    """Learn what is buffered (at shutdown, when the flushing timer has stopped)."""
    await _learn_buffered()


async def _learn_buffered() -> None:
    # Taken under the lock: everything read up to the moment the learning runs.
    async with _learning:
        await _learn(_batcher.flush())


async def _learn_events(events: list[tuple[Any, ExecutionRecorded]] | None) -> None:
    if events:
        async with _learning:
            await _learn(events)


async def _learn(events: list[tuple[Any, ExecutionRecorded]]) -> None:
    if not events:
        return
    runtime = await get_runtime(settings)
    by_partition: dict[int, list[tuple[Any, ExecutionRecorded]]] = {}
    for event, record in events:
        by_partition.setdefault(event.message.partition, []).append((event, record))
    for partition, pairs in sorted(by_partition.items()):
        # In offset order, each offset once (a partition read again repeats some).
        records = sorted({e.message.offset: r for e, r in pairs}.items())
        try:
            await learn(runtime, partition, records)
        except Exception as exc:
            # Inside the boundary, like every agent: the records are set aside with the
            # reason, and learning goes on with the next batch.
            log.exception("learning %d records of partition %d failed", len(records), partition)
            reason = f"learning failed: {type(exc).__name__}: {exc}"[:2000]
            for event, _record in pairs:
                await send_dead_letter(event, "processing_error", reason)


def live_generations(replica: LearnedReplica, partition: int) -> list[int]:
    """The active generation, plus newer ones a replay has handed over for this partition."""
    active = replica.active_generation
    newer = [g for g in replica.known_generations() if g > active]
    return [active, *(g for g in sorted(newer) if replica.handoff(g, partition) is not None)]


async def learn(runtime: Runtime, partition: int, records: Offsets) -> None:
    replica = runtime.learned

    def read(raw_key: str) -> Any:
        # Own writes first (the replica sees them a few ms later), then peers'.
        value = read_local(raw_key)
        return value if value is not None else replica.read(raw_key)

    def write_key(raw_key: str, value: Any) -> None:
        write(partition, raw_key, value)
        replica.index.observe(raw_key, True)

    for generation in live_generations(replica, partition):
        wm_key = key(generation, "wm", str(partition))
        stored = read(wm_key)
        handoff = replica.handoff(generation, partition)
        watermark = int(stored) if stored is not None else (handoff if handoff is not None else -1)
        fresh = [(o, r) for o, r in records if o > watermark]
        if not fresh:
            continue
        if [o for o, _ in fresh] != list(range(watermark + 1, fresh[-1][0] + 1)):
            # Not the records right after the watermark, in order: the
            # replay's end lies before this batch, or a partition was read
            # again from an earlier offset (a rebalance, the stuck-partition
            # watchdog). Read the whole stretch from the topic, so that no
            # record is learned twice or skipped.
            fresh = await _fetch(runtime, partition, watermark + 1, fresh[-1][0] + 1)
            log.info(
                "generation %d, partition %d: read %d records from offset %d",
                generation,
                partition,
                len(fresh),
                watermark + 1,
            )
            if not fresh:
                continue
        state = learning_state(generation, read, replica.index, write_key)
        encoder = runtime.recommender.encoder
        embedded: dict[str, Vectors] = {}
        if encoder is not None:
            # The model run takes ~3-8 ms per intent: off the event loop, in chunks, so a
            # 500-record batch (or a longer stretch read again) never stalls heartbeats or
            # planning; update() takes the vectors as they are.
            texts = exemplars.texts_to_embed(r for _, r in fresh)
            for start in range(0, len(texts), _EMBED_CHUNK):
                chunk = texts[start : start + _EMBED_CHUNK]
                vectors = await asyncio.to_thread(encoder.embed, chunk)
                embedded.update(zip(chunk, vectors, strict=True))
        learning.update(state, [r for _, r in fresh], encoder=encoder, embedded=embedded)
        write_key(wm_key, fresh[-1][0])


async def _fetch(runtime: Runtime, partition: int, start: int, end: int) -> Offsets:
    raw = await read_range(
        settings.bootstrap_servers, executions_topic.get_topic_name(), partition, start, end
    )
    found: Offsets = []
    for offset, value in raw:
        try:
            found.append((offset, decode(value, ExecutionRecorded, settings.max_message_bytes)))
        except InvalidMessage:
            pass  # dead-lettered when the live stream met it
    return found
