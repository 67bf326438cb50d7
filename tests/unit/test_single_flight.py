"""Single-flight: identical cacheable calls run the tool once, on one worker or several."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.cache_stats import CacheCounters
from agents.result_cache import FAILED
from agents.single_flight import Run, SingleFlight, lock_ttl
from models import RetryPolicy


class SharedCache:
    """Redis as single-flight uses it, in memory: values, NX locks, compare-and-release.
    ``available = False`` answers None to every command, as GuardedCache does in an outage."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.locks: dict[str, str] = {}
        self.available = True

    async def peek(self, key: str) -> tuple[Any | None, str | None] | None:
        await asyncio.sleep(0)
        if not self.available:
            return None
        return self.values.get(key), self.locks.get(key)

    async def get(self, key: str) -> Any | None:
        await asyncio.sleep(0)
        return self.values.get(key) if self.available else None

    async def put(self, key: str, output: Any, ttl_s: float) -> int | None:
        await asyncio.sleep(0)
        if not self.available:
            return None
        self.values[key] = output
        return len(repr(output))

    async def acquire(self, key: str, token: str, ttl_s: float) -> bool | None:
        await asyncio.sleep(0)
        if not self.available:
            return None
        if key in self.locks:
            return False
        self.locks[key] = token
        return True

    async def release(self, key: str, token: str, failed_ttl_s: float = 0.0) -> None:
        if self.locks.get(key) == token:
            if failed_ttl_s > 0:
                self.locks[key] = FAILED
            else:
                del self.locks[key]


class Tool:
    def __init__(self, ok: bool = True) -> None:
        self.runs = 0
        self.ok = ok

    async def __call__(self) -> Run:
        self.runs += 1
        await asyncio.sleep(0.05)  # long enough for every identical call to arrive
        return Run({"answer": 42} if self.ok else None, "ran")


def worker(cache: SharedCache) -> SingleFlight:
    return SingleFlight(cache, CacheCounters(), poll_s=0.005)


async def test_fifty_identical_calls_on_two_workers_run_the_tool_once() -> None:
    cache, tool = SharedCache(), Tool()
    workers = [worker(cache), worker(cache)]
    calls = [workers[n % 2].call("k", "a.b", 60, 5, tool) for n in range(50)]
    answers = await asyncio.gather(*calls)
    assert tool.runs == 1
    assert sorted(source for source, _ in answers).count("tool") == 1
    assert all(value == {"answer": 42} for source, value in answers if source != "tool")
    assert cache.locks == {}  # released
    # And a later call is a plain hit.
    assert await workers[0].call("k", "a.b", 60, 5, tool) == ("cache", {"answer": 42})
    hits = sum(w.counters.local["a.b"].get("hits", 0) for w in workers)
    assert hits == 50


async def test_a_failed_call_is_not_cached_and_waiters_call_the_tool_themselves() -> None:
    cache, tool = SharedCache(), Tool(ok=False)
    first, second = worker(cache), worker(cache)
    answers = await asyncio.gather(
        first.call("k", "a.b", 60, 5, tool), second.call("k", "a.b", 60, 5, tool)
    )
    assert answers == [("tool", "ran"), ("tool", "ran")]
    assert tool.runs == 2 and cache.values == {}


async def test_with_the_cache_away_every_call_goes_to_the_tool() -> None:
    cache, tool = SharedCache(), Tool()
    cache.available = False
    flight = worker(cache)
    assert await flight.call("k", "a.b", 60, 5, tool) == ("tool", "ran")
    assert await flight.call("k", "a.b", 60, 5, tool) == ("tool", "ran")
    assert tool.runs == 2 and flight.counters.local["a.b"]["unavailable"] == 2
    cache.available = True  # back: the next call stores, the one after hits
    await flight.call("k", "a.b", 60, 5, tool)
    assert await flight.call("k", "a.b", 60, 5, tool) == ("cache", {"answer": 42})


async def test_bypass_runs_the_tool_and_refreshes_the_entry() -> None:
    cache, tool = SharedCache(), Tool()
    cache.values["k"] = {"answer": "stale"}
    flight = worker(cache)
    assert await flight.call("k", "a.b", 60, 5, tool, bypass=True) == ("tool", "ran")
    assert cache.values["k"] == {"answer": 42}


def test_a_lock_outlives_its_holders_worst_case() -> None:
    policy = RetryPolicy(max_attempts=3, timeout_s=2.0, max_backoff_s=1.0)
    assert lock_ttl(policy) >= 3 * 2.0 + 2 * 1.0
