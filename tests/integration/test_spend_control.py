"""Spend control on real Kafka and Redis: budget denial with its numbers, spend kept over a
worker restart, the plan cache and the result cache."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from interfaces.cli_budget import budget_status
from interfaces.client import ToolwiseClient
from models import IntentCompleted, IntentFailed, IntentSubmitted
from models.budgets import BudgetLimitSet
from streams.topics import ensure_topics
from tests.integration.conftest import PipelineFactory

pytestmark = pytest.mark.integration

TOOLS = """
[servers.testing]
transport = "stdio"
command = ["python", "-m", "tools.servers.testing"]

[servers.testing.tools.echo]
cost_per_call = 1.0
cacheable = true
"""


def echo(text: str, user: str = "ann", **extra: object) -> IntentSubmitted:
    return IntentSubmitted(
        text=f"echo {text}",
        tool="testing.echo",
        arguments={"text": text},
        context={"user": user},
        **extra,  # type: ignore[arg-type]
    )


async def test_a_user_budget_denies_with_its_numbers_and_survives_a_restart(
    pipeline_factory: PipelineFactory, tmp_path: Path
) -> None:
    tools = tmp_path / "tools.toml"
    tools.write_text(TOOLS)
    pipeline = pipeline_factory(tools, plan_cache_enabled=False, result_cache_enabled=False)
    await ensure_topics(pipeline.settings)
    worker = pipeline.start_worker()
    async with ToolwiseClient(pipeline.settings) as client:
        limit = BudgetLimitSet(scope="user:ann", limit=2.0)
        await client.publish_raw("budget-limits", limit.to_bytes(), key=b"user:ann")
        for n in range(2):
            done = await pipeline.run(client, echo(f"paid {n}"))
            assert isinstance(done, IntentCompleted), done
        refused = await pipeline.run(client, echo("one too many"))
        assert isinstance(refused, IntentFailed) and refused.error_kind == "budget_exceeded"
        assert refused.budget is not None and refused.budget.scope == "user:ann"
        # The second call's settlement may still be on its way: it counts as spent or reserved.
        numbers = refused.budget
        assert (numbers.limit, numbers.spent + numbers.reserved, numbers.remaining) == (2, 2, 0)
        assert numbers.requested == 1.0 and numbers.window_start is not None
        # Another user is not held back by ann's budget.
        assert isinstance(await pipeline.run(client, echo("bob's", user="bob")), IntentCompleted)

        (shown,) = await budget_status(pipeline.settings, "user:ann")
        assert (shown["limit"], shown["spent"], shown["reserved"]) == (2.0, 2.0, 0.0)
        assert shown["window_start"] < shown["window_end"]

        # A new worker (fresh local state) recovers today's spend from the changelog.
        worker.stop()
        pipeline.start_worker()
        again = await pipeline.run(client, echo("after the restart"))
        assert isinstance(again, IntentFailed) and again.error_kind == "budget_exceeded", again


async def test_identical_intents_are_answered_from_the_caches(
    pipeline_factory: PipelineFactory, tmp_path: Path
) -> None:
    tools = tmp_path / "tools.toml"
    tools.write_text(TOOLS)
    pipeline = pipeline_factory(tools)
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
    await asyncio.sleep(1.5)  # the workers add their counts to Redis every second
    from interfaces.cli_cache import cache_stats

    stats = await cache_stats(pipeline.settings)
    assert stats["tools"]["testing.echo"]["hits"] >= 1
    assert stats["plan_cache"]["hits"] >= 1
