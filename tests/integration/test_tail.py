"""`toolwise tail --until-end` on real Kafka: it stops at the end the topic had when it started,
even while something keeps writing (an idle timeout never fires there)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from interfaces.client import TopicNotFound, tail
from streams.topics import ensure_topics
from tests.integration.conftest import PipelineFactory

pytestmark = pytest.mark.integration


async def test_until_end_stops_on_a_topic_written_all_the_time(
    pipeline_factory: PipelineFactory,
) -> None:
    settings = pipeline_factory().settings
    await ensure_topics(settings)
    topic = settings.topic_name("dead-letters")
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await producer.start()

    async def keep_writing() -> None:
        n = 0
        while True:
            await producer.send_and_wait(topic, b'{"n": %d}' % n, key=b"k")
            n += 1
            await asyncio.sleep(0.1)

    try:
        for n in range(3):
            await producer.send_and_wait(topic, b'{"before": %d}' % n, key=b"k")
        writer = asyncio.create_task(keep_writing())
        try:
            until_end = tail(settings, "dead-letters", from_beginning=True, until_end=True)
            # Without until_end this would read forever: fail instead of hanging the suite.
            records = await asyncio.wait_for(_collect(until_end), 60.0)
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
    finally:
        await producer.stop()
    assert [r["value"] for r in records[:3]] == [{"before": 0}, {"before": 1}, {"before": 2}]


async def _collect(records: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r async for r in records]


async def test_a_topic_that_does_not_exist_says_so(pipeline_factory: PipelineFactory) -> None:
    settings = pipeline_factory().settings
    with pytest.raises(TopicNotFound, match="does not exist"):
        [r async for r in tail(settings, "dead-letters", until_end=True)]
