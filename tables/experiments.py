"""Experiment statistics, session state and the session model, changelog-backed.

Every key written while processing a partition's event names that partition (``p<N>|...``)
or the event's own key, so each key lives in exactly one changelog partition and a
restarted worker recovers exactly its share. Statistics of one variant are therefore kept
per partition and merged on read (Welford moments merge exactly).
"""

from __future__ import annotations

from streams.app import app

experiment_intents = app.Table(
    "experiment-intents",
    key_type=str,
    help="intent id -> its plan's experiment, variant and session until its outcome is counted.",
)

experiment_stats = app.Table(
    "experiment-stats",
    key_type=str,
    help="'<experiment>|<variant>|p<partition>' -> {assigned, metrics: {metric: [n, mean, m2]}}.",
)

session_state = app.Table(
    "session-state",
    key_type=str,
    help="session -> its last intent, the predicted next class and what was pre-warmed for it.",
)

session_model = app.Table(
    "session-model",
    key_type=str,
    help="'p<partition>|<class>' -> next-class, tool and argument counts (learning.sessions).",
)

prewarm_stats = app.Table(
    "prewarm-stats",
    key_type=str,
    help="'p<partition>' -> transitions, predictions, correct ones, pre-warm calls and hits.",
)


def changelog_topic_names(app_id: str) -> dict[str, str]:
    """Changelog topic of each table, for readers outside the worker (toolwise experiment show)."""
    return {
        name: f"{app_id}-{name}-changelog"
        for name in ("experiment-stats", "prewarm-stats", "session-model")
    }


def partition_key(partition: int, key: str) -> str:
    return f"p{partition}|{key}"
