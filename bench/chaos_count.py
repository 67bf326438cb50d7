"""The chaos harness's bookkeeping: from what was published and what came back, one table row.

Pure code over plain records (read from the topics by ``bench.chaos_rig``), so the counting is
unit-tested with hand-made records. The unit is a published record:

- *answered*: an outcome (``IntentCompleted`` or ``IntentFailed``) names the record's intent id;
- *dead-lettered*: a dead letter names the record's topic, partition and offset;
- *lost*: neither (a silent drop: the submitter waits forever and nothing says why).

Outcomes of one intent are compared by event id and verdict: copies with the same id and
verdict are the at-least-once duplicates the README allows (a consumer dedups them by id);
a second outcome with another id or another verdict is a contradiction no consumer can
resolve. An execution record whose ``event_id`` (call, tool and attempt) occurs more than
once is a tool call that ran twice.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Published:
    """A record the harness published and the broker acknowledged."""

    intent_id: str | None  # whom an answer would name; None when nothing in the record does
    topic: str
    partition: int
    offset: int
    sent_at: float = 0.0  # client's time.time() when the publish began
    hostile: bool = False


@dataclass(frozen=True)
class OutcomeSeen:
    intent_id: str
    event_id: str
    type: str  # "IntentCompleted" | "IntentFailed"
    error_kind: str | None = None
    arrived_at: float = 0.0  # client's time.time() when the harness read it


@dataclass(frozen=True)
class LetterSeen:
    source_topic: str
    partition: int
    offset: int
    error_kind: str
    key: str | None = None


@dataclass(frozen=True)
class ExecutionSeen:
    event_id: str
    intent_id: str


@dataclass
class Row:
    """One scenario's line of the table, plus what did not fit in a column."""

    scenario: str
    intents: int = 0
    answered: int = 0
    failed: int = 0  # answered with IntentFailed
    dead_lettered: int = 0  # records with a dead letter (answered or not)
    lost: int = 0
    dup_same_id: int = 0  # extra copies of an outcome (same id, same verdict)
    dup_other_id: int = 0  # extra outcomes with another id or verdict: contradictions
    calls_twice: int = 0  # execution ids recorded more than once
    exits: int = 0  # worker exits the harness did not cause
    notes: dict[str, Any] = field(default_factory=dict)

    def meets_targets(self) -> bool:
        """The issue's targets: nothing lost, no unexpected exit, no contradicting outcome."""
        return self.lost == 0 and self.exits == 0 and self.dup_other_id == 0


def count(
    scenario: str,
    published: Sequence[Published],
    outcomes: Iterable[OutcomeSeen],
    letters: Iterable[LetterSeen],
    executions: Iterable[ExecutionSeen],
    unexpected_exits: int = 0,
) -> Row:
    """The row of one scenario; only outcomes and calls of the published intents count."""
    ids = {p.intent_id for p in published if p.intent_id is not None}
    by_intent: dict[str, list[OutcomeSeen]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.intent_id in ids:
            by_intent[outcome.intent_id].append(outcome)
    positions = {(letter.source_topic, letter.partition, letter.offset) for letter in letters}

    row = Row(scenario, intents=len(published), exits=unexpected_exits)
    lost: list[Published] = []
    for record in published:
        seen = by_intent.get(record.intent_id) if record.intent_id is not None else None
        lettered = (record.topic, record.partition, record.offset) in positions
        row.dead_lettered += lettered
        if seen:
            row.answered += 1
            row.failed += seen[0].type != "IntentCompleted"
        elif not lettered:
            lost.append(record)
    row.lost = len(lost)
    for seen in by_intent.values():
        copies = Counter((o.event_id, o.type) for o in seen)
        row.dup_same_id += sum(n - 1 for n in copies.values())
        row.dup_other_id += len(copies) - 1
    runs = Counter(e.event_id for e in executions if e.intent_id in ids)
    row.calls_twice = sum(1 for n in runs.values() if n > 1)
    kinds = Counter(
        seen[0].error_kind or "failed"
        for seen in by_intent.values()
        if seen[0].type != "IntentCompleted"
    )
    if kinds:
        row.notes["failed_by_kind"] = dict(kinds.most_common())
    if lost:
        row.notes["lost_examples"] = [
            f"{r.intent_id} {r.topic}[{r.partition}]@{r.offset}" for r in lost[:5]
        ]
    return row


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence: the smallest value with
    at least q % of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def latencies_ms(
    published: Sequence[Published],
    outcomes: Iterable[OutcomeSeen],
    since: float = float("-inf"),
    until: float = float("inf"),
) -> dict[str, float]:
    """p50/p99/max of submit-to-first-outcome for intents submitted in [since, until)."""
    first: dict[str, float] = {}
    for outcome in outcomes:
        if outcome.intent_id not in first or outcome.arrived_at < first[outcome.intent_id]:
            first[outcome.intent_id] = outcome.arrived_at
    ms = [
        (first[p.intent_id] - p.sent_at) * 1000
        for p in published
        if p.intent_id in first and since <= p.sent_at < until
    ]
    if not ms:
        return {"n": 0}
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1),
    }


def summary(values: Sequence[float]) -> dict[str, float]:
    """median, max and count of some seconds (restart-to-ready, time to exit)."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "median": round(statistics.median(values), 2),
        "max": round(max(values), 2),
    }


COLUMNS = (
    ("scenario", "scenario"),
    ("intents", "intents"),
    ("answered", "answered"),
    ("failed", "failed"),
    ("dead_lettered", "dead-lettered"),
    ("lost", "lost"),
    ("dup_same_id", "dup same id"),
    ("dup_other_id", "dup other id"),
    ("calls_twice", "calls twice"),
    ("exits", "worker exits"),
)


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table, then each scenario's notes."""
    lines = [
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "|".join(" --- " for _ in COLUMNS) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(str(getattr(row, name)) for name, _ in COLUMNS) + " |")
    for row in rows:
        if row.notes:
            lines.append("")
            lines.append(f"{row.scenario}: " + format_notes(row.notes))
    return "\n".join(lines)


def format_notes(notes: Mapping[str, Any]) -> str:
    parts = []
    for key, value in notes.items():
        if isinstance(value, Mapping):
            inner = ", ".join(f"{k} {v}" for k, v in value.items())
            parts.append(f"{key} ({inner})")
        elif isinstance(value, list):
            parts.append(f"{key} [{'; '.join(str(v) for v in value)}]")
        else:
            parts.append(f"{key} {value}")
    return "; ".join(parts)
