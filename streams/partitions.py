"""Offsets of the partitions agents read: what was committed, what is in flight, what is stuck.

Runtime helpers (no patching): ``committed_before`` lets agents pass over records the
group already committed, ``in_flight`` and ``HoleWatchdog`` find partitions that stopped
(see item 4 of ``streams.faust_patches``).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def committed_before(event: Any) -> bool:
    """True if the group has committed past this event: someone processed it."""
    message = event.message
    return is_committed(event.app, message.tp, message.offset)


def is_committed(app: Any, tp: Any, offset: int) -> bool:
    """True if this worker has seen the group commit past ``offset`` of ``tp``."""
    committed = app.consumer._committed_offset.get(tp)
    return committed is not None and offset < committed


# Records whose handling was cancelled (the worker stopping), per partition: left to the next
# owner, so no commit of this process may pass them (faust_patches, item 2).
_held: dict[Any, set[int]] = {}


def hold(tp: Any, offset: int) -> None:
    """No commit of this process reaches past ``offset`` of ``tp`` (until ``release``)."""
    _held.setdefault(tp, set()).add(offset)


def release(tp: Any, offset: int) -> None:
    """The held record is being handled again here: its own ack decides its commit."""
    offsets = _held.get(tp)
    if offsets is not None:
        offsets.discard(offset)
        if not offsets:
            del _held[tp]


def held_up_to(tp: Any, offset: int) -> bool:
    """Whether a record of ``tp`` at or below ``offset`` is held."""
    return any(held <= offset for held in _held.get(tp, ()))


def in_flight_below(consumer: Any, tp: Any, offset: int) -> bool:
    """Whether a record of ``tp`` below ``offset`` was handed to an agent and is not acked."""
    return any(
        m.tp == tp and not m.acked and m.offset < offset
        for m in list(getattr(consumer, "_unacked_messages", ()))
    )


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
