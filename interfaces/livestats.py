"""What the dashboard counts: outcomes over time, tools' live figures, dead letters, cache hits.

Held in memory on purpose: a view that refills from the topics in seconds (the feed reads back
``settings.feed_lookback_s`` at start), not state worth a changelog. Learned metrics live in
tables/. Every figure is keyed by event time, so a view read back after a restart shows the
same minutes as one that watched them happen.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models import DeadLettered, ExecutionRecorded, IntentCompleted, IntentFailed, ToolCallCompleted


@dataclass(frozen=True)
class SeriesPolicy:
    """The charts' resolution and reach."""

    bucket_s: float = 5.0
    """One point per 5 s: 120 points over ten minutes, enough to see a burst, few to draw."""

    window_s: float = 600.0
    """Ten minutes of history (``settings.feed_lookback_s`` reads back as much at start)."""

    latency_samples: int = 400
    """Latencies kept per bucket for its percentiles: a p99 from 400 samples is the 4th
    largest, stable enough to chart; more outcomes in one bucket are sampled uniformly."""

    rate_window_s: float = 10.0
    """Intents per second is the outcomes of the last 10 s: steady, and still within a second
    of a change in its direction."""

    tool_latencies: int = 500
    """Latencies per tool for its live p50/p95: enough for a stable p95, few enough to follow
    a tool that just got slower."""

    recent_dead_letters: int = 20


@dataclass
class Bucket:
    completed: int = 0
    failed: int = 0
    cost: float = 0.0
    seen: int = 0  # outcomes with a latency, sampled or not
    latencies: list[float] = field(default_factory=list)


@dataclass
class ToolLive:
    attempts: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    cost: float = 0.0
    latencies: deque[float] = field(default_factory=deque)


class LiveStats:
    def __init__(self, policy: SeriesPolicy | None = None, seed: int = 0) -> None:
        self.policy = policy or SeriesPolicy()
        self.started = time.time()
        self.outcomes: Counter[str] = Counter()
        self.dead_letters: Counter[str] = Counter()
        self.recent_dead_letters: deque[dict[str, Any]] = deque(
            maxlen=self.policy.recent_dead_letters
        )
        self.tools: dict[str, ToolLive] = {}
        self.cache: Counter[str] = Counter()
        self.spent = 0.0
        self._buckets: dict[int, Bucket] = {}
        self._rng = np.random.default_rng(seed)

    def on_outcome(self, outcome: IntentCompleted | IntentFailed) -> None:
        self.outcomes[outcome.type] += 1
        self.spent += outcome.cost
        bucket = self._bucket(outcome.occurred_at)
        if bucket is None:
            return
        if isinstance(outcome, IntentCompleted):
            bucket.completed += 1
        else:
            bucket.failed += 1
        bucket.cost += outcome.cost
        if outcome.latency_ms > 0:
            self._sample(bucket, outcome.latency_ms)

    def on_dead_letter(self, letter: DeadLettered) -> None:
        self.dead_letters[letter.error_kind] += 1
        self.recent_dead_letters.appendleft(
            {
                "at": letter.occurred_at,
                "error_kind": letter.error_kind,
                "reason": letter.reason[:300],
                "source": f"{letter.source_topic}[{letter.partition}]@{letter.offset}",
                "key": letter.key,
                "raw_size": letter.raw_size,
            }
        )

    def on_execution(self, record: ExecutionRecorded) -> None:
        tool = self.tools.get(record.tool)
        if tool is None:
            tool = self.tools[record.tool] = ToolLive(
                latencies=deque(maxlen=self.policy.tool_latencies)
            )
        tool.attempts += 1
        tool.ok += record.ok
        tool.cost += record.cost
        tool.latencies.append(record.latency_ms)
        if record.error_kind is not None:
            tool.errors[str(record.error_kind)] += 1

    def on_tool_result(self, done: ToolCallCompleted) -> None:
        self.cache["hits" if done.cached else "calls"] += 1

    def snapshot(self, now: float) -> dict[str, Any]:
        self._forget(now)
        series = self.series(now)
        window = [b for b in self._buckets.values()]
        done = sum(b.completed for b in window)
        failed = sum(b.failed for b in window)
        recent = self._since(now - self.policy.rate_window_s)
        hits, calls = self.cache["hits"], self.cache["calls"]
        return {
            "uptime_s": round(now - self.started, 1),
            "outcomes": dict(self.outcomes),
            "intents_per_s": round(recent / self.policy.rate_window_s, 2),
            "window_s": self.policy.window_s,
            "success_rate": round(done / (done + failed), 4) if done + failed else None,
            "series": series,
            "latency_ms": _percentiles([x for b in window for x in b.latencies]),
            "cache": {
                "hits": hits,
                "lookups": hits + calls,
                "hit_rate": round(hits / (hits + calls), 4) if hits + calls else None,
            },
            "spend": {
                "total": round(self.spent, 6),
                "window": round(sum(b.cost for b in window), 6),
            },
            "dead_letters": dict(self.dead_letters),
            "recent_dead_letters": list(self.recent_dead_letters),
            "tools": {name: _tool_view(t) for name, t in sorted(self.tools.items())},
        }

    def series(self, now: float) -> list[dict[str, Any]]:
        """One point per bucket of the window, oldest first, empty buckets included."""
        size = self.policy.bucket_s
        last = math.floor(now / size)
        first = last - int(self.policy.window_s / size) + 1
        points = []
        for key in range(first, last + 1):
            bucket = self._buckets.get(key, Bucket())
            count = bucket.completed + bucket.failed
            points.append(
                {
                    "t": key * size,
                    "per_s": round(count / size, 3),
                    "completed": bucket.completed,
                    "failed": bucket.failed,
                    **_percentiles(bucket.latencies),
                }
            )
        return points

    def _bucket(self, at: float) -> Bucket | None:
        if time.time() - at > self.policy.window_s:
            return None  # older than the charts: counted in the totals only
        key = math.floor(at / self.policy.bucket_s)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket()
        return bucket

    def _sample(self, bucket: Bucket, latency_ms: float) -> None:
        # Reservoir sampling: every outcome of the bucket equally likely to be kept.
        bucket.seen += 1
        if len(bucket.latencies) < self.policy.latency_samples:
            bucket.latencies.append(latency_ms)
            return
        slot = int(self._rng.integers(bucket.seen))
        if slot < self.policy.latency_samples:
            bucket.latencies[slot] = latency_ms

    def _since(self, since: float) -> int:
        size = self.policy.bucket_s
        total = 0.0
        for key, bucket in self._buckets.items():
            # A partly covered bucket counts in proportion (outcomes are spread over it).
            share = min(1.0, max(0.0, ((key + 1) * size - since) / size))
            total += share * (bucket.completed + bucket.failed)
        return round(total)

    def _forget(self, now: float) -> None:
        oldest = math.floor((now - self.policy.window_s) / self.policy.bucket_s)
        for key in [k for k in self._buckets if k < oldest]:
            del self._buckets[key]


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "p50_ms": round(float(p50), 1),
        "p95_ms": round(float(p95), 1),
        "p99_ms": round(float(p99), 1),
    }


def _tool_view(tool: ToolLive) -> dict[str, Any]:
    p50, p95 = np.percentile(list(tool.latencies), [50, 95]) if tool.latencies else (0.0, 0.0)
    return {
        "attempts": tool.attempts,
        "success_rate": round(tool.ok / tool.attempts, 3) if tool.attempts else None,
        "errors": dict(tool.errors),
        "latency_p50_ms": round(float(p50), 2),
        "latency_p95_ms": round(float(p95), 2),
        "cost": round(tool.cost, 6),
    }
