"""Follow topics on every worker: all partitions, no consumer group, from a point in time.

A consumer group splits partitions among workers; a view that must see every record (the
cancellations a worker must honour, the outcomes an HTTP caller waits for on whichever worker
took the request, a dashboard of the whole deployment) reads without one, as
``tables.replica`` does for changelogs. Nothing is committed: a restarted follower starts again
from ``lookback_s`` before now.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

log = logging.getLogger(__name__)

# Records handed over per turn of the event loop: the callbacks run on the worker's loop, and
# at ~0.1 ms a record (the web feed's), 250 hold it ~25 ms, under the loop monitor's 100 ms
# stall; 2,000 held it for 200 ms at a time during a burst.
_BATCH = 250


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


OnRecord = Callable[[Record], None]


class TopicFollower:
    """Hands every record of ``topics`` to ``on_record``, in order per partition.

    ``lookback_s``: where to start, in seconds before now (0: only what is published after
    ``start``). ``on_record`` runs on the event loop and must not block; an exception in it is
    logged and the record skipped, so one bad record cannot stop the view.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topics: list[str],
        on_record: OnRecord,
        lookback_s: float = 0.0,
        max_fetch_bytes: int = 8 * 1024 * 1024,
        name: str = "follower",
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topics = topics
        self._on_record = on_record
        self._lookback_s = lookback_s
        self._max_fetch_bytes = max_fetch_bytes
        self._name = name
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._partitions: list[TopicPartition] = []
        self.records = 0
        self.failures = 0

    async def start(self) -> None:
        """Assign every partition of the topics and start reading in a background task."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            max_partition_fetch_bytes=self._max_fetch_bytes,
            fetch_max_bytes=self._max_fetch_bytes,
        )
        await consumer.start()
        self._consumer = consumer
        found = await topic_partitions(self._bootstrap, self._topics)
        missing = [t for t in self._topics if not found.get(t)]
        if missing:
            await consumer.stop()
            self._consumer = None
            raise RuntimeError(
                f"{self._name}: topics not found: {', '.join(missing)} (a worker creates them "
                "at start; 'toolwise topics create' does too)"
            )
        partitions = [TopicPartition(t, p) for t in self._topics for p in found[t]]
        self._partitions = partitions
        consumer.assign(partitions)
        await self._seek_back(consumer, partitions)
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def _seek_back(
        self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
    ) -> None:
        await consumer.seek_to_end(*partitions)
        if self._lookback_s <= 0 or not partitions:
            for tp in partitions:  # pin the positions now, not lazily at the first fetch
                await consumer.position(tp)
            return
        since_ms = int((time.time() - self._lookback_s) * 1000)
        found = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
        for tp in partitions:
            at = found.get(tp)
            if at is not None:  # None: nothing that recent, so the end is right
                consumer.seek(tp, at.offset)

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=500, max_records=_BATCH)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: fetching failed; retrying in 1 s", self._name)
                await asyncio.sleep(1.0)
                continue
            for tp, messages in batch.items():
                for message in messages:
                    record = Record(
                        tp.topic,
                        tp.partition,
                        message.offset,
                        message.key,
                        message.value,
                        message.timestamp,
                    )
                    self.records += 1
                    try:
                        self._on_record(record)
                    except Exception:
                        self.failures += 1
                        log.exception(
                            "%s: skipping %s[%d]@%d",
                            self._name,
                            tp.topic,
                            tp.partition,
                            message.offset,
                        )
            if batch:
                await asyncio.sleep(0)  # let others run between large batches

    async def lag(self) -> dict[str, int]:
        """Records published but not yet read, per topic."""
        if self._consumer is None or not self._partitions:
            return {}
        ends = await self._consumer.end_offsets(self._partitions)
        behind: dict[str, int] = {}
        for tp in self._partitions:
            position = await self._consumer.position(tp)
            behind[tp.topic] = behind.get(tp.topic, 0) + max(0, ends[tp] - position)
        return behind

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


async def topic_partitions(bootstrap_servers: str, topics: list[str]) -> dict[str, list[int]]:
    """Partition numbers of each topic that exists (a consumer only knows subscribed ones)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {
        d["topic"]: sorted(p["partition"] for p in d["partitions"])
        for d in described
        if d["error_code"] == 0
    }
