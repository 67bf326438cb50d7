"""State growth: a worker's memory and restart time as it serves N intents, per table store and
state retention.

For each configuration, one worker serves ``growth_intents`` intents (a named in-process
tool: the per-intent state is the same as any intent's, and the pipeline is fastest), at
most ``_WINDOW`` unanswered at a time. At each checkpoint (by default 20k and 200k) it
measures the worker's RSS and data dir, then restarts it (SIGTERM, start) and times the
start to the first outcome, and the RSS once it serves again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.chaos_count import Row
from bench.chaos_rig import Deployment, Publisher, Watch, rss_mb
from bench.chaos_scenarios import READY_TIMEOUT_S, Context, cleanup, finish
from models import IntentSubmitted

# Intents published and not yet answered, at most: enough to keep every stage busy, few
# enough that a checkpoint is reached soon after the last of its intents is published.
_WINDOW = 2_000
_BATCH = 200
# The RSS baseline is taken after this many intents: imports, tool servers, caches warm.
_WARM = 1_000


def configurations(ctx: Context) -> dict[str, dict[str, Any]]:
    """The chosen stores (``growth_stores``): name -> the worker's settings."""
    every: dict[str, tuple[str, dict[str, Any]]] = {
        "rocksdb": ("rocksdb", {"store": "rocksdb://"}),
        "memory": ("memory", {"store": "memory://"}),
        "retention": (
            f"rocksdb-retention-{ctx.profile.short_retention_s:g}s",
            {"store": "rocksdb://", "state_retention_s": ctx.profile.short_retention_s},
        ),
    }
    unknown = set(ctx.profile.growth_stores) - set(every)
    if unknown:
        raise SystemExit(f"unknown growth store(s) {sorted(unknown)}; choose from {list(every)}")
    return dict(every[s] for s in ctx.profile.growth_stores)


def growth_intent(n: int) -> IntentSubmitted:
    return IntentSubmitted(text="growth", tool="simulated.instant", arguments={"query": f"g{n}"})


def _below(watch: Watch, sent: int) -> Callable[[], bool]:
    """Whether fewer than ``_WINDOW`` of ``sent`` intents are unanswered."""
    return lambda: sent - len(watch.answered) < _WINDOW


def dir_mb(path: Path) -> float:
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return round(total / 1e6, 1)


async def growth(ctx: Context) -> list[Row]:
    total = ctx.profile.growth_intents
    checkpoints = sorted({c for c in ctx.profile.growth_checkpoints if c <= total} | {total})
    rows = []
    for name, values in configurations(ctx).items():
        deployment = ctx.deployment(f"growth-{name.split('-')[0]}", **values)
        rows.append(await _grow(ctx, f"growth {name}", deployment, checkpoints))
    return rows


async def _grow(ctx: Context, name: str, deployment: Deployment, checkpoints: list[int]) -> Row:
    settings = deployment.settings
    await deployment.create_topics()
    watch = Watch(settings)
    await watch.start()
    worker = deployment.spawn(0)
    exits = asyncio.create_task(deployment.watch_exits())
    notes: dict[str, Any] = {"intents": checkpoints[-1]}
    began = time.time()
    try:
        async with Publisher(settings) as publisher:
            await publisher.submit(growth_intent(-1))
            ready = await watch.first_outcome_after(worker.started_at, READY_TIMEOUT_S)
            notes["first_ready_s"] = None if ready is None else round(ready, 1)
            sent = 0
            for checkpoint in checkpoints:
                while sent < checkpoint:
                    batch = min(_BATCH, checkpoint - sent)
                    await asyncio.gather(
                        *(publisher.submit(growth_intent(n)) for n in range(sent, sent + batch))
                    )
                    sent += batch
                    await watch.until(_below(watch, sent), 600.0)
                    if sent == _WARM:
                        await watch.drain(publisher.published, ctx.profile.drain_idle_s)
                        notes["rss_mb_warm"] = rss_mb(deployment.worker(0).pid)
                await watch.drain(publisher.published, ctx.profile.drain_idle_s)
                notes[f"at_{checkpoint}"] = await _checkpoint(deployment, watch, publisher)
            notes["intents_per_s"] = round(checkpoints[-1] / (time.time() - began), 1)
        return await finish(ctx, name, deployment, watch, publisher, notes)
    finally:
        exits.cancel()
        await asyncio.gather(exits, return_exceptions=True)
        await cleanup(ctx, deployment, watch)


async def _checkpoint(deployment: Deployment, watch: Watch, publisher: Publisher) -> dict[str, Any]:
    worker = deployment.worker(0)
    found: dict[str, Any] = {
        "rss_mb": rss_mb(worker.pid),
        "data_dir_mb": dir_mb(deployment.root / f"data-{worker.slot}"),
    }
    found["exit_s"] = round(await worker.terminate(), 1)
    restarted = deployment.spawn(worker.slot)
    await publisher.submit(growth_intent(-2 - len(publisher.published)))
    took = await watch.first_outcome_after(restarted.started_at, READY_TIMEOUT_S)
    found["restart_to_ready_s"] = None if took is None else round(took, 1)
    await asyncio.sleep(5.0)
    found["rss_mb_after_restart"] = rss_mb(restarted.pid)
    return found
