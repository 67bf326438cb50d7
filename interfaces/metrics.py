"""/metrics: Prometheus counters of what the deployment did, and this worker's own gauges.

Counters come from the web port's feed (``interfaces.feed``), which reads every partition: each
worker reports the whole deployment's intents, outcomes, attempts and dead letters since it
started (records older than its start are not counted, so a restart does not replay the
lookback into them). Aggregate them with ``max`` across workers, or scrape one; ``sum`` would
count each record once per worker. The ``toolwise_worker_*`` gauges are this worker's own:
event-loop stalls and lag, and how far its consumer group's partitions are behind.

Labels are bounded: tool names and error kinds beyond ``MAX_LABEL_VALUES`` distinct values
become ``other``; nothing carries an intent id.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from models import (
    DeadLettered,
    Event,
    ExecutionRecorded,
    IntentCompleted,
    IntentFailed,
    IntentSubmitted,
    ToolCallCompleted,
    ToolCallProgressed,
)
from models.tools import ErrorKind

# The *_created series (each counter's creation time) double a scrape and say nothing here.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client

# Distinct values one label may take: more tools than any catalogue here (MetaTool has 199),
# few enough that a scrape stays small.
MAX_LABEL_VALUES = 300
_LABEL = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")

# Seconds: from a cache hit (~1 ms) to a long tool call (2 minutes).
_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0,
)  # fmt: skip


class BoundedLabel:
    """A label's values, capped: the first ``limit`` distinct ones, then 'other'."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str | None) -> str:
        if not value or not _LABEL.match(value):
            return "other" if value else "none"
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return "other"
        self._seen.add(value)
        return value


class Metrics:
    def __init__(self, started: float | None = None) -> None:
        self.started = time.time() if started is None else started
        self.registry = CollectorRegistry(auto_describe=True)
        self._tool = BoundedLabel()
        self._kind = BoundedLabel(50)
        r = self.registry
        self.intents = Counter("toolwise_intents", "Intents submitted.", registry=r)
        self.outcomes = Counter(
            "toolwise_outcomes", "Intents answered, by status and error kind.",
            ["status", "error_kind"], registry=r,
        )  # fmt: skip
        self.intent_latency = Histogram(
            "toolwise_intent_latency_seconds", "From submission to outcome.",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.spend = Counter("toolwise_spend", "Cost of answered intents.", registry=r)
        self.attempts = Counter(
            "toolwise_tool_attempts", "Tool call attempts, by tool and result.",
            ["tool", "result"], registry=r,
        )  # fmt: skip
        self.retries = Counter(
            "toolwise_tool_retries", "Attempts after the first of a call.", ["tool"], registry=r
        )
        self.timeouts = Counter(
            "toolwise_tool_timeouts", "Attempts that timed out.", ["tool"], registry=r
        )
        self.tool_latency = Histogram(
            "toolwise_tool_latency_seconds", "One attempt of a tool call.", ["tool"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.cache = Counter(
            "toolwise_step_results", "Step results, by whether the cache answered.",
            ["cached"], registry=r,
        )  # fmt: skip
        self.progress = Counter(
            "toolwise_progress_notifications", "Tools' progress notifications (throttled).",
            registry=r,
        )  # fmt: skip
        self.dead_letters = Counter(
            "toolwise_dead_letters", "Dead-lettered records, by reason.", ["reason"], registry=r
        )
        r.register(WorkerCollector())

    def observe(self, event: Event, published_at: float) -> None:
        """Count one record of the feed (``published_at``: its Kafka timestamp, seconds)."""
        if published_at < self.started:
            return
        if isinstance(event, IntentSubmitted):
            self.intents.inc()
        elif isinstance(event, IntentCompleted | IntentFailed):
            failed = isinstance(event, IntentFailed)
            kind = self._kind(event.error_kind) if isinstance(event, IntentFailed) else "none"
            self.outcomes.labels("failed" if failed else "completed", kind).inc()
            if event.latency_ms > 0:
                self.intent_latency.observe(event.latency_ms / 1000.0)
            self.spend.inc(event.cost)
        elif isinstance(event, ExecutionRecorded):
            tool = self._tool(event.tool)
            result = "ok" if event.ok else self._kind(str(event.error_kind or "failed"))
            self.attempts.labels(tool, result).inc()
            self.tool_latency.labels(tool).observe(max(0.0, event.latency_ms) / 1000.0)
            if event.attempt > 1:
                self.retries.labels(tool).inc()
            if event.error_kind is ErrorKind.TIMEOUT:
                self.timeouts.labels(tool).inc()
        elif isinstance(event, ToolCallCompleted):
            self.cache.labels("true" if event.cached else "false").inc()
        elif isinstance(event, ToolCallProgressed):
            self.progress.inc()
        elif isinstance(event, DeadLettered):
            self.dead_letters.labels(self._kind(event.error_kind)).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class WorkerCollector(Collector):
    """This worker's gauges, read at scrape time: the loop monitor and the consumer's lag."""

    def collect(self) -> Iterator[Any]:
        from streams.app import app, loop_monitor

        lag = loop_monitor.lag
        stalls = CounterMetricFamily(
            "toolwise_worker_loop_stalls", "Event-loop stalls over 100 ms (streams.loop_monitor)."
        )
        stalls.add_metric([], lag.stalls)
        yield stalls
        last = GaugeMetricFamily(
            "toolwise_worker_loop_lag_seconds", "How late the event loop last ran what was due."
        )
        last.add_metric([], lag.last_lag_s)
        yield last
        worst = GaugeMetricFamily(
            "toolwise_worker_loop_lag_max_seconds", "The longest loop lag since the start."
        )
        worst.add_metric([], lag.max_lag_s)
        yield worst
        behind = GaugeMetricFamily(
            "toolwise_worker_consumer_lag",
            "Records of this worker's partitions not yet committed, per topic (the learner's "
            "lag is the executions topic's).",
            labels=["topic"],
        )
        for topic, records in consumer_lag(app).items():
            behind.add_metric([topic], records)
        yield behind


def consumer_lag(app: Any) -> dict[str, int]:
    """Per source topic (by suffix), highwater minus committed offset over this worker's
    assigned partitions. Table changelogs and Faust's own topics are left out."""
    consumer = getattr(app, "_consumer", None)  # None before the worker has started
    if consumer is None:
        return {}
    prefix = f"{app.conf.id}-"
    behind: dict[str, int] = {}
    try:
        assignment = consumer.assignment()
        committed = consumer._committed_offset
        for tp in assignment:
            suffix = tp.topic.removeprefix(prefix)
            if suffix.endswith("-changelog") or suffix.startswith("__"):
                continue
            high = consumer.highwater(tp)
            if high is None:
                continue
            done = committed.get(tp) or 0
            behind[suffix] = behind.get(suffix, 0) + max(0, high - done)
    except Exception:  # a scrape must not fail on a consumer between rebalances
        return behind
    return behind


def routes(metrics: Metrics) -> list[Route]:
    async def scrape(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", scrape, methods=["GET"])]
