"""The Redis content store: content-addressed, expiring, bounded, and clear when it is down."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from agents.content_store import (
    ContentMissing,
    ContentStoreUnavailable,
    ContentTooLarge,
    RedisContentStore,
)
from tools.samples import sample_image

pytestmark = pytest.mark.integration


async def test_bytes_come_back_until_they_expire(
    redis_url: str, unique_name_factory: Callable[[str], str]
) -> None:
    store = RedisContentStore(redis_url, unique_name_factory("content"), ttl_s=1.0, max_bytes=10**6)
    png = sample_image(64, 64)
    try:
        ref = await store.put(png, "image/png")
        assert ref == await store.put(png, "image/png")  # same bytes, same reference
        stored = await store.get(ref.sha256)
        assert stored.data == png and stored.mime_type == "image/png"
        await asyncio.sleep(1.5)
        with pytest.raises(ContentMissing, match="expired"):
            await store.get(ref.sha256)
        with pytest.raises(ContentTooLarge):
            await store.put(b"x" * (10**6 + 1), "application/octet-stream")
    finally:
        await store.aclose()


async def test_an_unreachable_store_says_so() -> None:
    store = RedisContentStore("redis://127.0.0.1:1/0", "x", ttl_s=60, max_bytes=100)
    try:
        with pytest.raises(ContentStoreUnavailable, match="TOOLWISE_REDIS_URL"):
            await store.put(b"abc", "text/plain")
    finally:
        await store.aclose()
