"""Every worker's read view of the learned state and of the active generation."""

from __future__ import annotations

from typing import Any

from learning.state import LearningState
from tables.learned import TermIndex, key, learning_state, parse_key
from tables.replica import ChangelogReplica

ACTIVE_KEY = "active"


class LearnedReplica:
    def __init__(self, bootstrap_servers: str, changelog_topic: str, control_topic: str) -> None:
        self.changelog_topic = changelog_topic
        self.control_topic = control_topic
        self.index = TermIndex()
        self._keys_per_generation: dict[int, int] = {}
        self._through: dict[int, dict[int, int]] = {}
        self.replica = ChangelogReplica(
            bootstrap_servers, [changelog_topic, control_topic], on_apply=self._observe
        )

    def _observe(self, topic: str, raw_key: str, value: Any) -> None:
        if topic == self.changelog_topic:
            self.index.observe(raw_key, value is not None)
            parsed = parse_key(raw_key)
            if parsed is None or value is None:
                return
            gen, kind, rest = parsed
            # Counts writes, not distinct keys: enough to know a generation exists.
            self._keys_per_generation[gen] = self._keys_per_generation.get(gen, 0) + 1
            if kind in ("wm", "handoff"):
                through = self._through.setdefault(gen, {})
                through[int(rest)] = max(through.get(int(rest), -1), int(value))

    async def start(self, timeout_s: float = 60.0) -> None:
        await self.replica.start(timeout_s)

    async def stop(self) -> None:
        await self.replica.stop()

    def read(self, raw_key: str) -> Any:
        return self.replica.table(self.changelog_topic).get(raw_key)

    @property
    def active_generation(self) -> int:
        control = self.replica.table(self.control_topic).get(ACTIVE_KEY)
        return int(control["generation"]) if control else 0

    def handoff(self, generation: int, partition: int) -> int | None:
        value = self.read(key(generation, "handoff", str(partition)))
        return None if value is None else int(value)

    def generations(self) -> dict[int, int]:
        """Generation -> number of keys it holds (counted on demand; for status, not hot paths)."""
        counts: dict[int, int] = {}
        for raw in self.replica.table(self.changelog_topic):
            head = raw.partition("|")[0]
            if head[1:].isdigit():
                counts[int(head[1:])] = counts.get(int(head[1:]), 0) + 1
        return counts

    def learned_through(self, generation: int) -> dict[int, int]:
        """Per executions partition, the last offset this view has seen applied to
        ``generation`` (by the learner or by a replay's handoff).

        The learner writes a partition's watermark after that partition's state, into the
        same changelog partition, so once the view shows an offset it holds everything
        learned up to it."""
        return dict(self._through.get(generation, {}))

    def known_generations(self) -> list[int]:
        """Generations that have any state, cheaply (the learner asks on every batch)."""
        return sorted(self._keys_per_generation)

    def state(self, generation: int | None = None) -> LearningState:
        """A read-only LearningState of ``generation`` (default: the active one)."""
        gen = self.active_generation if generation is None else generation
        return learning_state(gen, self.read, self.index)
