"""The result cache boundary: a protocol, its Redis implementation, and the breaker around it.

The cache only saves work: when Redis is slow or away, every call goes to the tool instead.
``GuardedCache`` bounds each command (``settings.redis_timeout_s``; a frozen Redis stalled
every tool call before, cacheable or not) and, after a failure, bypasses the cache for a
cool-down before one probe command may try again (a circuit breaker).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import redis.asyncio as aioredis


def cache_key(namespace: str, tool: str, version: str, arguments: dict[str, Any]) -> str:
    """Same tool, version and arguments (in any key order) give the same key.

    ``namespace`` (the app id) keeps deployments sharing one Redis apart.
    """
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(f"{tool}\x00{version}\x00{canonical}".encode()).hexdigest()
    return f"toolwise:{namespace}:result:{digest}"


class ResultCache(Protocol):
    async def get(self, key: str) -> Any | None: ...

    async def put(self, key: str, output: Any, ttl_s: float) -> None: ...

    async def aclose(self) -> None: ...


log = logging.getLogger(__name__)
T = TypeVar("T")


class RedisResultCache:
    def __init__(self, url: str, timeout_s: float | None = None) -> None:
        # redis-py's own timeouts, so a connection stuck on a frozen server is dropped, not kept.
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )

    async def get(self, key: str) -> Any | None:
        raw = await self._redis.get(key)
        return None if raw is None else json.loads(raw)["output"]

    async def put(self, key: str, output: Any, ttl_s: float) -> None:
        payload = json.dumps({"output": output}, default=str)
        await self._redis.set(key, payload, px=max(1, int(ttl_s * 1000)))

    async def aclose(self) -> None:
        await self._redis.aclose()


@dataclass
class Breaker:
    """Closed: commands go through. Open: commands are skipped until ``cooldown_s`` has passed
    since the last failure; then one command probes, and closes the breaker if it succeeds."""

    cooldown_s: float
    clock: Callable[[], float] = time.monotonic
    open_since: float | None = None
    probing: bool = False
    failures: int = 0
    outages: int = 0

    def allows(self) -> bool:
        if self.open_since is None:
            return True
        if self.probing or self.clock() - self.open_since < self.cooldown_s:
            return False
        self.probing = True
        return True

    def succeeded(self) -> None:
        if self.open_since is not None:
            log.warning("result cache is back after %.1f s", self.clock() - self.open_since)
        self.open_since, self.probing = None, False

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self.open_since is None:
            self.outages += 1
            log.warning("result cache unavailable (%r): calls bypass it until it answers", exc)
        self.open_since, self.probing = self.clock(), False


class GuardedCache:
    """A ResultCache whose commands take at most ``timeout_s`` and never raise; when they fail,
    ``get`` finds nothing and ``put`` stores nothing until the breaker lets a probe through."""

    def __init__(self, inner: ResultCache, timeout_s: float, breaker: Breaker) -> None:
        self.inner = inner
        self.timeout_s = timeout_s
        self.breaker = breaker

    async def _guarded(self, command: Awaitable[T]) -> T | None:
        if not self.breaker.allows():
            if asyncio.iscoroutine(command):
                command.close()  # never awaited: the cache is bypassed
            return None
        try:
            result = await asyncio.wait_for(command, self.timeout_s)
        except Exception as exc:  # TimeoutError, connection errors, bad payloads alike
            self.breaker.failed(exc)
            return None
        self.breaker.succeeded()
        return result

    async def get(self, key: str) -> Any | None:
        return await self._guarded(self.inner.get(key))

    async def put(self, key: str, output: Any, ttl_s: float) -> None:
        await self._guarded(self.inner.put(key, output, ttl_s))

    async def aclose(self) -> None:
        try:
            await asyncio.wait_for(self.inner.aclose(), self.timeout_s * 10)
        except Exception as exc:
            log.warning("closing the result cache failed: %r", exc)
