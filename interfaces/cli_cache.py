"""`toolwise cache stats`: the result and plan caches' figures per tool, from Redis."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from streams.settings import Settings


def register(sub: Any) -> None:
    cache = sub.add_parser("cache", help="the result and plan caches: stats")
    actions = cache.add_subparsers(dest="action", metavar="ACTION", required=True)
    stats = actions.add_parser(
        "stats", help="hits, misses, hit rate, bytes stored per tool; entries held now (JSON)"
    )
    stats.set_defaults(run=_stats)


def _stats(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(asyncio.run(cache_stats(settings)), indent=2))
    return 0


async def cache_stats(settings: Settings) -> dict[str, Any]:
    from agents.cache_stats import stats_view
    from agents.result_cache import RedisResultCache

    if not settings.redis_url:
        raise SystemExit("no cache: TOOLWISE_REDIS_URL is empty")
    from redis.exceptions import RedisError

    # 5 s: a command-line read may wait far longer than a tool call's cache lookup.
    cache = RedisResultCache(settings.redis_url, 5.0)
    try:
        counts = await cache.stats(settings.app_id)
        sizes = await cache.live_sizes(settings.app_id)
    except (OSError, RedisError) as exc:
        raise SystemExit(f"Redis at {settings.redis_url} did not answer: {exc}") from None
    finally:
        await cache.aclose()
    view = stats_view(counts)
    view["held_now"] = {tool: {"entries": n, "bytes": size} for tool, (n, size) in sizes.items()}
    return view
