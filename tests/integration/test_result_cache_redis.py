"""The result cache on real Redis: single-flight across workers, and an outage the calls ride
out (a private redis-server of this test's own, stopped and started again)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.cache_stats import CacheCounters
from agents.result_cache import Breaker, GuardedCache, RedisResultCache, cache_key
from agents.single_flight import Run, SingleFlight
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration


def guarded(url: str, cooldown_s: float = 5.0) -> GuardedCache:
    return GuardedCache(RedisResultCache(url, 0.2), timeout_s=0.2, breaker=Breaker(cooldown_s))


class Tool:
    def __init__(self) -> None:
        self.runs = 0

    async def __call__(self) -> Run:
        self.runs += 1
        await asyncio.sleep(0.2)  # every identical call arrives while this one runs
        return Run({"answer": self.runs}, "ran")


async def test_fifty_identical_calls_on_two_workers_run_the_tool_once(redis_url: str) -> None:
    caches = [guarded(redis_url), guarded(redis_url)]  # two connections: two workers
    flights = [SingleFlight(c, CacheCounters(), poll_s=0.01) for c in caches]
    key = cache_key(f"test-{uuid.uuid4().hex}", "a.b", "1", {"q": 1})
    tool = Tool()
    try:
        answers = await asyncio.gather(
            *(flights[n % 2].call(key, "a.b", 30, 5, tool) for n in range(50))
        )
        assert tool.runs == 1
        assert [source for source, _ in answers].count("tool") == 1
        assert all(value == {"answer": 1} for source, value in answers if source != "tool")
        # Another version of the tool has another key: no hit across versions.
        other = cache_key(key.split(":")[1], "a.b", "2", {"q": 1})
        assert (await flights[0].call(other, "a.b", 30, 5, tool))[0] == "tool"
    finally:
        for cache in caches:
            await cache.aclose()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    yield free_port(), tmp_path


def start_redis(port: int, root: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while (
        subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip()
        != b"PONG"
    ):
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.1)
    return proc


async def test_calls_ride_out_a_redis_outage_and_hits_resume(
    private_redis: tuple[int, Path],
) -> None:
    port, root = private_redis
    server = start_redis(port, root)
    cache = guarded(f"redis://127.0.0.1:{port}/0", cooldown_s=0.5)
    flight = SingleFlight(cache, CacheCounters(), poll_s=0.01)
    key = cache_key("outage", "a.b", "1", {"q": 1})
    tool = Tool()
    try:
        await flight.call(key, "a.b", 60, 5, tool)
        assert (await flight.call(key, "a.b", 60, 5, tool))[0] == "cache"
        server.terminate()
        server.wait(timeout=10)
        started = time.monotonic()
        for _ in range(5):  # Redis away: every call runs the tool, none waits long
            assert (await flight.call(key, "a.b", 60, 5, tool))[0] == "tool"
        assert time.monotonic() - started < 5 * 0.2 + 2.0
        assert cache.breaker.outages == 1  # logged once
        server = start_redis(port, root)  # empty: the entry was lost with the server
        await asyncio.sleep(0.6)  # the breaker's cool-down
        sources = [(await flight.call(key, "a.b", 60, 5, tool))[0] for _ in range(3)]
        assert sources[-1] == "cache", sources  # stored again, then served
        assert flight.counters.local["a.b"]["unavailable"] >= 1
    finally:
        await cache.aclose()
        server.terminate()
        server.wait(timeout=10)
