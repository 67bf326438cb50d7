"""The content store (claim check): bytes by sha256; a protocol, and Redis and memory kinds.

Content-addressed: the same bytes are stored once under their sha256, and storing them
again refreshes their time to live. Every read checks the digest, so a reference never
returns other bytes than the ones it names.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from models.content import ContentError, ContentRef, reference_for

__all__ = [
    "ContentMissing",
    "ContentStore",
    "ContentStoreUnavailable",
    "ContentTooLarge",
    "MemoryContentStore",
    "RedisContentStore",
    "StoredContent",
    "content_key",
]


class ContentTooLarge(ContentError):
    """Bytes above the store's size limit."""


class ContentMissing(ContentError):
    """A reference whose bytes are not (or no longer) in the store."""


class ContentStoreUnavailable(ContentError):
    """The store could not be reached; trying again later may work."""


@dataclass(frozen=True)
class StoredContent:
    data: bytes
    mime_type: str


def content_key(namespace: str, sha256: str) -> str:
    """The Redis key of stored bytes; ``namespace`` (the app id) keeps deployments apart."""
    return f"toolwise:{namespace}:content:{sha256}"


class ContentStore(Protocol):
    """Where bytes above the inline threshold wait, by reference, for whoever needs them."""

    async def put(self, data: bytes, mime_type: str) -> ContentRef:
        """Store ``data``; raises ContentTooLarge above the limit."""
        ...

    async def get(self, sha256: str) -> StoredContent:
        """The bytes with this digest; raises ContentMissing when expired or never stored."""
        ...

    async def aclose(self) -> None: ...


def _too_large(size: int, limit: int) -> ContentTooLarge:
    return ContentTooLarge(
        f"a part of {size:,} bytes is above the content store's limit of {limit:,} bytes "
        "(TOOLWISE_CONTENT_MAX_BYTES); send a smaller file or raise the limit"
    )


def _missing(sha256: str, ttl_s: float) -> ContentMissing:
    return ContentMissing(
        f"no content with sha256 {sha256} in the content store: it expired (kept {ttl_s:g} s, "
        "TOOLWISE_CONTENT_TTL_S) or was never stored here; submit the file again"
    )


def _checked(sha256: str, data: bytes, mime_type: str) -> StoredContent:
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ContentError(f"the stored bytes of {sha256} do not match their digest; refusing them")
    return StoredContent(data, mime_type)


class RedisContentStore:
    """Bytes in a Redis hash per digest (``data``, ``mime``), expiring after ``ttl_s``."""

    def __init__(self, url: str, namespace: str, ttl_s: float, max_bytes: int) -> None:
        self._redis = aioredis.Redis.from_url(url)
        self._namespace = namespace
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes

    async def put(self, data: bytes, mime_type: str) -> ContentRef:
        if len(data) > self.max_bytes:
            raise _too_large(len(data), self.max_bytes)
        ref = reference_for(data, mime_type)
        key = content_key(self._namespace, ref.sha256)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={"data": data, "mime": mime_type})
                pipe.pexpire(key, max(1, int(self.ttl_s * 1000)))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return ref

    async def get(self, sha256: str) -> StoredContent:
        try:
            found = await self._redis.hmget(content_key(self._namespace, sha256), ["data", "mime"])
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        data, mime = found
        if not isinstance(data, bytes):
            raise _missing(sha256, self.ttl_s)
        mime_type = mime.decode() if isinstance(mime, bytes) else "application/octet-stream"
        return _checked(sha256, data, mime_type)

    def _unavailable(self, exc: BaseException) -> ContentStoreUnavailable:
        return ContentStoreUnavailable(
            f"the content store (Redis, TOOLWISE_REDIS_URL) did not answer: "
            f"{type(exc).__name__}: {exc}"
        )

    async def aclose(self) -> None:
        await self._redis.aclose()


class MemoryContentStore:
    """The same contract in a dict, with an injectable clock: for tests and the benchmarks."""

    def __init__(
        self,
        ttl_s: float = 3600.0,
        max_bytes: int = 20 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self._clock = clock
        self.items: dict[str, tuple[bytes, str, float]] = {}
        self.puts = 0

    async def put(self, data: bytes, mime_type: str) -> ContentRef:
        if len(data) > self.max_bytes:
            raise _too_large(len(data), self.max_bytes)
        ref = reference_for(data, mime_type)
        self.items[ref.sha256] = (data, mime_type, self._clock() + self.ttl_s)
        self.puts += 1
        return ref

    async def get(self, sha256: str) -> StoredContent:
        item = self.items.get(sha256)
        if item is None or item[2] <= self._clock():
            raise _missing(sha256, self.ttl_s)
        return _checked(sha256, item[0], item[1])

    async def aclose(self) -> None:
        return None
