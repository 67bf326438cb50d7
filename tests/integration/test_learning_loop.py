"""The closed loop on real Kafka: executions teach the planner, state survives restarts,
two workers agree, and a replayed generation equals the live one."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from interfaces.client import ToolwiseClient
from interfaces.process import PROJECT_ROOT
from interfaces.replay import learned_replica
from learning.exemplars import decode
from models import IntentCompleted, IntentSubmitted
from streams.settings import Settings
from streams.topics import ensure_topics
from tests.integration.conftest import Pipeline, PipelineFactory, free_port, get_json

pytestmark = pytest.mark.integration

TOOLS = Path(__file__).parent / "data" / "tools-learning.toml"
QUOTES, MARKET, FORECAST = "simulated.quotes", "simulated.market_data", "simulated.forecast"
# The learner folds within this long of an outcome; tests wait a bit more.
BATCH_S = 0.2


def learning_pipeline(factory: PipelineFactory) -> Pipeline:
    return factory(tools_config=TOOLS, learning_batch_s=BATCH_S, recommend_top_k=3)


async def recommend(port: int, text: str, **params: str) -> dict[str, Any]:
    query = urllib.parse.urlencode({"text": text, "explore": "0", **params})
    view: dict[str, Any] = await get_json(f"http://127.0.0.1:{port}/api/recommend?{query}")
    return view


def assert_same_ranking(one: dict[str, Any], other: dict[str, Any]) -> None:
    assert one["generation"] == other["generation"]
    assert [r["tool"] for r in one["recommendations"]] == [
        r["tool"] for r in other["recommendations"]
    ]
    for a, b in zip(one["recommendations"], other["recommendations"], strict=True):
        # Evidence decays with wall-clock time (15 min half-life): seconds apart, scores agree.
        assert a["score"] == pytest.approx(b["score"], rel=1e-3, abs=1e-3)


async def assert_workers_agree(ports: list[int], texts: list[str], timeout_s: float = 10.0) -> None:
    """Every worker ranks every text the same, once their replicas have caught up.

    A worker reads the learned state from the changelog a few milliseconds
    behind the learner, and the learner's writes reach the changelog's
    partitions in no fixed order; so agreement is awaited, not expected at once.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        views = [[await recommend(port, t) for t in texts] for port in ports]
        try:
            for first, second in zip(*views, strict=True):
                assert_same_ranking(first, second)
            return
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


def top(view: dict[str, Any]) -> str:
    return str(view["recommendations"][0]["tool"])


async def executions_ends(settings: Settings) -> dict[TopicPartition, int]:
    """The executions topic's end offset per partition, now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    await consumer.start()
    try:
        topic = settings.topic_name("executions")
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        return ends
    finally:
        await consumer.stop()


async def view_caught_up(
    port: int, ends: dict[TopicPartition, int], timeout_s: float = 30.0
) -> None:
    """Wait until the worker's own read view has learned every record before ``ends``.

    ``settle`` sees the learner's watermarks in a replica of its own; the worker's replica
    may still be a few changelog entries behind it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        through = (await recommend(port, "caught up?"))["learned_through"]
        if all(through.get(str(tp.partition), -1) >= end - 1 for tp, end in ends.items()):
            return
        assert loop.time() < deadline, f"the worker's view is behind: {through} vs {ends}"
        await asyncio.sleep(0.1)


async def settle(
    settings: Settings, generation: int = 0, timeout_s: float = 30.0
) -> dict[str, Any]:
    """The generation's state once the learner has applied every execution record so far."""
    ends = await executions_ends(settings)
    tps = list(ends)
    replica = learned_replica(settings)
    await replica.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            # Applied up to: the learner's watermark, or where a replay handed over.
            through = replica.learned_through(generation)
            applied = {tp.partition: through.get(tp.partition, -1) for tp in tps}
            if all(applied[tp.partition] >= ends[tp] - 1 for tp in tps):
                break
            assert loop.time() < deadline, f"learner did not catch up: {applied} vs {ends}"
            await asyncio.sleep(0.2)
        table = replica.replica.table(replica.changelog_topic)
        prefix = f"g{generation}|"
        return {
            k[len(prefix) :]: v
            for k, v in table.items()
            if k.startswith(prefix) and not k.startswith((f"{prefix}wm|", f"{prefix}handoff|"))
        }
    finally:
        await replica.stop()


def assert_same_state(one: dict[str, Any], other: dict[str, Any]) -> None:
    """Equal learned states. Exemplar vectors may differ by float rounding: the learner and a
    replay embed texts in different batches, and padding changes the last bits."""
    assert one.keys() == other.keys()
    assert {k: v for k, v in one.items() if not k.startswith("e|")} == {
        k: v for k, v in other.items() if not k.startswith("e|")
    }
    for name in (k for k in one if k.startswith("e|")):
        mine, theirs = one[name], other[name]
        assert mine.keys() == theirs.keys(), name
        for field in mine:
            if field.endswith("_seen"):
                assert mine[field] == theirs[field], (name, field)
            else:
                assert np.allclose(decode(mine[field]), decode(theirs[field]), atol=0.02), name


async def test_a_tool_that_starts_failing_loses_its_rank_within_a_few_executions(
    pipeline_factory: PipelineFactory,
) -> None:
    pipeline = learning_pipeline(pipeline_factory)
    await ensure_topics(pipeline.settings)
    port = free_port()
    pipeline.start_worker(web_port=port)
    text = "get the stock quote for ACME"
    async with ToolwiseClient(pipeline.settings) as client:
        for i in range(6):  # warm-up while the quotes tool still works
            outcome = await pipeline.run(
                client, IntentSubmitted(text=f"get the stock quote for T{i}")
            )
            assert isinstance(outcome, IntentCompleted), outcome
        await asyncio.sleep(BATCH_S * 3)
        assert top(await recommend(port, text)) == QUOTES

        failures_seen = 0
        flipped_after = None
        for i in range(60):
            outcome = await pipeline.run(
                client, IntentSubmitted(text=f"get the stock quote for X{i}")
            )
            # The broken tool's step falls back to the next recommended tool.
            assert isinstance(outcome, IntentCompleted), outcome
            if outcome.results[0].tool != QUOTES and outcome.attempts > 1:
                failures_seen += 1
            await asyncio.sleep(BATCH_S * 3)
            if failures_seen and top(await recommend(port, text)) != QUOTES:
                flipped_after = failures_seen
                break
        assert top(await recommend(port, text)) == MARKET
    assert flipped_after is not None, "the failing tool kept its rank for 60 intents"
    # Four failures in a row are too unlikely for a tool with 6 successes behind it, so its
    # record is cut (PosteriorConfig.change_surprise). Measured: it fell below an equally
    # described, costlier alternative at its 4th or 5th failure (18th with discounting
    # alone); the bound leaves room for exploration's luck.
    assert flipped_after <= 8


async def test_a_restarted_worker_recommends_what_it_did_before(
    pipeline_factory: PipelineFactory,
) -> None:
    pipeline = learning_pipeline(pipeline_factory)
    await ensure_topics(pipeline.settings)
    port = free_port()
    first = pipeline.start_worker(web_port=port)
    texts = ["get the stock quote for ACME", "weather forecast for Oslo", "market prices today"]
    async with ToolwiseClient(pipeline.settings) as client:
        intents = [IntentSubmitted(text=f"{t} {i}") for i in range(8) for t in texts]
        for intent in intents:
            await client.submit(intent)
        await pipeline.outcomes(client, [i.intent_id for i in intents])
    await settle(pipeline.settings)
    # Once failed here: the view answered before its replica had read the last learning.
    ends = await executions_ends(pipeline.settings)
    await view_caught_up(port, ends)
    # Evidence decays with wall-clock time (15 min half-life): both views rank at one time,
    # so the restart's duration (over a minute on a loaded machine) cannot move the scores.
    at = str(time.time())
    before = [await recommend(port, t, at=at) for t in texts]
    assert first.stop(signal.SIGTERM) == 0
    pipeline.start_worker(web_port=port)
    await view_caught_up(port, ends)
    after = [await recommend(port, t, at=at) for t in texts]
    for b, a in zip(before, after, strict=True):
        assert [r["tool"] for r in a["recommendations"]] == [
            r["tool"] for r in b["recommendations"]
        ]
        for rb, ra in zip(b["recommendations"], a["recommendations"], strict=True):
            assert ra["score"] == pytest.approx(rb["score"], rel=1e-6, abs=1e-6)


def toolwise(pipeline: Pipeline, *args: str) -> str:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "interfaces", *args],
        cwd=PROJECT_ROOT,
        env=pipeline.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


async def test_two_workers_agree_and_a_replayed_generation_equals_the_live_one(
    pipeline_factory: PipelineFactory,
) -> None:
    pipeline = learning_pipeline(pipeline_factory)
    settings = pipeline.settings
    await ensure_topics(settings)
    ports = [free_port(), free_port()]
    for port in ports:
        pipeline.start_worker(web_port=port)
    # No wait for a stable group: the second worker joins while work flows.
    texts = ["get the stock quote for ACME", "weather forecast for Oslo", "market prices today"]
    async with ToolwiseClient(settings) as client:
        await pipeline.run(client, IntentSubmitted(text="weather forecast for Rome"))
        intents = [IntentSubmitted(text=f"{t} {i}") for i in range(10) for t in texts]
        for intent in intents:
            await client.submit(intent)
        await pipeline.outcomes(client, [i.intent_id for i in intents])

        live = await settle(settings)
        assert any(k.startswith("m|") for k in live)
        await assert_workers_agree(ports, texts)

        # Rebuild generation 1 from offset 0 while both workers keep serving.
        await asyncio.to_thread(toolwise, pipeline, "replay")
        rebuilt = await settle(settings, generation=1)
        assert any(k.startswith("e|") for k in live)  # the sentence model is in use
        assert_same_state(rebuilt, live)

        more = [IntentSubmitted(text=f"{t} later {i}") for i in range(3) for t in texts]
        for intent in more:
            await client.submit(intent)
        await pipeline.outcomes(client, [i.intent_id for i in more])
        # The learners keep the replayed generation current after the handoff.
        assert_same_state(
            await settle(settings, generation=1), await settle(settings, generation=0)
        )

        await asyncio.to_thread(toolwise, pipeline, "generation", "use", "1")
        for port in ports:
            for _ in range(50):
                if (await recommend(port, texts[0]))["generation"] == 1:
                    break
                await asyncio.sleep(0.2)
            assert (await recommend(port, texts[0]))["generation"] == 1
        status = json.loads(await asyncio.to_thread(toolwise, pipeline, "generation", "status"))
        assert status["active"] == 1
