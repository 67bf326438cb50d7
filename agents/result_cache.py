"""The result cache boundary: keys, a protocol, its Redis implementation, and the breaker.

The cache only saves work: when Redis is slow or away, every call goes to the tool instead.
``GuardedCache`` bounds each command (``settings.redis_timeout_s``; a frozen Redis stalled
every tool call before, cacheable or not) and, after a failure, bypasses the cache for a
cool-down before one probe command may try again (a circuit breaker). Besides results it
keeps the locks that let one call of a kind run while identical calls on any worker wait
(``agents.single_flight``), successful outcomes for identical intents (the plan cache), and
hit statistics per tool (a Redis hash, summed over every worker).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import redis.asyncio as aioredis

# What one result key reads like: toolwise:<namespace>:result:<tool>:<sha256 hex>.
_RESULT_KEY = re.compile(r"^toolwise:(?P<ns>[^:]*):result:(?P<tool>.+):(?P<digest>[0-9a-f]{64})$")
_WHITESPACE = re.compile(r"\s+")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def cache_key(
    namespace: str,
    tool: str,
    version: str,
    arguments: Mapping[str, Any],
    context: Mapping[str, str | None] | None = None,
) -> str:
    """Same tool, version, arguments (in any key order) and declared context give the same key.

    ``context`` holds the fields the tool declares as affecting its result (``cache_context``),
    absent ones as None; ``namespace`` (the app id) keeps deployments sharing one Redis apart.
    The tool's name is part of the key in clear, so its entries can be counted.
    """
    canonical = _canonical(
        {"tool": tool, "version": version, "arguments": arguments, "context": context or {}}
    )
    return f"toolwise:{namespace}:result:{tool}:{hashlib.sha256(canonical.encode()).hexdigest()}"


def declared_context(fields: tuple[str, ...], context: Mapping[str, str]) -> dict[str, str | None]:
    """The context fields a tool's result depends on, as its cache key holds them."""
    return {name: context.get(name) for name in fields}


def lock_key(key: str) -> str:
    return f"{key}:lock"


def tool_of_key(key: str) -> str | None:
    match = _RESULT_KEY.match(key)
    return match["tool"] if match else None


def normalised_text(text: str) -> str:
    """Intent text as the plan cache compares it: case and runs of whitespace do not matter."""
    return _WHITESPACE.sub(" ", text).strip().casefold()


def plan_cache_key(
    namespace: str,
    text: str,
    arguments: Mapping[str, Any],
    context: Mapping[str, str],
    tool: str | None,
    ignored_context: tuple[str, ...] = ("session",),
) -> str:
    """Identical intents (normalised text, arguments, relevant context, named tool) share it."""
    relevant = {k: v for k, v in context.items() if k not in ignored_context}
    canonical = _canonical(
        {"text": normalised_text(text), "arguments": arguments, "context": relevant, "tool": tool}
    )
    return f"toolwise:{namespace}:plan:{hashlib.sha256(canonical.encode()).hexdigest()}"


def stats_key(namespace: str) -> str:
    return f"toolwise:{namespace}:cache-stats"


class ResultCache(Protocol):
    async def get(self, key: str) -> Any | None: ...

    async def put(self, key: str, output: Any, ttl_s: float) -> int:
        """Store ``output`` for ``ttl_s``; returns the bytes stored."""
        ...

    async def peek(self, key: str) -> tuple[Any | None, str | None]:
        """The stored output and the key's lock value, in one round trip."""
        ...

    async def acquire(self, key: str, token: str, ttl_s: float) -> bool:
        """Take the key's lock for ``ttl_s`` unless someone holds it."""
        ...

    async def release(self, key: str, token: str, failed_ttl_s: float = 0.0) -> None:
        """Give the lock back if held with ``token``; with ``failed_ttl_s``, leave 'failed' in
        its place that long, so that waiters stop waiting and call the tool themselves."""
        ...

    async def add_stats(self, namespace: str, deltas: Mapping[str, float]) -> None: ...

    async def stats(self, namespace: str) -> dict[str, float]: ...

    async def aclose(self) -> None: ...


log = logging.getLogger(__name__)
T = TypeVar("T")

FAILED = "failed"
# Compare-and-delete: only the holder of a lock releases it (another may hold it by now).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  if tonumber(ARGV[2]) > 0 then
    return redis.call('set', KEYS[1], 'failed', 'PX', ARGV[2])
  end
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisResultCache:
    def __init__(self, url: str, timeout_s: float | None = None) -> None:
        # redis-py's own timeouts, so a connection stuck on a frozen server is dropped, not kept.
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )

    async def get(self, key: str) -> Any | None:
        raw = await self._redis.get(key)
        return None if raw is None else json.loads(raw)["output"]

    async def put(self, key: str, output: Any, ttl_s: float) -> int:
        payload = json.dumps({"output": output}, default=str)
        await self._redis.set(key, payload, px=_ms(ttl_s))
        return len(payload.encode())

    async def peek(self, key: str) -> tuple[Any | None, str | None]:
        raw, lock = await self._redis.mget([key, lock_key(key)])
        output = None if raw is None else json.loads(raw)["output"]
        return output, None if lock is None else _text(lock)

    async def acquire(self, key: str, token: str, ttl_s: float) -> bool:
        return bool(await self._redis.set(lock_key(key), token, nx=True, px=_ms(ttl_s)))

    async def release(self, key: str, token: str, failed_ttl_s: float = 0.0) -> None:
        failed_ms = _ms(failed_ttl_s) if failed_ttl_s > 0 else 0
        await self._redis.eval(_RELEASE, 1, lock_key(key), token, str(failed_ms))

    async def add_stats(self, namespace: str, deltas: Mapping[str, float]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for field, delta in deltas.items():
                if float(delta).is_integer():
                    pipe.hincrby(stats_key(namespace), field, int(delta))
                else:
                    pipe.hincrbyfloat(stats_key(namespace), field, float(delta))
            await pipe.execute()

    async def stats(self, namespace: str) -> dict[str, float]:
        raw = await self._redis.hgetall(stats_key(namespace))
        return {_text(k): float(v) for k, v in raw.items()}

    async def live_sizes(self, namespace: str) -> dict[str, tuple[int, int]]:
        """Tool -> (entries, bytes) held now; scans the namespace (for the CLI, not hot paths)."""
        sizes: dict[str, tuple[int, int]] = {}
        async for raw in self._redis.scan_iter(match=f"toolwise:{namespace}:result:*", count=500):
            key = _text(raw)
            tool = tool_of_key(key)
            if tool is None:
                continue
            length = int(await self._redis.strlen(key))
            entries, size = sizes.get(tool, (0, 0))
            sizes[tool] = (entries + 1, size + length)
        return sizes

    async def aclose(self) -> None:
        await self._redis.aclose()


def _text(raw: bytes | str) -> str:
    return raw if isinstance(raw, str) else raw.decode(errors="replace")


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


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
    bypassed: int = 0  # commands not sent because the breaker was open

    def allows(self) -> bool:
        if self.open_since is None:
            return True
        if self.probing or self.clock() - self.open_since < self.cooldown_s:
            self.bypassed += 1
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

    def view(self) -> dict[str, Any]:
        return {
            "available": self.open_since is None,
            "outages": self.outages,
            "failures": self.failures,
            "bypassed_commands": self.bypassed,
        }


class GuardedCache:
    """A ResultCache whose commands take at most ``timeout_s`` and never raise; when they fail,
    they return None (nothing found, nothing stored, no lock) until the breaker lets a probe
    through."""

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

    async def put(self, key: str, output: Any, ttl_s: float) -> int | None:
        return await self._guarded(self.inner.put(key, output, ttl_s))

    async def peek(self, key: str) -> tuple[Any | None, str | None] | None:
        return await self._guarded(self.inner.peek(key))

    async def acquire(self, key: str, token: str, ttl_s: float) -> bool | None:
        """True: taken; False: someone holds it; None: the cache is unavailable."""
        return await self._guarded(self.inner.acquire(key, token, ttl_s))

    async def release(self, key: str, token: str, failed_ttl_s: float = 0.0) -> None:
        await self._guarded(self.inner.release(key, token, failed_ttl_s))

    async def add_stats(self, namespace: str, deltas: Mapping[str, float]) -> bool:
        """True when stored (else the caller keeps the deltas for the next try)."""
        done = await self._guarded(self._add(namespace, deltas))
        return bool(done)

    async def _add(self, namespace: str, deltas: Mapping[str, float]) -> bool:
        await self.inner.add_stats(namespace, deltas)
        return True

    async def stats(self, namespace: str) -> dict[str, float] | None:
        return await self._guarded(self.inner.stats(namespace))

    async def aclose(self) -> None:
        try:
            await asyncio.wait_for(self.inner.aclose(), self.timeout_s * 10)
        except Exception as exc:
            log.warning("closing the result cache failed: %r", exc)
