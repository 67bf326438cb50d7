"""The tool mesh on real Kafka with real MCP servers over HTTP: a slow node is DEGRADED and
gets less traffic than a fast one (both bundled servers, ``tools.servers.simulated --http``).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from interfaces.client import ToolwiseClient
from models import IntentCompleted
from streams.topics import ensure_topics
from tests.integration.conftest import PipelineFactory
from tests.integration.mesh_support import (
    FAST,
    HttpNode,
    cli,
    echo,
    executions,
    http_nodes,  # noqa: F401  (the fixture "nodes")
    mesh_pipeline,
    simulated,
    status_changes,
    warm_up,
    write_config,
)

pytestmark = pytest.mark.integration


async def test_a_slow_node_becomes_degraded_and_gets_less_traffic(
    pipeline_factory: PipelineFactory, tmp_path: Path, nodes: list[HttpNode]
) -> None:
    fast = simulated(tmp_path, "fast", FAST).start()
    slow = simulated(tmp_path, "slow", "name=echo,median_ms=800").start()
    nodes.extend([fast, slow])
    config = write_config(
        tmp_path / "tools.toml", {"sim": {"transport": "http", "urls": [fast.url, slow.url]}}
    )
    pipeline = mesh_pipeline(pipeline_factory, config)
    await ensure_topics(pipeline.settings)
    pipeline.start_worker()
    slow_node, fast_node = f"sim@127.0.0.1:{slow.port}", f"sim@127.0.0.1:{fast.port}"

    async with ToolwiseClient(pipeline.settings) as client:
        await warm_up(pipeline, client)
        intents = []
        for n in range(80):
            intents.append(echo(n))
            await client.submit(intents[-1])
            await asyncio.sleep(0.1)
        outcomes = await pipeline.outcomes(client, [i.intent_id for i in intents], timeout_s=180)
    assert all(isinstance(o, IntentCompleted) for o in outcomes.values())

    changes = await status_changes(pipeline, slow_node)
    assert any(c["after"] == "degraded" and "latency" in c["reason"] for c in changes), changes
    [row] = cli(pipeline.env, "list")
    status = {n["node"]: n["status"] for n in row["versions"][0]["nodes"]}
    assert status[slow_node] == "degraded", row
    served = Counter(r.node for r in await executions(pipeline))
    assert 0 < served[slow_node] < served[fast_node] / 4, served
