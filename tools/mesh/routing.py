"""Which version and which node take a call: canary shares by intent-id hash, nodes by health.

Pure. A version is chosen from the intent id alone (a BLAKE2b bucket in [0, 1)), so every
worker, and a redelivered intent, picks the same one. A node is drawn with a weight of its
status over its latency: ONLINE before DEGRADED, faster before slower, and every usable node
keeps some traffic, so a slow node's recovery is seen.
"""

from __future__ import annotations

import hashlib
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from models.registry import NodeStatus
from tools.mesh.policy import MeshPolicy

# 8 bytes: 2**64 buckets, far finer than any share anyone sets.
_DIGEST_BYTES = 8
_SCALE = float(2 ** (8 * _DIGEST_BYTES))


def canary_bucket(tool: str, intent_id: str) -> float:
    """Where an intent falls in ``tool``'s [0, 1) range; the tool is hashed in, so an intent
    early in one tool's canary is anywhere in another's."""
    message = f"{len(tool)}:{tool}\x00{intent_id}".encode()
    digest = hashlib.blake2b(message, digest_size=_DIGEST_BYTES, person=b"toolwise-canary")
    return int.from_bytes(digest.digest(), "big") / _SCALE


def choose_version(tool: str, intent_id: str, active: str, canary: tuple[str, float] | None) -> str:
    """The canary's version for the first ``share`` of intents by hash, else ``active``."""
    if canary is not None:
        version, share = canary
        if version != active and canary_bucket(tool, intent_id) < share:
            return version
    return active


@dataclass(frozen=True)
class NodeChoice:
    """A node that may take the call, as the router sees it now."""

    node: str
    status: NodeStatus
    latency_ms: float | None  # EWMA; None: not measured yet


def node_weight(choice: NodeChoice, typical_ms: float, policy: MeshPolicy) -> float:
    if choice.status is NodeStatus.OFFLINE:
        return 0.0
    tier = 1.0 if choice.status is NodeStatus.ONLINE else policy.degraded_weight
    latency = choice.latency_ms if choice.latency_ms is not None else typical_ms
    return tier / max(latency, policy.latency_floor_ms)


def order_nodes(choices: Sequence[NodeChoice], policy: MeshPolicy, rng: random.Random) -> list[str]:
    """The nodes to try, in order: the first drawn by weight, the others by weight, heaviest
    first (the failover order). OFFLINE nodes are left out.

    A node not measured yet counts as the median of those that are, so a new node competes
    evenly instead of being starved or flooded.
    """
    measured = [c.latency_ms for c in choices if c.latency_ms is not None]
    typical = statistics.median(measured) if measured else policy.latency_floor_ms
    weighted = [(node_weight(c, typical, policy), c.node) for c in choices]
    weighted = [(w, node) for w, node in weighted if w > 0]
    if not weighted:
        return []
    total = sum(w for w, _ in weighted)
    pick = rng.random() * total
    first = weighted[-1][1]
    for w, node in weighted:
        pick -= w
        if pick < 0:
            first = node
            break
    rest = sorted(((w, n) for w, n in weighted if n != first), key=lambda x: (-x[0], x[1]))
    return [first, *(node for _, node in rest)]
