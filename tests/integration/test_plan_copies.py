"""Two copies of one plan on real Kafka (a record handed out again after a rebalance, or the plan
re-sent for an intent read again): the step's tool runs once, and the intent is answered."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from interfaces.cli_experiments import read_topic
from interfaces.client import ToolwiseClient
from models import ExecutionRecorded, IntentCompleted, IntentSubmitted, PlanCreated, PlanStep
from streams.topics import ensure_topics
from tests.integration.conftest import PipelineFactory

pytestmark = pytest.mark.integration

# Slow enough that the second copy is read while the first still runs the tool.
TOOLS = """
[servers.sim]
transport = "inprocess"
factory = "tools.servers.simulated:build_server"

[servers.sim.kwargs]
tools = [{ name = "slow", description = "Answer slowly.", median_ms = 1500 }]
"""


async def test_a_copy_of_a_running_plan_waits_for_its_steps(
    pipeline_factory: PipelineFactory, tmp_path: Path
) -> None:
    config = tmp_path / "tools.toml"
    config.write_text(TOOLS)
    pipeline = pipeline_factory(tools_config=config, text_model="words", executor_concurrency=4)
    settings = pipeline.settings
    await ensure_topics(settings)
    pipeline.start_worker()
    async with ToolwiseClient(settings) as client:
        warm = await pipeline.run(client, IntentSubmitted(text="use sim.slow"))
        assert isinstance(warm, IntentCompleted), warm

        step = PlanStep(step_id="copied:0", index=0, tool="sim.slow", arguments={"query": "q"})
        plan = PlanCreated(intent_id="copied", steps=[step])
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
        await producer.start()
        try:
            for _ in range(2):  # two records, one partition: read by two actors at once
                await producer.send_and_wait(
                    settings.topic_name("plans"), plan.to_bytes(), key=b"copied"
                )
        finally:
            await producer.stop()
        outcomes = await pipeline.outcomes(client, ["copied"])
    assert isinstance(outcomes["copied"], IntentCompleted), outcomes

    raw = await read_topic(settings, settings.topic_name("executions"))
    records = [ExecutionRecorded.model_validate_json(v) for v in raw if v]
    ran = [r for r in records if r.call_id == "copied:0"]
    assert len(ran) == 1, ran  # before: twice, and the two records could disagree
