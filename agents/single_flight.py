"""One run for identical cacheable calls, on one worker or many; the cache in front of a call.

For a call whose result may be cached (its key: ``agents.result_cache.cache_key``):

1. an identical call already running in this process is awaited, not repeated;
2. a stored result is served (a hit);
3. otherwise the key's Redis lock is taken (``SET NX`` with a time-out) and the tool runs; its
   successful result is stored and the lock given back. Identical calls on other workers that
   find the lock look for the result every ``poll_s`` until it is there (a shared hit). When
   the run stored nothing (the tool failed, or a fallback tool answered), the lock is replaced
   by a short-lived 'failed' mark, and the waiters call the tool themselves: an error is never
   served from the cache. A lock whose holder died expires after ``lock_ttl_s``, at the latest
   when the holder's call would have timed out for good.

When the cache does not answer (Redis down or slow, see ``GuardedCache``) every call runs
straight away; only step 1 still joins identical calls.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from agents.cache_stats import CacheCounters
from agents.result_cache import FAILED
from models import RetryPolicy

# How long the 'failed' mark stays: waiters poll every 20 ms, so they all see it well within
# this, and a failed call's key is free again soon after.
_FAILED_MARK_S = 2.0
# A lock outlives the longest run its holder may make (every attempt timing out, with the
# largest backoffs), plus this margin for the store and the release.
_LOCK_MARGIN_S = 1.0
_LOCK_MAX_S = 3600.0

Source = Literal["tool", "cache", "shared"]


class LockingCache(Protocol):
    """What single-flight needs of the cache (``GuardedCache``: None when it cannot answer)."""

    async def peek(self, key: str) -> tuple[Any | None, str | None] | None: ...

    async def get(self, key: str) -> Any | None: ...

    async def put(self, key: str, output: Any, ttl_s: float) -> int | None: ...

    async def acquire(self, key: str, token: str, ttl_s: float) -> bool | None: ...

    async def release(self, key: str, token: str, failed_ttl_s: float = 0.0) -> None: ...


@dataclass(frozen=True)
class Run:
    """What a call produced: its output to store (None: nothing storable) and the call's
    result as the caller wants it back."""

    storable: Any | None
    result: Any


def lock_ttl(policy: RetryPolicy) -> float:
    """How long a caller may hold a key's lock: its step's worst case, attempts and backoffs."""
    worst = (
        policy.timeout_s * policy.max_attempts
        + policy.max_backoff_s * (policy.max_attempts - 1)
        + _LOCK_MARGIN_S
    )
    return min(_LOCK_MAX_S, worst)


@dataclass
class SingleFlight:
    cache: LockingCache
    counters: CacheCounters
    poll_s: float = 0.02
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    _running: dict[str, asyncio.Future[Any]] = field(default_factory=dict)

    async def call(
        self,
        key: str,
        tool: str,
        ttl_s: float,
        lock_ttl_s: float,
        run: Callable[[], Awaitable[Run]],
        bypass: bool = False,
    ) -> tuple[Source, Any]:
        """``("tool", result)`` when ``run`` ran here, else ``("cache" | "shared", output)``."""
        if bypass:
            self.counters.count(tool, "bypasses")
            outcome = await run()
            await self._store(key, tool, ttl_s, outcome.storable)
            return "tool", outcome.result
        running = self._running.get(key)
        if running is not None:
            output = await asyncio.shield(running)
            if output is not None:
                self.counters.count(tool, "hits")
                self.counters.count(tool, "shared")
                return "shared", output
            self.counters.count(tool, "misses")
            return "tool", (await run()).result  # it stored nothing: run for ourselves
        mine: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._running[key] = mine
        stored: Any | None = None
        try:
            source, value, stored = await self._across_workers(key, tool, ttl_s, lock_ttl_s, run)
            return source, value
        finally:
            del self._running[key]
            mine.set_result(stored)

    async def _across_workers(
        self,
        key: str,
        tool: str,
        ttl_s: float,
        lock_ttl_s: float,
        run: Callable[[], Awaitable[Run]],
    ) -> tuple[Source, Any, Any | None]:
        token = uuid.uuid4().hex
        deadline = self.clock() + lock_ttl_s
        waited = False
        while True:
            peeked = await self.cache.peek(key)
            if peeked is None:
                return await self._run_alone(key, tool, ttl_s, run, "unavailable")
            output, lock = peeked
            if output is not None:
                return self._hit(tool, output, waited)
            if lock == FAILED or (lock is not None and self.clock() > deadline):
                # The holder stored nothing, or held the lock past its own worst case.
                return await self._run_alone(key, tool, ttl_s, run, "misses")
            if lock is None:
                taken = await self.cache.acquire(key, token, lock_ttl_s)
                if taken is None:
                    return await self._run_alone(key, tool, ttl_s, run, "unavailable")
                if taken:
                    return await self._run_holding(key, tool, ttl_s, token, run, waited)
            waited = True
            await self.sleep(self.poll_s)

    async def _run_holding(
        self,
        key: str,
        tool: str,
        ttl_s: float,
        token: str,
        run: Callable[[], Awaitable[Run]],
        waited: bool,
    ) -> tuple[Source, Any, Any | None]:
        try:
            # The holder before us may have stored it between our look and our lock.
            output = await self.cache.get(key)
            if output is not None:
                await self.cache.release(key, token)
                return self._hit(tool, output, waited)
            self.counters.count(tool, "misses")
            outcome = await run()
            stored = await self._store(key, tool, ttl_s, outcome.storable)
        except BaseException:
            await self.cache.release(key, token, _FAILED_MARK_S)
            raise
        await self.cache.release(key, token, 0.0 if stored else _FAILED_MARK_S)
        return "tool", outcome.result, outcome.storable if stored else None

    async def _run_alone(
        self, key: str, tool: str, ttl_s: float, run: Callable[[], Awaitable[Run]], counter: str
    ) -> tuple[Source, Any, Any | None]:
        self.counters.count(tool, counter)
        outcome = await run()
        await self._store(key, tool, ttl_s, outcome.storable)
        # Joined callers in this process may share what ran, stored or not (Redis may be away).
        return "tool", outcome.result, outcome.storable

    def _hit(self, tool: str, output: Any, waited: bool) -> tuple[Source, Any, Any | None]:
        self.counters.count(tool, "hits")
        if waited:
            self.counters.count(tool, "shared")
        return ("shared" if waited else "cache"), output, output

    async def _store(self, key: str, tool: str, ttl_s: float, output: Any | None) -> bool:
        if output is None or ttl_s <= 0:
            return False
        size = await self.cache.put(key, output, ttl_s)
        if size is None:
            return False
        self.counters.count(tool, "stores")
        self.counters.count(tool, "bytes_stored", size)
        return True
