"""Per-intent and per-call state of the pipeline, changelog-backed, expiring after a retention.

``planned_intents`` (intent id -> its plan, or why it has none) is written by plan_intents;
``completed_calls`` (call id -> its ToolCallCompleted) by execute_plans.

Every table is keyed by intent id or call id, and each is written only while processing an
event keyed by that intent, so its changelog partition is the event's partition and a restarted
worker recovers exactly its share. Values are dicts stamped by ``keep`` with ``at_s`` and ``p``
(see ``tables.retention``); ``sweeper`` deletes them ``settings.state_retention_s`` after their
last write, which is also how long a redelivered intent or call is recognised.

The tables live in the app's store, ``settings.store`` (RocksDB by default): a restarted worker
reads only the changelog written since it stopped, not everything retained.
"""

from __future__ import annotations

import time
from typing import Any

from faust.streams import current_event
from faust.types import TP

from streams.app import app, settings
from tables.retention import Retained, RetentionSweeper
from tables.store_options import rocksdb_options

# Compaction only cleans closed segments: Kafka's default of 7 days per segment would keep every
# tombstoned key in the changelog for a week. 10 minutes bounds the changelog to about the
# retention's worth of keys, and tombstones are kept 10 minutes for readers that lag.
_CHANGELOG_CONFIGS = {
    "segment.ms": str(10 * 60 * 1000),
    "delete.retention.ms": str(10 * 60 * 1000),
    "min.cleanable.dirty.ratio": "0.1",
}


def _table(name: str, help: str) -> Any:
    return app.Table(
        name,
        key_type=str,
        extra_topic_configs=_CHANGELOG_CONFIGS,
        options=rocksdb_options(),
        help=help,
    )


planned_intents = _table(
    "planned-intents",
    "intent id -> {'plan': PlanCreated} or {'failed': error kind}; replans are re-sends.",
)
completed_calls = _table(
    "completed-calls",
    "call id -> ToolCallCompleted; a redelivered request re-sends it instead of re-running.",
)


def _owns(table: Any, partition: int) -> bool:
    return bool(app.assignor.is_active(TP(table.changelog_topic.get_topic_name(), partition)))


sweeper = RetentionSweeper(_owns)
sweeper.add(Retained(planned_intents, settings.state_retention_s))
sweeper.add(Retained(completed_calls, settings.state_retention_s))


def keep(table: Any, key: str, value: dict[str, Any]) -> None:
    """Write ``value`` under ``key`` while handling a record, stamped for the retention sweep."""
    event = current_event()
    assert event is not None, "workflow tables are written while handling a record"
    stamped = {**value, "at_s": time.time(), "p": event.message.partition}
    table[key] = stamped
    sweeper.note(table, key, stamped)


# Rebalances seen and the last one whose recovered keys were noted: the notes live in memory,
# so after a restart or a rebalance the local stores are scanned once more.
_rebalances = 0
_noted_through = -1


@app.on_rebalance_complete.connect
async def _count_rebalance(sender: Any, /, *args: Any, **kwargs: Any) -> None:
    global _rebalances
    _rebalances += 1


# Every 30 s: a key outlives its retention by at most that (plus the scan after a rebalance).
@app.timer(interval=30.0)  # type: ignore[untyped-decorator]  # faust's decorator is untyped
async def expire_old_state() -> None:
    global _noted_through
    if app.rebalancing:
        return
    seen = _rebalances
    if seen != _noted_through:
        await sweeper.rebuild()
        _noted_through = seen
    await sweeper.sweep(time.time())
