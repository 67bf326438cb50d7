"""Budgets on real Kafka: denial with its numbers, another user unaffected, `toolwise budget
show`, and today's spend kept over a worker restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from interfaces.cli_budget import budget_status
from interfaces.client import ToolwiseClient
from models import IntentCompleted, IntentFailed, IntentSubmitted
from models.budgets import BudgetLimitSet, ChargeBudget
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

        # A settlement read twice (a redelivery) is charged once.
        settle = ChargeBudget(
            action="settle", call_id="redelivered", scope="user:bob", scope_key="user:bob",
            amount=0.5, window_at=time.time(),
        )  # fmt: skip
        for _ in range(2):
            await client.publish_raw("budget-ledger", settle.to_bytes(), key=b"user:bob")
        await asyncio.sleep(2.0)
        (bob,) = await budget_status(pipeline.settings, "user:bob")
        assert (bob["spent"], bob["calls"]) == (1.5, 2)

        # A new worker (fresh local state) recovers today's spend from the changelog.
        worker.stop()
        pipeline.start_worker()
        again = await pipeline.run(client, echo("after the restart"))
        assert isinstance(again, IntentFailed) and again.error_kind == "budget_exceeded", again
