"""TOOLWISE_PLANNER_STRATEGY=llm in a real worker, against a local chat-completions server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interfaces.client import ToolwiseClient, tail
from models import IntentCompleted, IntentSubmitted
from models.planning import PLANNER_TOOL
from streams.topics import ensure_topics
from tests.integration.conftest import PipelineFactory
from tests.llm_server import Reply, completion, scripted_chat_server

pytestmark = pytest.mark.integration

TOOLS = """
[servers.calculator]
transport = "stdio"
command = ["python", "-m", "tools.servers.calculator"]

[servers.units]
transport = "stdio"
command = ["python", "-m", "tools.servers.units"]
"""
PRICE_PER_1K = 0.5  # prompt and completion alike, to make the expected cost plain


async def test_the_worker_plans_with_the_model_and_falls_back_when_its_answer_is_bad(
    pipeline_factory: PipelineFactory, tmp_path: Path
) -> None:
    config = tmp_path / "tools.toml"
    config.write_text(TOOLS)
    convert = {"value": 5, "from_unit": "km", "to_unit": "mi"}
    with scripted_chat_server(
        Reply(429, {"error": {"message": "rate limited"}}, {"Retry-After": "1"}),
        completion(("units_convert", convert), usage=(200, 20)),
        Reply(body="{this is not json"),
    ) as server:
        pipeline = pipeline_factory(
            config,
            planner_strategy="llm",
            llm_base_url=server.base_url,
            llm_api_key="sk-integration",
            llm_model="scripted-model",
            llm_prompt_price_per_1k=PRICE_PER_1K,
            llm_completion_price_per_1k=PRICE_PER_1K,
            text_model="words",
        )
        await ensure_topics(pipeline.settings)
        pipeline.start_worker()
        planned = IntentSubmitted(text="convert 5 km to mi")
        fallback = IntentSubmitted(text="calculate 6 * 7")
        async with ToolwiseClient(pipeline.settings) as client:
            first = await pipeline.run(client, planned)
            second = await pipeline.run(client, fallback)

    assert isinstance(first, IntentCompleted), first
    assert [r.tool for r in first.results] == ["units.convert"]
    assert first.results[0].output["value"] == pytest.approx(3.10686, abs=1e-4)
    assert first.strategy == "llm"
    assert first.cost == pytest.approx(220 * PRICE_PER_1K / 1000)  # the tools cost nothing

    assert isinstance(second, IntentCompleted), second
    assert second.results[0].output["result"] == 42 and second.strategy == "learned-thompson"

    assert len(server.requests) == 3
    assert all(h["Authorization"] == "Bearer sk-integration" for h in server.headers)
    assert server.requests[0]["model"] == "scripted-model"

    plans = {
        p["intent_id"]: p
        async for p in _values(pipeline.settings, "plans")
        if p["intent_id"] in (planned.intent_id, fallback.intent_id)
    }
    record = plans[planned.intent_id]["planning"]
    assert record["planner"] == "llm" and record["attempts"] == 2
    assert (record["prompt_tokens"], record["completion_tokens"]) == (200, 20)
    bad = plans[fallback.intent_id]["planning"]
    assert bad["planner"] == "builtin" and "not JSON" in bad["fallback_reason"]

    planner_records = [
        e async for e in _values(pipeline.settings, "executions") if e["tool"] == PLANNER_TOOL
    ]
    kinds = sorted((e["intent_id"], e["attempt"], e["error_kind"]) for e in planner_records)
    assert kinds == sorted(
        [
            (planned.intent_id, 1, "transient"),
            (planned.intent_id, 2, None),
            (fallback.intent_id, 1, "tool_error"),
        ]
    )


async def _values(settings: Any, suffix: str) -> Any:
    async for record in tail(settings, suffix, from_beginning=True, idle_timeout_s=3.0):
        yield record["value"]
