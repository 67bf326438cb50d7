"""What a worker publishes to the registry about the nodes it knows: pure, from its listings.

Every worker registers what its configured nodes list, at start and whenever a node lists
again (it came back, or said its tool list changed). Records repeat across workers and
restarts; their keys and ids are derived from their content, so repeats replace each other
and are recognised, and what the registry already holds is not sent again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

from models.events import Event
from models.ids import derived_id
from models.registry import NodeAdded, NodeRemoved, ToolRegistered, ToolWithdrawn
from models.tools import ToolSpec
from tools.mesh.catalog import RegistryState
from tools.registry import Node

# 16 hex digits of SHA-256: the same content gives the same id, different content another.
_DIGEST_CHARS = 16


def _digest(value: object) -> str:
    data = json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.sha256(data).hexdigest()[:_DIGEST_CHARS]


def registration(spec: ToolSpec, node: str) -> ToolRegistered:
    digest = _digest(spec.model_dump(mode="json"))
    return ToolRegistered(
        event_id=derived_id("registered", spec.name, spec.version, node, digest),
        spec=spec,
        node=node,
    )


def listing_events(node: str, specs: Iterable[ToolSpec], state: RegistryState) -> list[Event]:
    """Registrations of what ``node`` lists that the registry does not hold as such, and
    withdrawals of what it held for the node and the node no longer lists."""
    events: list[Event] = []
    listed = set()
    for spec in specs:
        listed.add((spec.name, spec.version))
        info = state.version(spec.name, spec.version)
        known = info.nodes.get(node) if info is not None else None
        if known is None or known.spec != spec or known.origin != "config":
            events.append(registration(spec, node))
    for held in state.registrations():
        if held.node != node or held.origin != "config":
            continue
        if (held.spec.name, held.spec.version) not in listed:
            events.append(
                ToolWithdrawn(
                    event_id=derived_id("withdrawn", held.spec.name, held.spec.version, node),
                    tool=held.spec.name,
                    version=held.spec.version,
                    node=node,
                    reason="the node no longer lists it",
                )
            )
    return events


def node_events(nodes: Mapping[str, Node], state: RegistryState) -> list[Event]:
    """NodeAdded for every configured node the registry does not hold as such, NodeRemoved
    for shared nodes (URLs) of the same server entries that left the config."""
    events: list[Event] = []
    servers = {node.server for node in nodes.values()}
    for node in nodes.values():
        added = NodeAdded(
            node=node.id, server=node.server, endpoint=node.endpoint, shared=node.shared
        )
        added = added.model_copy(
            update={"event_id": derived_id("node", node.id, _digest([node.server, node.endpoint]))}
        )
        known = state.node(node.id)
        if known is None or (known.server, known.endpoint, known.shared) != (
            node.server,
            node.endpoint,
            node.shared,
        ):
            events.append(added)
    for node_id, known in state.all_nodes().items():
        if known.shared and known.server in servers and node_id not in nodes:
            events.append(NodeRemoved(node=node_id, server=known.server))
    return events
