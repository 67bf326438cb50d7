"""Patches to the pinned faust-streaming 0.15.3 / aiokafka, applied by ``apply()``.

The watchdog of item 4 and the offset helpers live in ``streams.partitions``.

Each one was found by tracing a real run (offsets fetched, delivered, acked
and committed, per worker) and each is pinned to the versions in
pyproject.toml; re-check them when upgrading Faust.

1. Recovery clears agent queues *after* it resumes the stream partitions.
   After a rebalance, Faust's ``Recovery`` resumes the stream partitions,
   seeks them to the committed offsets, and only then calls
   ``flow_control.resume()``, which clears every agent's inbound queue. The
   messages the fetcher delivered in between are thrown away, and the
   seek does not bring them back: the fetcher's read offset is already past
   them. Traced: a worker taking over after a restart delivered intents at
   partition 0 offset 7 and partition 1 offset 5 into the queue, "resume"
   cleared 2 queued messages, and neither intent was ever planned.
   Messages of an older consumer generation are still dropped, by the
   generation check every stream applies to each event, so not clearing
   on resume loses nothing that should be kept. What the queues now also
   keep are messages fetched before the seek from wherever aiokafka stood
   (traced: offset 0 of every partition on a fresh worker), which were
   committed long ago; ``committed_before`` lets the agents pass over those.

2. The committer passes a one-message hole. ``Consumer._new_offset`` refuses
   to commit past a hole only if the first acked offset is *more than one*
   above the committed offset; but the committed offset is the next offset
   to read, so one above it already means one message was never acked.
   That turned the skipped message of (1) into a committed, lost one. Now
   any hole holds the commit back, so a message that is skipped for any
   other reason is read again after the next rebalance or restart instead
   of being lost. Two holes Faust cannot see are held too: in a partition
   the group never committed, Faust skips the head check altogether, and
   committed past tool calls still running below the first acked offset
   (the executor runs 16 at once); and a record whose handling was cancelled
   when the worker stopped is acked by Faust's stream anyway (in a
   ``finally``), so the boundary holds it (``streams.partitions.hold``) and
   this process commits nothing at or past it: the next owner handles it.

3. aiokafka's prefetch backoff. Faust pauses table changelog partitions only
   in its own bookkeeping, not in aiokafka, so a changelog's first record
   sits unread in aiokafka's buffer and every fetch from that broker then
   waits aiokafka's hard-coded 100 ms prefetch backoff: a fresh worker lost
   100-300 ms on its first intents (measured: 116-315 ms per intent, then
   19-31 ms with a 5 ms backoff). AIOKafkaConsumer does not expose the knob,
   so the Fetcher default is set here.

4. ``HoleWatchdog``, a safety net: with (2), a message that never reached
   an agent holds its partition's commit back instead of being lost, but
   nothing reads it again until the next rebalance. The watchdog finds
   partitions whose offsets have stood still with nothing of theirs queued
   or in flight while the log holds more, resumes them and seeks them back
   to the committed offset. Before (5) it fired in nearly every two-worker
   run (partitions never read after a rebalance: that was (5)); with (5) it
   did not fire in 49 loop runs (36 two-worker, 13 restart). Re-reading is
   safe: every handler is idempotent by event id, and the learner reads
   out-of-order stretches from the topic.

5. A partition with no committed offset is not sought at all. After every
   rebalance Faust seeks its stream partitions with aiokafka's
   ``seek_to_committed``, which seeks only where the committed offset is
   above 0; a partition the group never committed stays wherever the
   fetcher stood. Records the fetcher had already taken for it and Faust
   then threw away (a batch cut short by the rebalance, or fetched while
   Faust had the partition paused) are never read. Traced: a worker ran
   tool calls 0 and 1 of a partition, was revoked before its first commit,
   got the partition back, and its first record after the seek was offset
   10; calls 2-9 never ran, and committing 11 then hid them from (4). Now
   such partitions are sought to the log start, which is what the
   ``earliest`` offset-reset policy promises.

6. Faust's livelock detector crashes the worker on a partition without a
   position. Every few seconds it reads each assigned partition's aiokafka
   ``position``, meaning to skip ``None``; but that property *asserts* a
   position is set, and it is not while a partition's offset is being
   looked up or reset. Seen once, in a CI run with one core kept busy: the
   worker died with ``assert self._position is not None``. The check now
   skips such partitions, as it meant to.

7. A stop signal has no early hook. mode's worker turns SIGTERM into ``stop()``, and Faust's
   first step of stopping waits for every record in flight (``stream_wait_empty``) before
   any app signal is sent; a tool call that takes minutes held a stop for minutes.
   ``on_stop_signal(callback)`` runs ``callback`` the moment the signal is handled, before
   any of that (the worker starts its exit timer there).

8. The table manager sleeps a second before it starts. ``TableManager.on_start`` waits 1 s
   so that tables declared late can still register, then freezes the set. Every Toolwise
   table is declared when its module is imported (``interfaces.worker.register_agents``,
   before the worker starts), so that second only delayed every start and restart (seen in
   each worker log: "Waiting for tables to be registered" then the tables 1.0 s later).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiokafka.consumer.fetcher as _aiokafka_fetcher
from aiokafka import TopicPartition
from faust.tables.manager import TableManager
from faust.transport.consumer import Consumer
from faust.transport.drivers import aiokafka as _faust_aiokafka
from mode.utils.queues import FlowControlEvent
from mode.worker import Worker as _ModeWorker

from streams.partitions import held_up_to, in_flight_below, is_stream_partition

__all__ = ["apply", "on_stop_signal"]


def _resume_without_clearing(self: FlowControlEvent) -> None:
    self._suspend.clear()
    self._resume.set()


_new_offset = Consumer._new_offset


def _new_offset_without_holes(self: Any, tp: Any) -> int | None:
    acked = self._acked[tp]
    if acked:
        committed = self._committed_offset[tp]
        lowest = min(acked)
        if not self._gap[tp]:
            if committed is not None and lowest > committed:
                return None
            if committed is None and in_flight_below(self, tp, lowest):
                return None  # a partition never committed: its head is still being handled
        if held_up_to(tp, max(acked)):
            return None
    return _new_offset(self, tp)


_seek_to_committed = _faust_aiokafka.Consumer.seek_to_committed
_verify_event_path = _faust_aiokafka.AIOKafkaConsumerThread.verify_event_path


def _verify_event_path_with_position(self: Any, now: float, tp: Any) -> None:
    consumer = self._consumer
    if consumer is not None:
        assignment = consumer._fetcher._subscriptions.subscription.assignment
        state = (
            assignment.state_value(TopicPartition(tp.topic, tp.partition)) if assignment else None
        )
        if state is None or not state.has_valid_position:
            return None
    return _verify_event_path(self, now, tp)


async def _seek_to_committed_or_beginning(self: Any) -> Any:
    committed = await _seek_to_committed(self)
    fresh = [
        tp for tp, offset in committed.items() if not offset and is_stream_partition(self.app, tp)
    ]
    if fresh:
        # An explicit seek, not aiokafka's seek_to_beginning: that leaves the
        # position unset until the reset completes in the consumer thread, and
        # Faust's livelock detector, reading positions meanwhile, crashes on it.
        earliest = await self._thread.earliest_offsets(*fresh)
        await self._thread.seek_wait({tp: earliest.get(tp) or 0 for tp in fresh})
    return committed


_fetcher_init = _aiokafka_fetcher.Fetcher.__init__


def _fetcher_init_short_backoff(self: object, *args: object, **kwargs: object) -> None:
    kwargs.setdefault("prefetch_backoff", 0.005)
    _fetcher_init(self, *args, **kwargs)


_stop_signal_callbacks: list[Callable[[], None]] = []


def on_stop_signal(callback: Callable[[], None]) -> None:
    """Call ``callback()`` as soon as the worker handles SIGTERM or SIGINT (item 7)."""
    _stop_signal_callbacks.append(callback)


_schedule_shutdown = _ModeWorker._schedule_shutdown


def _schedule_shutdown_with_hooks(self: Any, signal: Any) -> None:
    if not self._signal_stop_time:
        for callback in _stop_signal_callbacks:
            callback()
    _schedule_shutdown(self, signal)


async def _table_manager_on_start_at_once(self: Any) -> None:
    # TableManager.on_start of faust-streaming 0.15.3 without its `await self.sleep(1.0)`.
    if not self.should_stop:
        await self._update_channels()
        await self.recovery.start()


_applied = False


def apply() -> None:
    """Patch Faust and aiokafka in place; idempotent. ``streams.app`` calls it before the app."""
    global _applied
    if _applied:
        return
    _applied = True
    FlowControlEvent.resume = _resume_without_clearing  # type: ignore[method-assign]
    Consumer._new_offset = _new_offset_without_holes  # type: ignore[method-assign]
    _faust_aiokafka.Consumer.seek_to_committed = _seek_to_committed_or_beginning  # type: ignore[method-assign]
    _faust_aiokafka.AIOKafkaConsumerThread.verify_event_path = _verify_event_path_with_position  # type: ignore[method-assign]
    _aiokafka_fetcher.Fetcher.__init__ = _fetcher_init_short_backoff
    _ModeWorker._schedule_shutdown = _schedule_shutdown_with_hooks  # type: ignore[method-assign]
    TableManager.on_start = _table_manager_on_start_at_once  # type: ignore[method-assign]
