"""Fixes to the pinned faust-streaming 0.15.3 / aiokafka, and a watchdog.

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
   of being lost.

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
"""

from __future__ import annotations

import logging
from typing import Any

import aiokafka.consumer.fetcher as _aiokafka_fetcher
from aiokafka import TopicPartition
from faust.transport.consumer import Consumer
from faust.transport.drivers import aiokafka as _faust_aiokafka
from mode.utils.queues import FlowControlEvent


def _resume_without_clearing(self: FlowControlEvent) -> None:
    self._suspend.clear()
    self._resume.set()


def committed_before(event: Any) -> bool:
    """True if the group has committed past this event: someone processed it."""
    message = event.message
    committed = event.app.consumer._committed_offset.get(message.tp)
    return committed is not None and message.offset < committed


_new_offset = Consumer._new_offset


def _new_offset_without_holes(self: Any, tp: Any) -> int | None:
    acked = self._acked[tp]
    committed = self._committed_offset[tp]
    if acked and committed is not None and not self._gap[tp] and min(acked) > committed:
        return None
    return _new_offset(self, tp)


log = logging.getLogger(__name__)


def in_flight(consumer: Any) -> dict[Any, list[int]]:
    """Offsets handed to an agent and not yet acked, per partition."""
    found: dict[Any, list[int]] = {}
    for message in list(consumer._unacked_messages):
        if not message.acked:
            found.setdefault(message.tp, []).append(message.offset)
    return found


def is_stream_partition(app: Any, tp: Any) -> bool:
    """A partition an agent reads and commits (not a table changelog, not Faust's own)."""
    return tp.topic not in app.tables.changelog_topics and app.topics.acks_enabled_for(tp.topic)


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


class HoleWatchdog:
    """Read a stream partition again from its committed offset once it is stuck.

    Stuck: the log holds messages past the committed offset (or, with no
    commit yet, any message), no agent has a message waiting in its queue,
    none of the partition's messages is being processed, and the committed,
    acked and read offsets have not moved for ``checks`` checks in a row.
    The partition is then resumed (in case Faust left it paused) and sought
    to the committed offset, or to the log start if nothing was committed.
    """

    def __init__(self, app: Any, checks: int = 3) -> None:
        self.app = app
        self.checks = checks
        self.reread = 0
        self._seen: dict[Any, tuple[tuple[Any, ...], int]] = {}

    async def check(self) -> None:
        app = self.app
        consumer = app.consumer
        queued = any(q.qsize() for q in list(app.flow_control._queues))
        if app.rebalancing or not app.flow_control.is_active() or queued:
            self._seen.clear()
            return
        busy = in_flight(consumer)
        candidates = [
            tp for tp in consumer.assignment() if is_stream_partition(app, tp) and tp not in busy
        ]
        ends = await consumer.highwaters(*candidates) if candidates else {}
        for tp in set(self._seen) - set(candidates):
            del self._seen[tp]
        for tp in candidates:
            committed = consumer._committed_offset.get(tp)
            end = ends.get(tp)
            if end is None or end <= (committed or 0):
                self._seen.pop(tp, None)
                continue
            snapshot = (committed, len(consumer._acked.get(tp, ())), consumer._read_offset.get(tp))
            previous, count = self._seen.get(tp, (None, 0))
            count = count + 1 if previous == snapshot else 1
            if count < self.checks:
                self._seen[tp] = (snapshot, count)
                continue
            del self._seen[tp]
            if committed is None:
                committed = (await consumer.earliest_offsets(tp)).get(tp) or 0
            self.reread += 1
            log.warning(
                "%s[%d]: stuck at offset %d (log end %d); reading again from it",
                tp.topic,
                tp.partition,
                committed,
                end,
            )
            consumer.resume_partitions({tp})
            await consumer.seek(tp, committed)


_fetcher_init = _aiokafka_fetcher.Fetcher.__init__


def _fetcher_init_short_backoff(self: object, *args: object, **kwargs: object) -> None:
    kwargs.setdefault("prefetch_backoff", 0.005)
    _fetcher_init(self, *args, **kwargs)


FlowControlEvent.resume = _resume_without_clearing  # type: ignore[method-assign]
Consumer._new_offset = _new_offset_without_holes  # type: ignore[method-assign]
_faust_aiokafka.Consumer.seek_to_committed = _seek_to_committed_or_beginning  # type: ignore[method-assign]
_faust_aiokafka.AIOKafkaConsumerThread.verify_event_path = _verify_event_path_with_position  # type: ignore[method-assign]
_aiokafka_fetcher.Fetcher.__init__ = _fetcher_init_short_backoff
