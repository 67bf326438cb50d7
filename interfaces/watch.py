"""What the web port knows of recent intents, and the callers waiting for one.

Fed by ``interfaces.feed`` with every event of every partition, so a caller that submitted an
intent through this worker hears its plan, progress and outcome whichever worker ran it. Held
in memory and bounded (``IndexPolicy``): it answers for recent intents; the topics are the
record of everything.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from models import (
    CancellationRequested,
    Event,
    ExecutionRecorded,
    IntentCompleted,
    IntentFailed,
    IntentSubmitted,
    PlanCreated,
    ToolCallCompleted,
    ToolCallProgressed,
)

Outcome = IntentCompleted | IntentFailed
IntentEvent = (
    IntentSubmitted
    | PlanCreated
    | ToolCallProgressed
    | ToolCallCompleted
    | ExecutionRecorded
    | CancellationRequested
    | IntentCompleted
    | IntentFailed
)


@dataclass(frozen=True)
class IndexPolicy:
    """How much of the recent past the index keeps."""

    max_intents: int = 2000
    """Intents answered from memory (``settings.intent_index_size``)."""

    max_bytes: int = 64 * 1024 * 1024
    """Their events' JSON together: a few large outputs must not grow the worker without end.
    64 MiB holds 2,000 intents of 32 KiB each."""

    max_attempts: int = 50
    """Attempts kept per intent: a plan of 16 steps with retries and fallbacks fits."""

    waiter_queue: int = 1000
    """Events buffered for one slow waiter; progress beyond it is dropped (the outcome never)."""


@dataclass
class IntentRecord:
    """One intent as seen on the topics, each event as its JSON dict."""

    intent_id: str
    first_seen: float
    intent: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)  # call id -> completion
    attempts: list[dict[str, Any]] = field(default_factory=list)
    progress: dict[str, dict[str, Any]] = field(default_factory=dict)  # call id -> latest
    cancellation: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None
    size: int = 0

    def status(self) -> str:
        if self.outcome is not None:
            if self.outcome["type"] == "IntentCompleted":
                return "completed"
            return "cancelled" if self.outcome.get("error_kind") == "cancelled" else "failed"
        if self.cancellation is not None:
            return "cancelling"
        if self.steps or self.attempts or self.progress:
            return "running"
        return "planned" if self.plan is not None else "submitted"

    def view(self) -> dict[str, Any]:
        """GET /api/intents/<id>: the intent, its plan, every attempt and its outcome."""
        return {
            "intent_id": self.intent_id,
            "status": self.status(),
            "intent": self.intent,
            "plan": self.plan,
            "steps": list(self.steps.values()),
            "attempts": self.attempts,
            "progress": list(self.progress.values()),
            "cancellation": self.cancellation,
            "outcome": self.outcome,
        }


class IntentWatch:
    """Recent intents by id, and per-intent subscriptions to their events."""

    def __init__(self, policy: IndexPolicy | None = None) -> None:
        self.policy = policy or IndexPolicy()
        self._index: OrderedDict[str, IntentRecord] = OrderedDict()
        self._bytes = 0
        self._subscribers: dict[str, set[asyncio.Queue[IntentEvent]]] = {}

    def observe(self, event: IntentEvent, size: int) -> IntentRecord:
        """Fold one event (``size``: its bytes on the topic) in and tell those waiting."""
        record = self._index.get(event.intent_id)
        if record is None:
            record = IntentRecord(event.intent_id, time.time())
            self._index[event.intent_id] = record
        _fold(record, event, self.policy.max_attempts)
        record.size += size
        self._bytes += size
        self._evict()
        for queue in self._subscribers.get(event.intent_id, ()):
            _offer(queue, event)
        return record

    def get(self, intent_id: str) -> IntentRecord | None:
        return self._index.get(intent_id)

    def recent(self, n: int) -> list[IntentRecord]:
        """The ``n`` intents seen most recently first seen, newest first."""
        out: list[IntentRecord] = []
        for record in reversed(self._index.values()):
            out.append(record)
            if len(out) == n:
                break
        return out

    def __len__(self) -> int:
        return len(self._index)

    @contextmanager
    def subscription(self, intent_id: str) -> Iterator[asyncio.Queue[IntentEvent]]:
        """Events of ``intent_id`` from now on; subscribe *before* publishing the intent."""
        queue: asyncio.Queue[IntentEvent] = asyncio.Queue(self.policy.waiter_queue)
        self._subscribers.setdefault(intent_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._subscribers.get(intent_id, set())
            queues.discard(queue)
            if not queues:
                self._subscribers.pop(intent_id, None)

    async def events(
        self, queue: asyncio.Queue[IntentEvent], intent_id: str, timeout_s: float
    ) -> AsyncIterator[IntentEvent]:
        """What ``queue`` receives until the outcome (included) or ``timeout_s``.

        An outcome already in the index (the intent finished before the caller asked) is
        yielded at once.
        """
        known = self._index.get(intent_id)
        if known is not None and known.outcome is not None:
            yield _outcome_of(known.outcome)
            return
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            try:
                event = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                return
            yield event
            if isinstance(event, IntentCompleted | IntentFailed):
                return

    async def outcome(self, intent_id: str, timeout_s: float) -> Outcome | None:
        """The intent's outcome within ``timeout_s``, or None."""
        with self.subscription(intent_id) as queue:
            async for event in self.events(queue, intent_id, timeout_s):
                if isinstance(event, IntentCompleted | IntentFailed):
                    return event
        return None

    def _evict(self) -> None:
        while self._index and (
            len(self._index) > self.policy.max_intents or self._bytes > self.policy.max_bytes
        ):
            _, oldest = self._index.popitem(last=False)
            self._bytes -= oldest.size


def _fold(record: IntentRecord, event: IntentEvent, max_attempts: int) -> None:
    data = event.model_dump(mode="json")
    if isinstance(event, IntentSubmitted):
        # Inline content is bytes in base64: the index keeps what it was, not the bytes.
        data["content"] = [
            {k: v for k, v in part.items() if k != "data"} for part in data.get("content", [])
        ]
        record.intent = data
    elif isinstance(event, PlanCreated):
        record.plan = data
    elif isinstance(event, ToolCallProgressed):
        record.progress[event.call_id] = data
    elif isinstance(event, ToolCallCompleted):
        record.steps[event.call_id] = data
    elif isinstance(event, ExecutionRecorded):
        if len(record.attempts) < max_attempts:
            record.attempts.append(data)
    elif isinstance(event, CancellationRequested):
        record.cancellation = data
    elif record.outcome is None:  # the first outcome counts; a re-sent one has the same id
        record.outcome = data


def _outcome_of(data: dict[str, Any]) -> Outcome:
    if data["type"] == "IntentCompleted":
        return IntentCompleted.model_validate(data)
    return IntentFailed.model_validate(data)


def _offer(queue: asyncio.Queue[IntentEvent], event: IntentEvent) -> None:
    try:
        queue.put_nowait(event)
    except asyncio.QueueFull:
        if isinstance(event, IntentCompleted | IntentFailed):
            queue.get_nowait()  # drop the oldest progress; the outcome must get through
            queue.put_nowait(event)


def is_intent_event(event: Event) -> bool:
    return isinstance(
        event,
        IntentSubmitted
        | PlanCreated
        | ToolCallProgressed
        | ToolCallCompleted
        | ExecutionRecorded
        | CancellationRequested
        | IntentCompleted
        | IntentFailed,
    )
