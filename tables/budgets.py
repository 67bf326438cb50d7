"""Daily spend per scope, in Faust windowed tables (tumbling windows of one budget day).

``budget_spend``: scope key -> its day's tally (spent, reserved, calls, alerted).
``budget_calls``: '<scope key>|<call id>' -> what that key holds or charged for the call, so a
command read twice does nothing twice.

Both are written only by ``keep-budgets`` while it handles a ledger record keyed by the scope
key, so each key lives in that record's partition and one worker owns each scope; a restarted
or newly assigned worker recovers its keys from the changelogs. Timestamps are shifted to the
budget time zone (``agents.budget_windows``) and always given explicitly (``at``), never taken
from ``.now()``: right after a restart it can point at the 1970 window.

Expiry: Faust's own window expiry runs on wall-clock time and is not rebuilt after recovery,
so it is off (no ``expires``); instead every value carries ``at_s`` (its window's end, Unix
time) and ``p`` and the workflow tables' retention sweep (``tables.retention``) deletes it, with
a tombstone, ``settings.budget_window_s`` after its day ended: today and yesterday are kept.
"""

from __future__ import annotations

from typing import Any

from faust.streams import current_event

from streams.app import app, settings
from tables.retention import Retained
from tables.store_options import rocksdb_options
from tables.workflow import sweeper

# As the workflow tables: compacted changelog segments of 10 minutes, so swept keys leave the
# changelog too.
_CHANGELOG_CONFIGS = {
    "segment.ms": str(10 * 60 * 1000),
    "delete.retention.ms": str(10 * 60 * 1000),
    "min.cleanable.dirty.ratio": "0.1",
}

_spend = app.Table(
    "budget-spend",
    key_type=str,
    # A handful of keys per scope and day: kept in memory, rebuilt from the changelog at start.
    store="memory://budget-spend",
    extra_topic_configs=_CHANGELOG_CONFIGS,
    help="[scope key, day] -> {spent, reserved, calls, alerted}; global is sharded.",
)
_calls = app.Table(
    "budget-calls",
    key_type=str,
    extra_topic_configs=_CHANGELOG_CONFIGS,
    options=rocksdb_options(),
    help="['<scope key>|<call id>', day] -> {state, held, passed_on, charged}.",
)

budget_spend = _spend.tumbling(settings.budget_window_s)
budget_calls = _calls.tumbling(settings.budget_window_s)

sweeper.add(Retained(_spend, float(settings.budget_window_s)))
sweeper.add(Retained(_calls, float(settings.budget_window_s)))


def read(windowed: Any, key: str, shifted_at: float) -> dict[str, Any] | None:
    """The value of ``key`` in the window of ``shifted_at`` (None: nothing there yet)."""
    try:
        value = windowed.relative_to(shifted_at)[key].value()
    except KeyError:
        return None
    return value if isinstance(value, dict) else None


def write(
    windowed: Any, key: str, shifted_at: float, value: dict[str, Any], ends_at: float
) -> None:
    """Set ``key`` in the window of ``shifted_at`` while handling a record; the value expires
    ``settings.budget_window_s`` after ``ends_at`` (its window's end, Unix time)."""
    event = current_event()
    assert event is not None, "budget tables are written while handling a ledger record"
    stamped = {**value, "at_s": ends_at, "p": event.message.partition}
    windowed.relative_to(shifted_at)[key] = stamped
    window_key = (key, windowed.table.window.current(shifted_at))
    sweeper.note(windowed.table, window_key, stamped)


def spend_changelog_topic(app_id: str) -> str:
    """The spend table's changelog, for readers outside the keeper (views, the CLI)."""
    return f"{app_id}-budget-spend-changelog"
