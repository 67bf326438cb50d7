"""The result and plan caches on real Kafka and Redis: an identical intent answered from the
first one's outcome (and not after the plan cache's TTL), a step served from the result cache,
bypass, and the statistics."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from interfaces.cli_cache import cache_stats
from interfaces.client import ToolwiseClient
from models import IntentCompleted, IntentSubmitted
from streams.topics import ensure_topics
from tests.integration.conftest import PipelineFactory
from tests.integration.test_spend_control import TOOLS, echo

pytestmark = pytest.mark.integration

PLAN_TTL_S = 4.0


async def test_identical_intents_are_answered_from_the_caches(
    pipeline_factory: PipelineFactory, tmp_path: Path
) -> None:
    tools = tmp_path / "tools.toml"
    tools.write_text(TOOLS)
    pipeline = pipeline_factory(tools, plan_cache_ttl_s=PLAN_TTL_S)
    await ensure_topics(pipeline.settings)
    pipeline.start_worker()
    word = uuid.uuid4().hex
    async with ToolwiseClient(pipeline.settings) as client:
        first = await pipeline.run(client, echo(word))
        assert isinstance(first, IntentCompleted) and not first.results[0].cached
        # Same intent: answered from the first one's outcome, nothing planned or run.
        second = await pipeline.run(client, echo(word))
        assert isinstance(second, IntentCompleted) and second.from_cache
        assert second.cached_from == first.intent_id and second.cost == 0.0
        # Other words, same call: planned, and the step is a result-cache hit.
        other = IntentSubmitted(
            text=f"repeat {word}", tool="testing.echo", arguments={"text": word},
            context={"user": "ann"},
        )  # fmt: skip
        third = await pipeline.run(client, other)
        assert isinstance(third, IntentCompleted) and not third.from_cache
        assert third.results[0].cached and third.results[0].output == first.results[0].output
        # Bypass: the tool runs again.
        fresh = await pipeline.run(client, echo(word, cache="bypass"))
        assert isinstance(fresh, IntentCompleted)
        assert not fresh.from_cache and not fresh.results[0].cached
        # After the plan cache's TTL the intent is planned again (its step still a hit).
        await asyncio.sleep(PLAN_TTL_S)
        later = await pipeline.run(client, echo(word))
        assert isinstance(later, IntentCompleted) and not later.from_cache
        assert later.results[0].cached
    await asyncio.sleep(1.5)  # the workers add their counts to Redis every second
    stats = await cache_stats(pipeline.settings)
    assert stats["tools"]["testing.echo"]["hits"] >= 1
    assert stats["plan_cache"]["hits"] >= 1
