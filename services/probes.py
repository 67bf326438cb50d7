"""Protocol-level readiness probes: a Kafka metadata request and a Redis PING."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import redis
from aiokafka import AIOKafkaClient

T = TypeVar("T")

# One probe must fail fast so a waiting loop can retry; a healthy local broker answers
# metadata in milliseconds, a JVM still starting may hold the connection for a while.
PROBE_TIMEOUT_S = 3.0


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run *coro* to completion from sync code, even when called inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _kafka_brokers(bootstrap: str, timeout_s: float) -> int:
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)
        return len(client.cluster.brokers())
    finally:
        await client.close()


def kafka_answers(bootstrap: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True when *bootstrap* ('host:port') answers a metadata request listing a broker."""
    # aiokafka logs every refused connection at ERROR; while polling, those are expected.
    aiokafka_log = logging.getLogger("aiokafka")
    level = aiokafka_log.level
    aiokafka_log.setLevel(logging.CRITICAL)
    try:
        return _run(_kafka_brokers(bootstrap, timeout_s)) > 0
    except Exception:
        return False
    finally:
        aiokafka_log.setLevel(level)


def redis_answers(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True when the Redis server at *url* answers PING."""
    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()
