"""Every worker's read view of the tool registry and the node table, a few ms behind writers.

One group-less replica (``tables.replica``) reads the compacted registry topic, folded in
order into a ``RegistryState``, and the node table's changelog, kept as node -> record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from tables.replica import ChangelogReplica
from tools.mesh.catalog import RegistryState


class RegistryReplica:
    def __init__(
        self, bootstrap_servers: str, registry_topic: str, health_changelog: str | None
    ) -> None:
        """``health_changelog`` None: the registry only (a CLI before any worker created
        the node table)."""
        self.registry_topic = registry_topic
        self.health_changelog = health_changelog
        self.state = RegistryState()
        topics = [registry_topic, *([health_changelog] if health_changelog else [])]
        self.replica = ChangelogReplica(bootstrap_servers, topics, on_apply=self._observe)

    def _observe(self, topic: str, key: str, value: Any) -> None:
        if topic == self.registry_topic:
            self.state.apply_record(key, value)

    @property
    def health(self) -> Mapping[str, Any]:
        """node -> its node-table record (live)."""
        if self.health_changelog is None:
            return {}
        return self.replica.table(self.health_changelog)

    async def start(self, timeout_s: float = 60.0) -> None:
        await self.replica.start(timeout_s)

    async def stop(self) -> None:
        await self.replica.stop()

    async def caught_up_with(self, published: Mapping[str, str], timeout_s: float) -> bool:
        """Wait until the view holds what we just published (registry key -> event id)."""
        deadline = time.monotonic() + timeout_s
        table = self.replica.table(self.registry_topic)

        def seen() -> bool:
            return all(
                (table.get(key) or {}).get("event_id") == event_id
                for key, event_id in published.items()
            )

        while not seen():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True
