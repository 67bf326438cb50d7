"""A generated tool, accepted and served by the sandbox transport, called through Kafka by a
real worker like any other tool: its executions are recorded and learned from."""

from __future__ import annotations

import asyncio
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from interfaces.client import ToolwiseClient, tail
from models import ExecutionRecorded, IntentCompleted, IntentFailed, IntentSubmitted
from streams.topics import ensure_topics
from tests.integration.conftest import PipelineFactory, free_port, get_json
from tests.integration.sandbox_support import started_pool
from tools.registry import ToolRegistry
from tools.sandbox import SandboxPool

pytestmark = pytest.mark.integration

TOOLS = Path(__file__).parent / "data" / "tools-sandbox.toml"
TOOL = "generated.word_stats"
TEXT = "count the words in a sentence"


async def require_sandbox() -> None:
    await (await started_pool(SandboxPool(size=1))).aclose()


async def test_the_registry_lists_accepted_generated_tools_only() -> None:
    await require_sandbox()
    async with ToolRegistry.from_file(TOOLS) as registry:
        assert [spec.name for spec in registry.specs()] == [TOOL]
        spec = registry.get(TOOL)
        assert spec is not None and spec.version == "2" and spec.keywords == ("words", "count")
        result = await registry.call(TOOL, {"text": "b a b", "top": "2"}, timeout_s=5)
    assert result.ok, result
    assert result.output == {"words": 3, "distinct": 2, "top": [["b", 2], ["a", 1]]}


async def learned_view(port: int) -> dict[str, Any]:
    query = urllib.parse.urlencode({"text": TEXT, "explore": "0"})
    view = await get_json(f"http://127.0.0.1:{port}/api/recommend?{query}")
    [mine] = [r for r in view["recommendations"] if r["tool"] == TOOL]
    return dict(mine["components"])


async def test_a_generated_tool_is_called_through_kafka_recorded_and_learned(
    pipeline_factory: PipelineFactory,
) -> None:
    await require_sandbox()
    pipeline = pipeline_factory(tools_config=TOOLS, text_model="words", learning_batch_s=0.2)
    await ensure_topics(pipeline.settings)
    port = free_port()
    pipeline.start_worker(web_port=port)
    before = await learned_view(port)

    texts = ["the cat and the hat", "a b a", "one"]
    served = [
        IntentSubmitted(text=TEXT, tool=TOOL, arguments={"text": t}, policy={"max_attempts": 2})  # type: ignore[arg-type]
        for t in texts
    ]
    broken = IntentSubmitted(text=TEXT, tool=TOOL, arguments={"text": "   "})
    refused = IntentSubmitted(text="peek", tool="generated.peek")
    async with ToolwiseClient(pipeline.settings) as client:
        for intent in [*served, broken, refused]:
            await client.submit(intent)
        ids = [i.intent_id for i in [*served, broken, refused]]
        outcomes = await pipeline.outcomes(client, ids)

    first = outcomes[served[0].intent_id]
    assert isinstance(first, IntentCompleted), first
    assert first.results[0].output == {"words": 5, "distinct": 4, "top": [["the", 2]]}
    assert all(isinstance(outcomes[i.intent_id], IntentCompleted) for i in served)
    failed = outcomes[broken.intent_id]
    assert isinstance(failed, IntentFailed) and failed.error_kind == "tool_error", failed
    assert failed.attempts == 1  # the tool's own error is permanent: not retried
    assert "no words to count" in (failed.results[0].error or "")
    unknown = outcomes[refused.intent_id]
    assert isinstance(unknown, IntentFailed) and unknown.error_kind == "unknown_tool"

    records = [
        ExecutionRecorded.model_validate(r["value"])
        async for r in tail(pipeline.settings, "executions", True, idle_timeout_s=2.0)
    ]
    mine = [r for r in records if r.tool == TOOL]
    assert sorted(r.ok for r in mine) == [False, True, True, True]
    assert {r.tool_version for r in mine} == {"2"}
    assert all(r.latency_ms > 0 for r in mine)

    # The learner folds the records into the tool's metrics, which the planner ranks by.
    deadline = asyncio.get_running_loop().time() + 30
    while (after := await learned_view(port))["latency_ms"] == before["latency_ms"]:
        assert asyncio.get_running_loop().time() < deadline, (before, after)
        await asyncio.sleep(0.5)
    assert after["success"] != before["success"]
    assert after["latency_ms"] > 0
