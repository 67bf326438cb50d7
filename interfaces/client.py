"""A plain aiokafka client for Toolwise: publish intents, await outcomes, tail topics.

Needs nothing of the worker: any Kafka client can do the same with JSON.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from models import (
    ANY_EVENT,
    IntentCompleted,
    IntentFailed,
    IntentSubmitted,
    ToolCallProgressed,
)
from streams.settings import Settings

Outcome = IntentCompleted | IntentFailed


class OutcomeTimeout(TimeoutError):
    def __init__(self, missing: Iterable[str], timeout_s: float) -> None:
        self.missing = sorted(missing)
        shown = ", ".join(self.missing[:5]) + (" ..." if len(self.missing) > 5 else "")
        super().__init__(
            f"no outcome within {timeout_s:g} s for {len(self.missing)} intent(s): {shown}. "
            "Is a worker running ('toolwise worker')?"
        )


class WorkerExited(RuntimeError):
    def __init__(self, missing: Iterable[str]) -> None:
        self.missing = sorted(missing)
        super().__init__(f"the worker exited with {len(self.missing)} intent(s) unanswered")


class ToolwiseClient:
    """``progress=True``: ``wait_for`` also hears the tools' progress (``on_progress``)."""

    def __init__(self, settings: Settings, progress: bool = False) -> None:
        self.settings = settings
        self._want_progress = progress
        self._progress: AIOKafkaConsumer | None = None
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            max_request_size=8 * settings.max_message_bytes,
            acks="all",
        )
        self._outcomes: AIOKafkaConsumer | None = None
        self._seen: dict[str, Outcome] = {}

    async def __aenter__(self) -> ToolwiseClient:
        await self._producer.start()
        # Subscribe before publishing so no outcome can slip past.
        topic = self.settings.topic_name("outcomes")
        self._outcomes = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers, enable_auto_commit=False
        )
        await self._outcomes.start()
        partitions: set[int] = set()
        if topic in await self._outcomes.topics():
            partitions = await self._producer.partitions_for(topic)  # waits for metadata
        if not partitions:
            await self.__aexit__()
            raise RuntimeError(
                f"topic {topic} does not exist: run 'toolwise topics create' or a worker"
            )
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        self._outcomes.assign(tps)
        await self._outcomes.seek_to_end(*tps)
        for tp in tps:  # pin the positions now, not lazily at first fetch
            await self._outcomes.position(tp)
        if self._want_progress:
            await self._follow_progress()
        return self

    async def _follow_progress(self) -> None:
        # A consumer of its own: with the progress partitions in the outcomes consumer's
        # fetches, an outcome took ~100 ms longer to arrive (30 runs, median).
        topic = self.settings.topic_name("progress")
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers, enable_auto_commit=False
        )
        await consumer.start()
        self._progress = consumer
        if topic not in await consumer.topics():
            return  # a deployment from before progress events: nothing to show
        tps = [TopicPartition(topic, p) for p in sorted(await self._producer.partitions_for(topic))]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()
        if self._outcomes is not None:
            await self._outcomes.stop()
        if self._progress is not None:
            await self._progress.stop()

    async def submit(self, intent: IntentSubmitted) -> str:
        await self.publish_raw("intents", intent.to_bytes(), key=intent.intent_id.encode())
        return intent.intent_id

    async def publish_raw(self, suffix: str, value: bytes, key: bytes | None = None) -> None:
        await self._producer.send_and_wait(self.settings.topic_name(suffix), value, key=key)

    async def wait_for(
        self,
        intent_ids: Iterable[str],
        timeout_s: float = 60.0,
        alive: Callable[[], bool] | None = None,
        on_progress: Callable[[ToolCallProgressed], None] | None = None,
    ) -> dict[str, Outcome]:
        """Outcomes of these intents, as they arrive; OutcomeTimeout names the missing ones.

        ``alive``, if given, is asked between polls; when it says no (the
        worker we started has exited), waiting stops at once with WorkerExited.
        ``on_progress`` hears the intents' tools' progress notifications.
        """
        assert self._outcomes is not None, "use 'async with ToolwiseClient(...)'"
        wanted = set(intent_ids)
        progress = None
        if on_progress is not None and self._progress is not None:
            progress = asyncio.create_task(self._report_progress(wanted, on_progress))
        try:
            return await self._wait(wanted, timeout_s, alive)
        finally:
            if progress is not None:
                progress.cancel()

    async def _report_progress(
        self, wanted: set[str], on_progress: Callable[[ToolCallProgressed], None]
    ) -> None:
        assert self._progress is not None
        while True:
            batch = await self._progress.getmany(timeout_ms=500)
            for messages in batch.values():
                for message in messages:
                    event = ANY_EVENT.validate_json(message.value)
                    if isinstance(event, ToolCallProgressed) and event.intent_id in wanted:
                        on_progress(event)

    async def _wait(
        self, wanted: set[str], timeout_s: float, alive: Callable[[], bool] | None
    ) -> dict[str, Outcome]:
        assert self._outcomes is not None
        deadline = time.monotonic() + timeout_s
        while not wanted <= self._seen.keys():
            if alive is not None and not alive():
                raise WorkerExited(wanted - self._seen.keys())
            left = deadline - time.monotonic()
            if left <= 0:
                raise OutcomeTimeout(wanted - self._seen.keys(), timeout_s)
            batch = await self._outcomes.getmany(timeout_ms=int(min(left, 0.5) * 1000))
            for messages in batch.values():
                for message in messages:
                    event = ANY_EVENT.validate_json(message.value)
                    if isinstance(event, IntentCompleted | IntentFailed):
                        self._seen.setdefault(event.intent_id, event)
        return {intent_id: self._seen[intent_id] for intent_id in wanted}

    async def run(
        self,
        intent: IntentSubmitted,
        timeout_s: float = 60.0,
        alive: Callable[[], bool] | None = None,
    ) -> Outcome:
        await self.submit(intent)
        return (await self.wait_for([intent.intent_id], timeout_s, alive))[intent.intent_id]


class TopicNotFound(LookupError):
    """The topic asked for does not exist."""


async def tail(
    settings: Settings,
    suffix: str,
    from_beginning: bool = False,
    idle_timeout_s: float | None = None,
    until_end: bool = False,
) -> AsyncIterator[dict[str, Any]]:
    """Yield each message of a Toolwise topic as a dict with its position.

    Stops after ``idle_timeout_s`` without a message, or, with ``until_end``, once it has read
    up to the end each partition had when it started: a topic with a periodic writer (node
    probes, say) is never idle."""
    from streams.follower import topic_partitions

    topic = settings.topic_name(suffix) if not suffix.startswith(settings.topic_prefix) else suffix
    found = (await topic_partitions(settings.bootstrap_servers, [topic])).get(topic)
    if not found:
        raise TopicNotFound(f"topic {topic} does not exist (a worker creates it at start)")
    partitions = [TopicPartition(topic, p) for p in found]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        ends = await consumer.end_offsets(partitions) if until_end else {}
        last = time.monotonic()
        while idle_timeout_s is None or time.monotonic() - last < idle_timeout_s:
            if until_end and all([await consumer.position(tp) >= ends[tp] for tp in partitions]):
                return
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                for message in messages:
                    last = time.monotonic()
                    try:
                        value: Any = (
                            json.loads(message.value) if message.value is not None else None
                        )
                    except ValueError:
                        value = message.value.decode("utf-8", "replace")
                    yield {
                        "topic": message.topic,
                        "partition": message.partition,
                        "offset": message.offset,
                        "key": message.key.decode("utf-8", "replace") if message.key else None,
                        "value": value,
                    }
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
