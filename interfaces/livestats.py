"""What the live dashboard shows: counters and recent events of this worker's partitions.

Held in memory on purpose: it is a view that refills from the stream in
seconds, not state worth a changelog. Learned metrics live in tables/.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models import DeadLettered, ExecutionRecorded, IntentCompleted, IntentFailed

# Latency percentiles over the last few hundred attempts per tool: enough for
# a stable p95, small enough to follow a tool that just got slower.
_LATENCY_WINDOW = 500
_RECENT = 20
_RATE_WINDOW_S = 10.0


@dataclass
class ToolLive:
    attempts: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    cost: float = 0.0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=_LATENCY_WINDOW))


@dataclass
class LiveStats:
    started: float = field(default_factory=time.time)
    outcomes: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    tools: dict[str, ToolLive] = field(default_factory=dict)
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=_RECENT))
    outcome_times: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))

    def on_outcome(self, outcome: IntentCompleted | IntentFailed, now: float) -> None:
        self.outcomes[outcome.type] += 1
        self.outcome_times.append(now)
        self.recent.appendleft(
            {
                "intent_id": outcome.intent_id,
                "type": outcome.type,
                "tools": [r.tool for r in outcome.results],
                "latency_ms": round(outcome.latency_ms, 1),
                "cost": outcome.cost,
                "detail": _detail(outcome),
            }
        )

    def on_dead_letter(self, letter: DeadLettered) -> None:
        self.dead_letters[letter.error_kind] += 1

    def on_execution(self, record: ExecutionRecorded) -> None:
        tool = self.tools.setdefault(record.tool, ToolLive())
        tool.attempts += 1
        tool.ok += record.ok
        tool.cost += record.cost
        tool.latencies.append(record.latency_ms)
        if record.error_kind is not None:
            tool.errors[str(record.error_kind)] += 1

    def snapshot(self, now: float) -> dict[str, Any]:
        while self.outcome_times and now - self.outcome_times[0] > _RATE_WINDOW_S:
            self.outcome_times.popleft()
        return {
            "uptime_s": round(now - self.started, 1),
            "outcomes": dict(self.outcomes),
            "intents_per_s": round(len(self.outcome_times) / _RATE_WINDOW_S, 2),
            "dead_letters": dict(self.dead_letters),
            "tools": {name: _tool_view(t) for name, t in sorted(self.tools.items())},
            "recent": list(self.recent),
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


def _detail(outcome: IntentCompleted | IntentFailed) -> str:
    if isinstance(outcome, IntentFailed):
        return outcome.reason[:200]
    return "; ".join(str(r.output)[:80] for r in outcome.results)
