"""RegistryState: the registry topic folded in order: versions, their nodes, routing, history.

Pure: ``apply_record(key, value)`` takes each record of the compacted registry topic (a JSON
value, or None for a tombstone) in offset order; every worker folds the same records, so all
route alike. Which version takes an unpinned call:

* the version last activated (``toolwise tools activate``), if a node still serves it and it
  is not deprecated;
* else the oldest registered version that a node serves and is not deprecated (a new version
  takes no traffic until it is activated or given a canary share, unless the old one is gone);
* a canary version takes its share of intents by hash (``tools.mesh.routing``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from models.events import Event, GeneratedToolJudged
from models.registry import (
    REGISTRY_EVENT,
    NodeAdded,
    NodeRemoved,
    NodeStatusChanged,
    RegistryEvent,
    ToolCanarySet,
    ToolDeprecated,
    ToolRegistered,
    ToolRolledBack,
    ToolVersionActivated,
    ToolWithdrawn,
)
from models.tools import ToolSpec
from tools.mesh.routing import choose_version

log = logging.getLogger(__name__)

# Versions kept to roll back to, newest first: more than anyone rolls back in a row.
_PREVIOUS_KEPT = 20


@dataclass
class VersionInfo:
    """One registered version of a tool and the nodes serving it."""

    spec: ToolSpec
    order: int  # position of its first registration in the fold
    nodes: dict[str, ToolRegistered] = field(default_factory=dict)

    @property
    def registration(self) -> ToolRegistered | None:
        """The latest registration on any node (they describe the same version)."""
        return max(self.nodes.values(), key=lambda r: r.occurred_at, default=None)


@dataclass
class Routing:
    """What the routing events of one tool have decided."""

    active: str | None = None  # explicitly activated; see RegistryState.active
    previous: list[str] = field(default_factory=list)  # to roll back to, newest first
    canary: tuple[str, float] | None = None
    deprecated: set[str] = field(default_factory=set)


class RegistryState:
    def __init__(self) -> None:
        self._versions: dict[str, dict[str, VersionInfo]] = {}
        self._routing: dict[str, Routing] = {}
        self._history: dict[str, list[Event]] = {}
        self._nodes: dict[str, NodeAdded] = {}
        self._status: dict[str, NodeStatusChanged] = {}
        self._verdicts: dict[str, GeneratedToolJudged] = {}
        self._order = 0
        self.changes = 0  # bumped by every applied record: readers may cache on it
        self.listeners: list[Callable[[RegistryEvent], None]] = []

    # --- folding -----------------------------------------------------------------------------

    def apply_record(self, key: str, value: Any) -> None:
        """One record of the registry topic: an event's JSON, or None (a tombstone for ``key``)."""
        if value is None:
            self._forget(key)
            return
        try:
            event = REGISTRY_EVENT.validate_python(value)
        except ValidationError as exc:
            log.warning("registry: skipping record %r: %s", key, str(exc).splitlines()[0])
            return
        self.apply(event)

    def apply(self, event: RegistryEvent) -> None:
        self.changes += 1
        match event:
            case ToolRegistered():
                self._register(event)
            case ToolWithdrawn():
                self._withdraw(event.tool, event.version, event.node)
                self._history.setdefault(event.tool, []).append(event)
            case ToolVersionActivated() | ToolCanarySet() | ToolRolledBack() | ToolDeprecated():
                self._route(event)
                self._history.setdefault(event.tool, []).append(event)
            case NodeAdded():
                self._nodes[event.node] = event
            case NodeRemoved():
                self._nodes.pop(event.node, None)
            case NodeStatusChanged():
                self._status[event.node] = event
            case GeneratedToolJudged():
                self._verdicts[event.submission_id] = event
        for listener in list(self.listeners):
            listener(event)

    def _register(self, event: ToolRegistered) -> None:
        spec = event.spec
        versions = self._versions.setdefault(spec.name, {})
        info = versions.get(spec.version)
        if info is None:
            info = versions[spec.version] = VersionInfo(spec, self._order)
            self._order += 1
        seen = info.nodes.get(event.node)
        info.spec = spec
        info.nodes[event.node] = event
        if seen is None or seen.spec != spec or seen.source != event.source:
            # Every worker registers what it lists at each start: history keeps the news only.
            self._history.setdefault(spec.name, []).append(event)
        for version, other in versions.items():  # a node serves one version of a tool
            if version != spec.version:
                other.nodes.pop(event.node, None)

    def _withdraw(self, tool: str, version: str, node: str) -> None:
        info = self._versions.get(tool, {}).get(version)
        if info is not None:
            info.nodes.pop(node, None)

    def _forget(self, key: str) -> None:
        kind, _, rest = key.partition("|")
        if kind == "tool":
            ref, _, node = rest.rpartition("|")
            tool, _, version = ref.rpartition("@")
            self._withdraw(tool, version, node)
        elif kind == "node":
            self._nodes.pop(rest, None)
        elif kind == "status":
            self._status.pop(rest, None)
        self.changes += 1

    def _route(
        self, event: ToolVersionActivated | ToolCanarySet | ToolRolledBack | ToolDeprecated
    ) -> None:
        routing = self._routing.setdefault(event.tool, Routing())
        match event:
            case ToolVersionActivated():
                before = event.previous or self.active(event.tool)
                if before is not None and before != event.version:
                    routing.previous = [before, *routing.previous][:_PREVIOUS_KEPT]
                routing.active = event.version
                routing.deprecated.discard(event.version)
                if routing.canary is not None and routing.canary[0] == event.version:
                    routing.canary = None  # promoted
            case ToolCanarySet():
                routing.canary = (event.version, event.share) if event.share > 0 else None
            case ToolRolledBack():
                if routing.canary is not None and routing.canary[0] == event.from_version:
                    routing.canary = None
                if event.to_version != routing.active:
                    routing.active = event.to_version
                    if event.to_version in routing.previous:
                        routing.previous.remove(event.to_version)
            case ToolDeprecated():
                routing.deprecated.add(event.version)
                if routing.canary is not None and routing.canary[0] == event.version:
                    routing.canary = None

    # --- reading -----------------------------------------------------------------------------

    def tool_names(self) -> list[str]:
        return sorted(self._versions)

    def versions(self, tool: str) -> list[VersionInfo]:
        """Every registered version, the first registered first."""
        return sorted(self._versions.get(tool, {}).values(), key=lambda v: v.order)

    def version(self, tool: str, version: str) -> VersionInfo | None:
        return self._versions.get(tool, {}).get(version)

    def spec(self, tool: str, version: str | None = None) -> ToolSpec | None:
        """The spec of ``version`` (default: the active one)."""
        chosen = version or self.active(tool)
        info = self.version(tool, chosen) if chosen is not None else None
        return info.spec if info is not None else None

    def nodes(self, tool: str, version: str) -> list[str]:
        info = self.version(tool, version)
        return sorted(info.nodes) if info is not None else []

    def routing(self, tool: str) -> Routing:
        return self._routing.get(tool, Routing())

    def active(self, tool: str) -> str | None:
        """The version unpinned calls go to (when the canary does not take them)."""
        versions = self.versions(tool)
        if not versions:
            return None
        routing = self.routing(tool)
        chosen = self.version(tool, routing.active) if routing.active else None
        if chosen is not None and chosen.nodes and routing.active not in routing.deprecated:
            return routing.active
        for info in versions:
            if info.nodes and info.spec.version not in routing.deprecated:
                return info.spec.version
        # Nobody serves any version: name the chosen one, so calls fail saying so.
        return routing.active if chosen is not None else versions[0].spec.version

    def canary(self, tool: str) -> tuple[str, float] | None:
        """The canary version and share, when a node serves it and it is not deprecated."""
        canary = self.routing(tool).canary
        if canary is None:
            return None
        info = self.version(tool, canary[0])
        if info is None or not info.nodes or canary[0] in self.routing(tool).deprecated:
            return None
        return canary

    def version_for(self, tool: str, intent_id: str, pinned: str | None = None) -> str | None:
        """The version that serves this intent's call to ``tool``."""
        if pinned is not None:
            return pinned
        active = self.active(tool)
        if active is None:
            return None
        return choose_version(tool, intent_id, active, self.canary(tool))

    def history(self, tool: str) -> list[Event]:
        """Registrations, withdrawals and routing changes, in the order they happened."""
        return list(self._history.get(tool, []))

    def node(self, node: str) -> NodeAdded | None:
        return self._nodes.get(node)

    def all_nodes(self) -> dict[str, NodeAdded]:
        return dict(self._nodes)

    def status(self, node: str) -> NodeStatusChanged | None:
        return self._status.get(node)

    def verdict(self, submission_id: str) -> GeneratedToolJudged | None:
        return self._verdicts.get(submission_id)

    def registrations(self) -> Iterator[ToolRegistered]:
        """Every current registration (one per tool version and node)."""
        for versions in self._versions.values():
            for info in versions.values():
                yield from info.nodes.values()
