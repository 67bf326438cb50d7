"""The learned-state table: changelog-backed, written only by the learner agent.

Layout and views: tables.learned. Every worker also reads the whole table
(all partitions) through a ChangelogReplica, since planners on any worker
rank every tool.
"""

from __future__ import annotations

from typing import Any

from streams.app import app, settings

learned_state = app.Table(
    "learned-state",
    key_type=str,
    # In memory whatever the app's store: every worker rebuilds the whole learned state from
    # its changelog anyway (tables.replica), and the learner writes keys to the partition of
    # the records they were learned from, which Faust's RocksDB store does not support. (The
    # host part makes the URL count as set: Faust ignores a table store URL with no host.)
    store="memory://learned-state",
    # Compaction cleans only closed segments, and Kafka's default segment is 7 days: every
    # batch rewrites its tools' exemplar memory (up to ~130 KB each, learning.exemplars), so
    # the changelog every start reads whole grew with every batch (measured: a restart after
    # 20,000 intents read ~2,700 records for a handful of keys, ~16 s of recovery). With
    # one-minute segments a start reads about the keys plus the last minute or two of writes.
    extra_topic_configs={
        "segment.ms": str(60 * 1000),
        "min.cleanable.dirty.ratio": "0.1",
    },
    help="Learned tool metrics, context scores and word-tool counts, per generation.",
)


def changelog_topic_name() -> str:
    return f"{settings.app_id}-learned-state-changelog"


def write(partition: int, raw_key: str, value: Any) -> None:
    """Write one key to the local store and to changelog ``partition``.

    The learner works on batches that span partitions, so Faust's "the
    current event's partition" is not the right one; each key goes to the
    partition of the executions it was learned from.
    """
    learned_state.data[raw_key] = value
    learned_state.send_changelog(partition, raw_key, value)


def read_local(raw_key: str) -> Any:
    return learned_state.data.get(raw_key)
