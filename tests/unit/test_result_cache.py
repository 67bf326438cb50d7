"""The guarded result cache: a slow or failing cache costs a call one timeout, then is bypassed."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.result_cache import Breaker, GuardedCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ScriptedCache:
    """A cache whose commands hang, fail or answer, as told; counts the commands it got."""

    def __init__(self) -> None:
        self.mode = "answer"
        self.commands = 0
        self.stored: dict[str, Any] = {}

    async def _act(self) -> None:
        self.commands += 1
        if self.mode == "hang":
            await asyncio.sleep(3600)
        if self.mode == "fail":
            raise ConnectionError("refused")

    async def get(self, key: str) -> Any | None:
        await self._act()
        return self.stored.get(key)

    async def put(self, key: str, output: Any, ttl_s: float) -> None:
        await self._act()
        self.stored[key] = output

    async def aclose(self) -> None:
        pass


def guarded() -> tuple[GuardedCache, ScriptedCache, FakeClock]:
    clock = FakeClock()
    inner = ScriptedCache()
    return GuardedCache(inner, timeout_s=0.01, breaker=Breaker(5.0, clock)), inner, clock


async def test_a_hung_cache_costs_one_timeout_then_is_bypassed_until_the_cooldown() -> None:
    cache, inner, _clock = guarded()
    await cache.put("k", 1, 60)
    inner.mode = "hang"
    assert await cache.get("k") is None  # one bounded wait
    assert inner.commands == 2
    for _ in range(100):
        assert await cache.get("k") is None
    assert inner.commands == 2  # bypassed: no command reached the hung cache
    assert cache.breaker.outages == 1


async def test_after_the_cooldown_one_probe_closes_the_breaker_again() -> None:
    cache, inner, clock = guarded()
    await cache.put("k", 1, 60)
    inner.mode = "fail"
    assert await cache.get("k") is None
    inner.mode = "answer"
    clock.now = 4.9
    assert await cache.get("k") is None and inner.commands == 2
    clock.now = 5.1
    assert await cache.get("k") == 1  # the probe
    assert await cache.get("k") == 1 and inner.commands == 4


async def test_a_failed_probe_keeps_the_cache_bypassed_for_another_cooldown() -> None:
    cache, inner, clock = guarded()
    inner.mode = "fail"
    await cache.put("k", 1, 60)
    clock.now = 6.0
    await cache.put("k", 1, 60)  # probe fails
    clock.now = 10.0
    assert await cache.get("k") is None and inner.commands == 2
    assert cache.breaker.outages == 1 and cache.breaker.failures == 2
