"""Folding batches of execution records into the learning state, and the batching policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from learning import associations, exemplars
from learning.context import context_key
from learning.embedding import TextEncoder, Vectors
from learning.exemplars import ExemplarConfig
from learning.metrics import apply_context_score, apply_metrics, new_context_score, new_metrics
from learning.posterior import PosteriorConfig
from learning.state import LearningState, Record, context_score_key, metrics_key
from models.events import ExecutionRecorded
from models.planning import PLANNER_TOOL
from models.tools import ErrorKind

T = TypeVar("T")


def record_context_key(record: ExecutionRecorded) -> str:
    """The record's context key; derived from its text when the planner left it empty."""
    return record.context_key or context_key(record.intent_text)


def update(
    state: LearningState,
    records: Sequence[ExecutionRecorded],
    config: PosteriorConfig | None = None,
    encoder: TextEncoder | None = None,
    exemplar: ExemplarConfig | None = None,
    embedded: Mapping[str, Vectors] | None = None,
) -> None:
    """Fold ``records`` into ``state`` in order, writing each changed key once.

    With an ``encoder``, the intents are also embedded into each tool's exemplar memory;
    texts found in ``embedded`` (computed ahead, e.g. in a worker thread) are not run again.

    Deduplication by ``event_id`` is the caller's (the learner agent's) job; applying the same
    record twice counts it twice.
    """
    posterior = config or PosteriorConfig()
    # A call its submitter cancelled was stopped by Toolwise, not failed by the tool.
    records = [r for r in records if r.error_kind is not ErrorKind.CANCELLED]
    metrics: dict[str, Record] = {}
    scores: dict[str, Record] = {}
    for record in records:
        m_key = metrics_key(record.tool, record.tool_version)
        current = metrics.get(m_key) or state.tool_metrics.get(m_key)
        base = current if current is not None else new_metrics(record.tool, record.tool_version)
        metrics[m_key] = apply_metrics(base, record, posterior)
        ctx = record_context_key(record)
        s_key = context_score_key(ctx, record.tool)
        score = scores.get(s_key) or state.context_scores.get(s_key)
        base_score = score if score is not None else new_context_score(ctx, record.tool)
        scores[s_key] = apply_context_score(base_score, record, posterior)
    for key, value in metrics.items():
        state.tool_metrics[key] = value
    for key, value in scores.items():
        state.context_scores[key] = value
    # A planner's requests count in the metrics (calls, latency, cost) but say nothing
    # about which tool an intent's words want.
    tool_records = [r for r in records if r.tool != PLANNER_TOOL]
    associations.apply_batch(state.term_tools, tool_records)
    if encoder is not None:
        exemplars.apply_batch(
            state.exemplars, tool_records, encoder, exemplar or ExemplarConfig(), embedded
        )


@dataclass(frozen=True)
class BatchPolicy:
    """When the learner folds what it has: whichever bound is reached first."""

    max_records: int = 500
    """Records per batch: a few hundred amortise the per-key table writes (one changelog
    message per key per batch) while one batch still applies in milliseconds."""

    max_wait_s: float = 1.0
    """Longest a record waits to be learned: recommendations lag outcomes by at most ~1 s."""


@dataclass
class Batcher(Generic[T]):
    """Size- and time-bounded batching without a clock of its own (the caller passes ``now``).

    The learner agent batches Faust events with it (``time.monotonic()``); the benchmarks
    batch records on a simulated clock.
    """

    policy: BatchPolicy = field(default_factory=BatchPolicy)
    _pending: list[T] = field(default_factory=list)
    _opened_at: float | None = None

    def add(self, item: T, now: float) -> list[T] | None:
        """Queue ``item``; return a full or overdue batch to apply, else None."""
        if self._opened_at is None:
            self._opened_at = now
        self._pending.append(item)
        return self.poll(now)

    def poll(self, now: float) -> list[T] | None:
        """The pending batch if it is full or ``max_wait_s`` old, else None."""
        if not self._pending or self._opened_at is None:
            return None
        full = len(self._pending) >= self.policy.max_records
        overdue = now - self._opened_at >= self.policy.max_wait_s
        return self.flush() if full or overdue else None

    def flush(self) -> list[T]:
        """Everything pending, now."""
        batch, self._pending, self._opened_at = self._pending, [], None
        return batch
