"""Tool versions on real Kafka with real MCP servers over HTTP: a canary by intent-id hash,
activation, rollback on two workers within 5 s, and the history, all through `toolwise tools`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from contextlib import aclosing
from pathlib import Path

import pytest

from interfaces.client import ToolwiseClient, tail
from models import IntentCompleted, IntentFailed
from models.registry import NodeProbed
from streams.topics import ensure_topics
from tests.integration.conftest import PipelineFactory
from tests.integration.mesh_support import (
    FAST,
    TOOL,
    HttpNode,
    cli,
    echo,
    executions,
    http_nodes,  # noqa: F401  (the fixture "nodes")
    mesh_pipeline,
    simulated,
    warm_up,
    write_config,
)
from tools.mesh.routing import choose_version

pytestmark = pytest.mark.integration


async def test_canary_share_rollback_on_two_workers_and_history(
    pipeline_factory: PipelineFactory, tmp_path: Path, nodes: list[HttpNode]
) -> None:
    v1 = simulated(tmp_path, "v1", FAST).start()
    v2 = simulated(tmp_path, "v2", "name=echo,median_ms=3,error_rate=1").start()  # broken
    nodes.extend([v1, v2])
    config = write_config(
        tmp_path / "tools.toml",
        {
            "sim": {"transport": "http", "url": v1.url},
            "sim-v2": {
                "transport": "http",
                "url": v2.url,
                "registers_as": "sim",
                "tools": {"echo": {"version": "2"}},
            },
        },
    )
    pipeline = mesh_pipeline(pipeline_factory, config)
    await ensure_topics(pipeline.settings)
    pipeline.start_worker()
    pipeline.start_worker()
    env = pipeline.env

    async with ToolwiseClient(pipeline.settings) as client:
        await warm_up(pipeline, client)
        [row] = [r for r in cli(env, "list") if r["tool"] == TOOL]
        assert row["active"] == "1" and [v["version"] for v in row["versions"]] == ["1", "2"]

        # A 10 % canary: each intent goes to version 2 by its id's hash, the same on both
        # workers and on redelivery (the share over 2,000 ids: tests/unit/test_mesh_routing.py).
        cli(env, "canary", TOOL, "2", "0.1")
        canaried = [echo(n) for n in range(100)]
        for intent in canaried:
            await client.submit(intent)
        await pipeline.outcomes(client, [i.intent_id for i in canaried], timeout_s=180)
        ids = {i.intent_id for i in canaried}
        firsts = [r for r in await executions(pipeline) if r.intent_id in ids and r.attempt == 1]
        assert len(firsts) == len(canaried)
        expected = {
            i.intent_id: choose_version(TOOL, i.intent_id, "1", ("2", 0.1)) for i in canaried
        }
        assert {r.intent_id: r.tool_version for r in firsts} == expected
        assert 0 < Counter(expected.values())["2"] < len(canaried) / 4

        # Version 2 fails every call; rolled back, every new call goes to version 1, on both
        # workers, within 5 s.
        cli(env, "activate", TOOL, "2")
        broken = await pipeline.run(client, echo(5000))
        assert isinstance(broken, IntentFailed) and broken.error_kind == "tool_error"
        answer = cli(env, "rollback", TOOL)
        rolled_back_at = time.time()
        assert answer["event"]["to_version"] == "1" and answer["tool"]["active"] == "1"
        after = []
        while time.time() - rolled_back_at < 8.0:
            after.append(echo(6000 + len(after)))  # occurred_at: now
            await client.submit(after[-1])
            await asyncio.sleep(0.05)
        outcomes = await pipeline.outcomes(client, [i.intent_id for i in after], timeout_s=180)

    late = [i for i in after if i.occurred_at >= rolled_back_at + 5.0]
    assert late and all(isinstance(outcomes[i.intent_id], IntentCompleted) for i in late)
    late_ids = {i.intent_id for i in late}
    records = [r for r in await executions(pipeline) if r.intent_id in late_ids]
    assert {r.tool_version for r in records} == {"1"}
    # Who called version 1's node: its NodeProbed records (keyed by node, so in order in one
    # partition), read up to now; the leader's probes keep coming, so no idle end to wait for.
    node_v1, now = f"sim@127.0.0.1:{v1.port}", time.time()
    callers = set()
    async with aclosing(tail(pipeline.settings, "node-probes", True)) as records:
        async for record in records:
            probe = NodeProbed.model_validate(record["value"])
            if probe.node != node_v1:
                continue
            if probe.occurred_at > now:
                break
            if probe.source == "call" and probe.occurred_at >= rolled_back_at + 5.0:
                callers.add(probe.worker)
    assert len(callers) == 2, callers  # both workers called (their partitions' intents)

    history = cli(env, "history", TOOL)
    kinds = [h["type"] for h in history]
    assert (
        kinds.index("ToolCanarySet")
        < kinds.index("ToolVersionActivated")
        < kinds.index("ToolRolledBack")
    ), kinds
    [rollback] = [h for h in history if h["type"] == "ToolRolledBack"]
    assert (rollback["from_version"], rollback["to_version"]) == ("2", "1")
