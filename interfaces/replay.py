"""`toolwise replay` and `toolwise generation`: rebuild learned state from history, switch to it.

Replay reads the executions topic from offset 0 with a group-less consumer,
folds it with the same code the learner runs (learning.update over the
tables.learned layout) into a new generation, and writes that generation
into the learned-state changelog, each key to the partition its records
came from. It keeps reading until it has caught up with the live end, then
writes a handoff marker per partition; from there the workers' learners
keep the generation current. Planners use it once `toolwise generation use N`
says so. The running system serves from the active generation throughout.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

import learning
from agents.ranking import text_encoder
from models import ExecutionRecorded
from models.codec import InvalidMessage, decode
from streams.follower import topic_partitions
from streams.settings import Settings
from tables.learned import TermIndex, key, learning_state
from tables.learned_replica import ACTIVE_KEY, LearnedReplica

# Records folded per learning.update call: the same order of size as the learner's batches.
_FOLD_BATCH = 500


def learned_replica(settings: Settings) -> LearnedReplica:
    return LearnedReplica(
        settings.bootstrap_servers,
        f"{settings.app_id}-learned-state-changelog",
        settings.topic_name("learning-control"),
    )


async def replay(settings: Settings, generation: int | None = None, force: bool = False) -> int:
    """Rebuild a generation from the whole execution history; return its number."""
    replica = learned_replica(settings)
    await replica.start()
    try:
        existing = replica.generations()
        active = replica.active_generation
        gen = generation if generation is not None else max([active, *existing]) + 1
        if gen in existing and not force:
            raise SystemExit(
                f"generation {gen} already holds {existing[gen]} keys; pick another or --force"
            )
    finally:
        await replica.stop()
    print(f"replaying {settings.topic_name('executions')} into generation {gen} (active: {active})")

    # The same text model as the workers, so the new generation's exemplars match theirs.
    # Embedding is the slow part of a replay: about 100 records/s on 2 cores (README).
    encoder = text_encoder(settings)
    topic = settings.topic_name("executions")
    partitions = (await topic_partitions(settings.bootstrap_servers, [topic])).get(topic, [])
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    store: dict[str, Any] = {}
    owner: dict[str, int] = {}  # key -> the partition whose records wrote it
    index = TermIndex()
    last: dict[int, int] = {}
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        started = time.monotonic()
        folded = 0
        pending: dict[int, list[ExecutionRecorded]] = defaultdict(list)

        def fold(partition: int) -> None:
            def write_key(raw_key: str, value: Any) -> None:
                store[raw_key] = value
                owner[raw_key] = partition
                index.observe(raw_key, True)

            state = learning_state(gen, store.get, index, write_key)
            learning.update(state, pending.pop(partition, []), encoder=encoder)

        while True:
            ends = await consumer.end_offsets(tps)
            behind = {tp: ends[tp] - await consumer.position(tp) for tp in tps}
            if all(lag <= 0 for lag in behind.values()):
                break  # caught up with the live end
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for tp, messages in batch.items():
                for message in messages:
                    last[tp.partition] = message.offset
                    try:
                        record = decode(
                            message.value, ExecutionRecorded, settings.max_message_bytes
                        )
                    except InvalidMessage:
                        continue  # the live learner dead-lettered it
                    pending[tp.partition].append(record)
                    if len(pending[tp.partition]) >= _FOLD_BATCH:
                        folded += len(pending[tp.partition])
                        fold(tp.partition)
            left = sum(max(0, v) for v in behind.values())
            rate = folded / max(1e-9, time.monotonic() - started)
            print(f"  folded {folded} records ({rate:.0f}/s), {left} behind", file=sys.stderr)
        for partition in list(pending):
            folded += len(pending[partition])
            fold(partition)
    finally:
        await consumer.stop()

    await _publish(settings, gen, store, owner, last, partitions)
    print(f"generation {gen}: {folded} records, {len(store)} keys; handed over to the workers")
    print(f"switch planners to it with: toolwise generation use {gen}")
    return gen


async def _publish(
    settings: Settings,
    gen: int,
    store: dict[str, Any],
    owner: dict[str, int],
    last: dict[int, int],
    partitions: list[int],
) -> None:
    changelog = f"{settings.app_id}-learned-state-changelog"
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for raw_key, value in store.items():
            await producer.send(
                changelog,
                json.dumps(value).encode(),
                key=json.dumps(raw_key).encode(),
                partition=owner[raw_key],
            )
        await producer.flush()
        # The handoff comes last in each partition: a learner that sees it has
        # (in the same partition's order) seen every key the replay wrote there.
        for partition in partitions:
            marker = key(gen, "handoff", str(partition))
            await producer.send_and_wait(
                changelog,
                json.dumps(last.get(partition, -1)).encode(),
                key=json.dumps(marker).encode(),
                partition=partition,
            )
    finally:
        await producer.stop()


async def use_generation(settings: Settings, generation: int, force: bool = False) -> None:
    replica = learned_replica(settings)
    await replica.start()
    try:
        topic = settings.topic_name("executions")
        partitions = (await topic_partitions(settings.bootstrap_servers, [topic]))[topic]
        missing = [p for p in partitions if replica.handoff(generation, p) is None]
        if generation != 0 and missing and not force:
            raise SystemExit(
                f"generation {generation} has no replay handoff for partitions {missing}: "
                "run 'toolwise replay' first (or --force)"
            )
    finally:
        await replica.stop()
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        value = {"generation": generation, "at": time.time()}
        await producer.send_and_wait(
            settings.topic_name("learning-control"),
            json.dumps(value).encode(),
            key=json.dumps(ACTIVE_KEY).encode(),
        )
    finally:
        await producer.stop()
    print(f"planners now use generation {generation}")


async def generation_status(settings: Settings) -> dict[str, Any]:
    replica = learned_replica(settings)
    await replica.start()
    try:
        topic = settings.topic_name("executions")
        partitions = (await topic_partitions(settings.bootstrap_servers, [topic])).get(topic, [])
        gens = replica.generations()
        return {
            "active": replica.active_generation,
            "generations": {
                str(g): {
                    "keys": n,
                    "handoff": {p: replica.handoff(g, p) for p in partitions},
                    "applied": {p: replica.read(key(g, "wm", str(p))) for p in partitions},
                }
                for g, n in sorted(gens.items())
            },
        }
    finally:
        await replica.stop()
