"""A read replica of changelog topics: every partition, on every worker.

Faust's GlobalTable is meant for this, but on faust-streaming 0.15.3 with
two workers it did not show one worker's writes to the other (checked on
Kafka 4.1: after 6 s the peer still read the old counts). A table's
changelog is a plain compacted topic of JSON keys and values, so a
group-less consumer that reads all of it from the start gives every worker
the whole table, a few milliseconds behind its writers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.follower import topic_partitions

log = logging.getLogger(__name__)


class ChangelogReplica:
    """Key -> value of one or more changelog topics; ``None`` values delete."""

    def __init__(
        self,
        bootstrap_servers: str,
        topics: list[str],
        on_apply: Callable[[str, str, Any], None] | None = None,
    ) -> None:
        self._on_apply = on_apply
        self._bootstrap = bootstrap_servers
        self._topics = topics
        self._data: dict[str, dict[str, Any]] = {t: {} for t in topics}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._caught_up = asyncio.Event()
        self._targets: dict[TopicPartition, int] = {}
        self.applied = 0
        self.last_update = 0.0

    async def start(self, timeout_s: float = 60.0) -> None:
        """Read every partition from the start; return once caught up with the end seen now."""
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await self._consumer.start()
        partitions = await self._wait_for_partitions(timeout_s)
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        ends = await self._consumer.end_offsets(partitions)
        self._targets = {tp: end for tp, end in ends.items() if end > 0}
        if not self._targets:
            self._caught_up.set()
        self._task = asyncio.create_task(self._run(), name="changelog-replica")
        await asyncio.wait_for(self._caught_up.wait(), timeout_s)

    async def _wait_for_partitions(self, timeout_s: float) -> list[TopicPartition]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = await topic_partitions(self._bootstrap, self._topics)
            missing = [t for t in self._topics if not found.get(t)]
            if not missing:
                return [TopicPartition(t, p) for t in self._topics for p in found[t]]
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics not found: {', '.join(missing)}")
            # Faust declares changelog topics as the worker starts: wait for them.
            await asyncio.sleep(0.5)

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, messages in batch.items():
                for message in messages:
                    self._apply(tp.topic, message.key, message.value)
                if (
                    tp in self._targets
                    and messages
                    and messages[-1].offset + 1 >= self._targets[tp]
                ):
                    del self._targets[tp]
            if batch:
                self.last_update = time.time()
            if not self._targets:
                self._caught_up.set()

    def _apply(self, topic: str, raw_key: bytes | None, raw_value: bytes | None) -> None:
        if raw_key is None:
            return
        table = self._data[topic]
        key = _decode_key(raw_key)
        try:
            value = None if raw_value is None else json.loads(raw_value)
        except ValueError:
            log.warning("replica: skipping a value that is not JSON (key %r)", key)
            return
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
        self.applied += 1
        if self._on_apply is not None:
            self._on_apply(topic, key, value)

    def table(self, topic: str) -> dict[str, Any]:
        """The live dict of one topic (read-only by convention)."""
        return self._data[topic]

    def items(self, topic: str, prefix: str = "") -> Iterator[tuple[str, Any]]:
        for key, value in list(self._data[topic].items()):
            if key.startswith(prefix):
                yield key, value

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._consumer is not None:
            await self._consumer.stop()


def _decode_key(raw: bytes) -> str:
    # Faust writes str keys as JSON strings; tolerate raw UTF-8 keys too.
    try:
        key = json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
    return key if isinstance(key, str) else json.dumps(key, sort_keys=True)


async def read_range(
    bootstrap_servers: str, topic: str, partition: int, start: int, end: int
) -> list[tuple[int, bytes | None]]:
    """(offset, value) of records ``start <= offset < end`` of one partition."""
    if start >= end:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        found: list[tuple[int, bytes | None]] = []
        while True:
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=5000)
            messages = batch.get(tp, [])
            if not messages:
                if await consumer.position(tp) >= end:
                    return found
                continue
            for message in messages:
                if message.offset >= end:
                    return found
                found.append((message.offset, message.value))
            if messages[-1].offset + 1 >= end:
                return found
    finally:
        await consumer.stop()
