"""Experiment statistics, session state and the session model, changelog-backed.

Statistics, sessions and the session model are small and kept in memory whatever the app's
store (rebuilt from their changelogs at start; the host part of the URL makes Faust honour
it): the pre-warm agent also writes them outside a record's processing (a finished pre-warm
call, an idle session's end), with the partition given explicitly (:func:`write`), which
Faust's RocksDB store does not support.

Per-intent and per-session values expire like the workflow tables' (``tables.workflow.keep``
stamps them, its sweeper deletes them after ``settings.state_retention_s``); statistics and
the session model are kept.

Every key written while processing a partition's event names that partition (``p<N>|...``)
or the event's own key, so each key lives in exactly one changelog partition and a
restarted worker recovers exactly its share. Statistics of one variant are therefore kept
per partition and merged on read (Welford moments merge exactly).
"""

from __future__ import annotations

from typing import Any

from streams.app import app, settings
from tables.retention import Retained
from tables.store_options import rocksdb_options
from tables.workflow import sweeper

# Like the workflow tables (tables.workflow): compacted changelog segments of 10 minutes, so
# swept keys leave the changelog too.
_CHANGELOG_CONFIGS = {
    "segment.ms": str(10 * 60 * 1000),
    "delete.retention.ms": str(10 * 60 * 1000),
    "min.cleanable.dirty.ratio": "0.1",
}
# A plan still waiting for its step results is kept a day, as the completer keeps it.
_OPEN_RETENTION_S = 24 * 3600.0

experiment_intents = app.Table(
    "experiment-intents",
    key_type=str,
    extra_topic_configs=_CHANGELOG_CONFIGS,
    options=rocksdb_options(),
    help="intent id -> its plan until its outcome is counted, then a marker; written with "
    "tables.workflow.keep and swept after settings.state_retention_s.",
)

experiment_stats = app.Table(
    "experiment-stats",
    key_type=str,
    store="memory://experiment-stats",
    help="'<experiment>|<variant>|p<partition>' -> {assigned, metrics: {metric: [n, mean, m2]}}.",
)

session_state = app.Table(
    "session-state",
    key_type=str,
    store="memory://session-state",
    extra_topic_configs=_CHANGELOG_CONFIGS,
    help="session -> its last intent, the predicted next class and what was pre-warmed for it; "
    "a session idle for settings.state_retention_s is forgotten.",
)

session_model = app.Table(
    "session-model",
    key_type=str,
    store="memory://session-model",
    help="'p<partition>|<class>' -> next-class, tool and argument counts (learning.sessions).",
)

prewarm_stats = app.Table(
    "prewarm-stats",
    key_type=str,
    store="memory://prewarm-stats",
    help="'p<partition>' -> transitions, predictions, correct ones, pre-warm calls and hits.",
)

sweeper.add(
    Retained(
        experiment_intents,
        settings.state_retention_s,
        open_retention_s=max(settings.state_retention_s, _OPEN_RETENTION_S),
        is_open=lambda value: not value.get("done") and not value.get("skip"),
    )
)
sweeper.add(Retained(session_state, settings.state_retention_s))


def changelog_topic_names(app_id: str) -> dict[str, str]:
    """Changelog topic of each table, for readers outside the worker (toolwise experiment show)."""
    return {
        name: f"{app_id}-{name}-changelog"
        for name in ("experiment-stats", "prewarm-stats", "session-model")
    }


def partition_key(partition: int, key: str) -> str:
    return f"p{partition}|{key}"


def write(table: Any, partition: int, key: str, value: Any) -> None:
    """Write ``key`` to a memory-stored table and to its changelog ``partition``."""
    table.data[key] = value
    table.send_changelog(partition, key, value)
