"""track_node_health: NodeProbed -> the node table, and NodeStatusChanged when a status moves.

Probes come from ``probe_nodes``, a timer on the leader worker that lists every shared
node's tools (MCP ``tools/list``, with a timeout) each ``settings.mesh.probe_interval_s``
(an OFFLINE one each ``offline_probe_interval_s``, so a restart is seen within a second);
real calls' outcomes come from every worker's router. Both are folded by the same pure
``tools.mesh.health.observe``; every worker routes by the table (through its replica).
"""

from __future__ import annotations

import logging
from typing import Any

from agents.boundary import each_message
from agents.runtime import get_runtime
from models.registry import NodeProbed, NodeStatusChanged, registry_key
from streams.app import app, settings
from streams.topics import node_probes_topic, registry_topic
from tables.node_health import node_health
from tools.mesh.health import NodeHealth, Observation, observe

log = logging.getLogger(__name__)


@app.agent(node_probes_topic, name="track-node-health")
async def track_node_health(stream: Any) -> None:
    models = {node_probes_topic.get_topic_name(): NodeProbed}
    await each_message(stream, models, _observe)


async def _observe(event: Any, probe: NodeProbed) -> None:
    offset = event.message.offset
    stored = node_health.get(probe.node)
    if stored is not None and offset <= stored.get("through", -1):
        return  # read again after a restart or rebalance: already folded in
    before = NodeHealth.from_record(stored)
    after = observe(before, Observation.of(probe), settings.mesh)
    node_health[probe.node] = {**after.to_record(), "through": offset}
    if stored is None or after.status is not before.status:
        change = NodeStatusChanged(
            node=probe.node,
            before=None if stored is None else before.status,
            after=after.status,
            reason=after.reason or ("first seen" if stored is None else ""),
            latency_ewma_ms=after.latency_ewma_ms,
            last_error=after.last_error,
        )
        log.info("node %s: %s -> %s (%s)", probe.node, change.before, after.status, change.reason)
        await registry_topic.send(key=registry_key(change).encode(), value=change.to_bytes())


# Ticks at the shorter interval; probe_all picks the nodes due (OFFLINE ones more often).
_PROBE_TICK_S = min(settings.mesh.probe_interval_s, settings.mesh.offline_probe_interval_s)


@app.timer(interval=_PROBE_TICK_S, on_leader=True)  # type: ignore[untyped-decorator]
async def probe_nodes() -> None:
    """Probe the shared nodes due; a failed round is logged and the next one tries again."""
    try:
        runtime = await get_runtime(settings)
        if runtime.mesh is None:
            return
        for probe in await runtime.mesh.probe_all():
            await node_probes_topic.send(key=probe.node.encode(), value=probe.to_bytes())
    except Exception:
        log.exception("probing the tool nodes failed")
