"""The node table: node id -> its health (``tools.mesh.health.NodeHealth``), changelog-backed.

Written only by ``track-node-health`` while it handles a NodeProbed keyed by that node, so
each node's record lives in the changelog partition of its probes. Every worker reads the
whole table through a replica of the changelog (``tables.registry``) to route its calls.
"""

from __future__ import annotations

from streams.app import app, settings

node_health = app.Table(
    "node-health",
    key_type=str,
    # Small (one record per node) and read by every worker from the changelog anyway.
    store="memory://node-health",
    help="node -> NodeHealth record, plus 'through': the last probes offset folded into it.",
)


def changelog_topic_name(app_id: str | None = None) -> str:
    return f"{app_id or settings.app_id}-node-health-changelog"
