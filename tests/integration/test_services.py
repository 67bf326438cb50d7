"""The broker and Redis that `make services` starts really serve, and starting twice is a no-op."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

import services
from services import kafka
from services.state import ServicePaths
from streams.settings import Settings


async def test_kafka_round_trips_a_record(
    kafka_bootstrap: str, unique_name_factory: Callable[[str], str]
) -> None:
    topic = unique_name_factory("roundtrip")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        # The bundled broker creates no topic on first use (auto.create.topics.enable=false).
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        finally:
            await admin.close()
        sent = await producer.send_and_wait(topic, b"payload", key=b"k")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=unique_name_factory("group"),
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert (record.key, record.value, record.offset) == (b"k", b"payload", sent.offset)


async def test_redis_sets_and_gets(
    redis_url: str, unique_name_factory: Callable[[str], str]
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    key = unique_name_factory("key")
    try:
        await client.set(key, b"value", ex=60)
        assert await client.get(key) == b"value"
    finally:
        await client.aclose()


def _processes_running(needle: str) -> int:
    """How many live processes have *needle* on their command line (Linux /proc)."""
    count = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if needle.encode() in cmdline.read_bytes():
                count += 1
        except OSError:
            continue  # exited while we looked
    return count


def test_start_all_leaves_running_services_alone(kafka_bootstrap: str, redis_url: str) -> None:
    settings = Settings()
    before = services.status(settings)
    if before["broker"].pid is None or before["broker"].address != kafka_bootstrap:
        message = f"the broker at {kafka_bootstrap} was not started by `python -m services`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)
    # Kafka's command line names its config file, Tansu's its listener URL.
    config = ServicePaths.of(settings, kafka.NAME).home / "server.properties"
    needle = f"tcp://{kafka_bootstrap}" if before["broker"].name == "tansu" else str(config)

    running: services.BrokerChoice = "tansu" if before["broker"].name == "tansu" else "kafka"
    started = services.start_all(settings, broker=running)

    after = services.status(settings)
    assert [s.started_now for s in started] == [False, False]
    assert [s.running for s in started] == [True, True]
    assert after["broker"].pid == before["broker"].pid
    assert after["redis"].pid == before["redis"].pid
    assert _processes_running(needle) == 1
