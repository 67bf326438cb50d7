"""The web port's own cost per intent: what its feed does with each record, without Kafka.

Run: ``python -m bench.feed [--intents N]``.

A worker with its web port on reads every record of the intent topics once more (the
group-less feed of ``interfaces.feed``) and decodes, indexes, charts and counts it on the
worker's event loop. This times ``Feed.on_record`` over the five records one intent makes
(intent, plan, attempt, step result, outcome), as a worker's feed receives them; the fetch
itself (aiokafka) is not included.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from bench.host import host
from interfaces.feed import Feed
from interfaces.livestats import LiveStats
from interfaces.metrics import Metrics
from interfaces.watch import IntentWatch
from models import (
    Event,
    ExecutionRecorded,
    IntentCompleted,
    IntentSubmitted,
    PlanCreated,
    PlanStep,
    StepResult,
    ToolCallCompleted,
)
from streams.follower import Record
from streams.settings import Settings


def records(intents: int, prefix: str) -> list[Record]:
    out = []
    now_ms = int(time.time() * 1000)
    for i in range(intents):
        iid = f"bench-{i}"
        call = f"{iid}:0"
        tool = "simulated.instant"
        output = {"answer": "x" * 50}
        events: list[tuple[str, Event]] = [
            ("intents", IntentSubmitted(intent_id=iid, text="bench", tool=tool,
                                        arguments={"query": f"q{i}"})),
            ("plans", PlanCreated(intent_id=iid, steps=[PlanStep(step_id=call, index=0,
                                                                 tool=tool)])),
            ("executions", ExecutionRecorded(intent_id=iid, call_id=call, tool=tool, attempt=1,
                                             ok=True, started_at=0, latency_ms=1)),
            ("tool-results", ToolCallCompleted(intent_id=iid, call_id=call, tool=tool, ok=True,
                                               output=output, attempts=1)),
            ("outcomes", IntentCompleted(intent_id=iid, latency_ms=20, results=[
                StepResult(step_id=call, tool=tool, ok=True, output=output)])),
        ]  # fmt: skip
        for n, (suffix, event) in enumerate(events):
            out.append(
                Record(f"{prefix}-{suffix}", 0, i * 5 + n, iid.encode(), event.to_bytes(), now_ms)
            )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.feed", description=__doc__)
    parser.add_argument("--intents", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    settings = Settings()
    batch = records(args.intents, settings.topic_prefix)
    per_intent_ms = []
    for _ in range(args.repeats):
        # A fresh feed each time, its index as large as the worker's default.
        feed = Feed(settings, IntentWatch(), LiveStats(), Metrics(started=0.0))
        started = time.perf_counter()
        for record in batch:
            feed.on_record(record)
        per_intent_ms.append((time.perf_counter() - started) * 1000.0 / args.intents)
    report = {
        "machine": host(),
        "intents": args.intents,
        "per_intent_ms": [round(x, 3) for x in per_intent_ms],
        "median_ms": round(statistics.median(per_intent_ms), 3),
    }
    print(
        f"feed: {report['median_ms']} ms per intent (5 records), median of {args.repeats}: "
        f"{report['per_intent_ms']}"
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
