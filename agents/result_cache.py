"""The result cache boundary: a protocol and its Redis implementation."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

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


class RedisResultCache:
    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(url)

    async def get(self, key: str) -> Any | None:
        raw = await self._redis.get(key)
        return None if raw is None else json.loads(raw)["output"]

    async def put(self, key: str, output: Any, ttl_s: float) -> None:
        payload = json.dumps({"output": output}, default=str)
        await self._redis.set(key, payload, px=max(1, int(ttl_s * 1000)))

    async def aclose(self) -> None:
        await self._redis.aclose()
