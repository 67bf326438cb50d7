"""Per-intent state expires: each key is deleted, with a tombstone, a while after its last write.

Plans, call results and intent progress are kept so that a redelivered intent or call is
recognised and answered the same way. Kept forever they grew by 5-7 KB of memory and 1.5 KB of
changelog per intent, and a worker restarted after 20,000 intents needed 43 s to be ready.

Values are dicts that carry ``at_s`` (when they were written) and ``p`` (the changelog partition
they were written to: the partition of the record being processed, which for a call's result is
the partition of its intent, not of its own key). Each write is noted with the time it expires.
``sweep`` deletes what is due (a heap ordered by expiry), but only keys of changelog
partitions this worker owns (another worker writes the rest), and only if the key was not
written again since (its stored ``at_s`` says when). A deletion sends a tombstone, so the
compacted changelog forgets the key too. After a restart or a rebalance the notes are rebuilt
by one scan of the local store (``rebuild``), since they live in memory.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# Keys examined per step of a rebuild scan or a sweep before yielding to the event loop.
_CHUNK = 1000


@dataclass
class Retained:
    """One table's retention: how long after ``value["at_s"]`` a key lives."""

    table: Any  # a faust Table whose values are dicts with "at_s" (Unix seconds)
    retention_s: float
    # Keys whose value says they are still open (an intent waiting for results) live longer.
    open_retention_s: float | None = None
    is_open: Callable[[dict[str, Any]], bool] = lambda _value: False
    queue: list[tuple[float, Any, int]] = field(default_factory=list)  # a heap
    deleted: int = 0

    def lifetime(self, value: dict[str, Any]) -> float:
        if self.open_retention_s is not None and self.is_open(value):
            return self.open_retention_s
        return self.retention_s


class RetentionSweeper:
    def __init__(self, owns: Callable[[Any, int], bool]) -> None:
        """``owns(table, partition)``: whether this worker writes that changelog partition."""
        self._owns = owns
        self._tables: dict[str, Retained] = {}

    def add(self, retained: Retained) -> None:
        self._tables[retained.table.name] = retained

    def note(self, table: Any, key: Any, value: dict[str, Any]) -> None:
        retained = self._tables[table.name]
        expires = float(value["at_s"]) + retained.lifetime(value)
        heapq.heappush(retained.queue, (expires, key, int(value["p"])))

    async def rebuild(self) -> int:
        """Note every key found in the local stores (after a restart); returns how many."""
        noted = 0
        for retained in self._tables.values():
            data = retained.table.data
            found: list[tuple[float, Any, int]] = []
            retained.queue = []  # writes during the scan are noted here, then merged
            # Keys first (cheap, and a snapshot), then each value, yielding as it goes.
            for n, stored_key in enumerate(list(data.keys())):
                key = _hashable(stored_key)
                value = data.get(key)
                if isinstance(value, dict) and "at_s" in value and "p" in value:
                    expires = float(value["at_s"]) + retained.lifetime(value)
                    found.append((expires, key, int(value["p"])))
                if n % _CHUNK == 0:
                    await asyncio.sleep(0)
            retained.queue = [*found, *retained.queue]
            heapq.heapify(retained.queue)
            noted += len(found)
        return noted

    async def sweep(self, now: float) -> int:
        """Delete every owned key whose retention has passed; returns how many."""
        deleted = 0
        for retained in self._tables.values():
            queue = retained.queue
            steps = 0
            while queue and queue[0][0] <= now:
                _expires, key, partition = heapq.heappop(queue)
                steps += 1
                if steps % _CHUNK == 0:
                    await asyncio.sleep(0)
                if not self._owns(retained.table, partition):
                    continue  # another worker's key now: it expires it
                value = retained.table.data.get(key)
                if not isinstance(value, dict):
                    continue
                if float(value.get("at_s", 0.0)) + retained.lifetime(value) > now:
                    continue  # written again since: a later note covers it
                delete(retained.table, key, partition)
                retained.deleted += 1
                deleted += 1
        return deleted

    def sizes(self) -> dict[str, int]:
        """Keys waiting to expire, per table (what this worker holds)."""
        return {name: len(r.queue) for name, r in self._tables.items()}


def _hashable(key: Any) -> Any:
    """A windowed table's key as it is written, ``(key, (start, end))``: RocksDB hands it back
    decoded from JSON as lists, which neither hash nor compare with the tuples noted on write."""
    if isinstance(key, list):
        return tuple(_hashable(part) for part in key)
    return key


def delete(table: Any, key: Any, partition: int) -> None:
    """Remove ``key`` from the local store and send its tombstone to changelog ``partition``."""
    data = table.data
    try:
        del data[key]
    except KeyError:
        pass
    # Faust's RocksDB store remembers each key's partition in an index it never trims
    # (its _del leaves the entry): drop it, or the index grows by every key ever written.
    index = getattr(data, "_key_index", None)
    if isinstance(index, dict):
        index.pop(data._encode_key(key), None)
    table.send_changelog(partition, key, None, value_serializer="raw")
