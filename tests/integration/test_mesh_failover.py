"""The tool mesh on real Kafka with real MCP servers over HTTP: a node killed under load.

Each node is a bundled server (``tools.servers.simulated --http``) in its own process, killed
and restarted by the test; the worker is a real ``toolwise worker`` process.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from interfaces.client import ToolwiseClient
from models import IntentCompleted, IntentFailed, IntentSubmitted
from streams.topics import ensure_topics
from tests.integration.conftest import Pipeline, PipelineFactory
from tests.integration.mesh_support import (
    FAST,
    POLICY,
    HttpNode,
    echo,
    executions,
    http_nodes,  # noqa: F401  (the fixture "nodes")
    mesh_pipeline,
    registry_records,
    simulated,
    status_changes,
    until,
    warm_up,
    write_config,
)

pytestmark = pytest.mark.integration


async def test_a_node_killed_under_load_fails_no_intent_and_its_status_follows(
    pipeline_factory: PipelineFactory, tmp_path: Path, nodes: list[HttpNode]
) -> None:
    a, b = simulated(tmp_path, "a", FAST).start(), simulated(tmp_path, "b", FAST).start()
    nodes.extend([a, b])
    config = write_config(
        tmp_path / "tools.toml", {"sim": {"transport": "http", "urls": [a.url, b.url]}}
    )
    pipeline = mesh_pipeline(pipeline_factory, config)
    await ensure_topics(pipeline.settings)
    pipeline.start_worker()
    node_b = f"sim@127.0.0.1:{b.port}"

    intents: list[IntentSubmitted] = []
    async with ToolwiseClient(pipeline.settings) as client:
        await warm_up(pipeline, client)
        began = time.monotonic()
        killed_at = restarted_at = 0.0
        n = 0
        while (elapsed := time.monotonic() - began) < 24.0:
            if not killed_at and elapsed >= 6.0:
                b.kill()
                killed_at = time.time()
            if killed_at and not restarted_at and elapsed >= 13.0:
                b.start()
                restarted_at = time.time()
            intents.append(echo(n))
            await client.submit(intents[-1])
            n += 1
            await asyncio.sleep(0.1)  # steady load: about 10 intents a second
        outcomes = await pipeline.outcomes(client, [i.intent_id for i in intents], timeout_s=180)

    failed = [o for o in outcomes.values() if not isinstance(o, IntentCompleted)]
    assert failed == [], failed[:3]

    changes = await status_changes(pipeline, node_b)
    offline = [c for c in changes if c["after"] == "offline" and c["occurred_at"] > killed_at]
    online = [c for c in changes if c["after"] == "online" and c["occurred_at"] > restarted_at]
    assert offline, changes
    # Within the configured interval: offline_after_failures probes (or sooner, by calls),
    # plus one probe's timeout, plus 3 s for the event to be folded on this shared machine.
    bound = POLICY.offline_after_failures * POLICY.probe_interval_s + POLICY.probe_timeout_s + 3.0
    assert offline[0]["occurred_at"] - killed_at <= bound, (offline[0], killed_at)
    assert online, changes
    bound = POLICY.online_after_successes * POLICY.probe_interval_s + POLICY.probe_timeout_s + 3.0
    assert online[0]["occurred_at"] - restarted_at <= bound, (online[0], restarted_at)

    served = Counter(r.node for r in await executions(pipeline) if r.ok)
    assert served[node_b] > 0 and served[f"sim@127.0.0.1:{a.port}"] > served[node_b]
    last_b = max(r.started_at for r in await executions(pipeline) if r.ok and r.node == node_b)
    assert last_b > restarted_at  # back in rotation after its restart

    # Both nodes down: the one attempt waits node_wait_s for a node, then fails without retries.
    a.kill()
    b.kill()
    await until(
        lambda: _all_offline(pipeline, [f"sim@127.0.0.1:{a.port}", node_b]), 30, "both offline"
    )
    async with ToolwiseClient(pipeline.settings) as client:
        outcome = await pipeline.run(client, echo(10_000))
    assert isinstance(outcome, IntentFailed) and outcome.error_kind == "no_healthy_node", outcome
    assert outcome.attempts == 1, outcome


async def _all_offline(pipeline: Pipeline, names: list[str]) -> bool:
    latest: dict[str, str] = {}
    for record in await registry_records(pipeline.settings, idle_s=1.0):
        value = record["value"]
        if value["type"] == "NodeStatusChanged":
            latest[value["node"]] = value["after"]
    return all(latest.get(name) == "offline" for name in names)
