"""Which intents their submitters cancelled, and the running tool calls to stop when they do.

Every worker reads the whole ``cancellations`` topic (``agents.runtime`` follows it without a
consumer group), so whichever worker runs an intent's steps learns of its cancellation within
milliseconds. The book is pure bookkeeping: the step runner asks it before each attempt and
runs each attempt through ``call``, which stops the attempt when a cancellation arrives.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from models import CallResult, ErrorKind


@dataclass(frozen=True)
class CancellationPolicy:
    """How long and how many cancellations a worker remembers."""

    keep_s: float = 3600.0
    """A cancellation is remembered this long: the window in which a redelivered intent or plan
    is still recognised (``settings.state_retention_s``), after which it cannot run again."""

    max_entries: int = 100_000
    """At most this many remembered at once (about 10 MB); the oldest are forgotten first."""


@dataclass
class Cancellations:
    policy: CancellationPolicy = field(default_factory=CancellationPolicy)
    clock: Callable[[], float] = time.monotonic
    _reasons: OrderedDict[str, tuple[float, str]] = field(default_factory=OrderedDict)
    _running: dict[str, set[asyncio.Task[CallResult]]] = field(default_factory=dict)

    def cancel(self, intent_id: str, reason: str) -> int:
        """Remember the cancellation and stop the intent's running calls; returns how many."""
        now = self.clock()
        self._reasons[intent_id] = (now, reason)
        self._reasons.move_to_end(intent_id)
        self._forget_old(now)
        running = self._running.get(intent_id, set())
        for task in running:
            task.cancel()
        return len(running)

    def reason(self, intent_id: str) -> str | None:
        """Why the intent was cancelled, or None if it was not (or too long ago)."""
        entry = self._reasons.get(intent_id)
        if entry is None or self.clock() - entry[0] > self.policy.keep_s:
            return None
        return entry[1]

    async def call(
        self, intent_id: str, make_call: Callable[[], Awaitable[CallResult]]
    ) -> CallResult:
        """``make_call()``, unless the intent is cancelled before it starts or while it runs."""
        reason = self.reason(intent_id)
        if reason is not None:
            return cancelled_result(reason)

        async def run() -> CallResult:
            return await make_call()

        task = asyncio.ensure_future(run())
        running = self._running.setdefault(intent_id, set())
        running.add(task)
        try:
            return await task  # a caller cancelled (the worker stops) cancels the task too
        except asyncio.CancelledError:
            if task.cancelled() and not _cancelling(asyncio.current_task()):
                return cancelled_result(self.reason(intent_id) or "cancelled")
            raise
        finally:
            running.discard(task)
            if not running:
                self._running.pop(intent_id, None)

    def running(self, intent_id: str) -> int:
        return len(self._running.get(intent_id, ()))

    def _forget_old(self, now: float) -> None:
        while self._reasons:
            oldest, (at, _) = next(iter(self._reasons.items()))
            if now - at <= self.policy.keep_s and len(self._reasons) <= self.policy.max_entries:
                return
            del self._reasons[oldest]


def cancelled_result(reason: str) -> CallResult:
    return CallResult(ok=False, error_kind=ErrorKind.CANCELLED, error=reason)


def _cancelling(task: asyncio.Task[object] | None) -> bool:
    return task is not None and task.cancelling() > 0
