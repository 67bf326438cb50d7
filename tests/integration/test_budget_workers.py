"""Two workers share one user's budget: the scope's one owner decides every reservation, so
concurrent intents planned on either worker get exactly what the limit allows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from interfaces.cli_budget import budget_status
from interfaces.client import ToolwiseClient
from models import IntentCompleted, IntentFailed
from models.budgets import BudgetLimitSet
from streams.topics import ensure_topics
from tests.integration.conftest import PipelineFactory
from tests.integration.test_spend_control import TOOLS, echo

pytestmark = pytest.mark.integration


async def test_two_workers_share_one_users_budget(
    pipeline_factory: PipelineFactory, tmp_path: Path
) -> None:
    tools = tmp_path / "tools.toml"
    tools.write_text(TOOLS)
    pipeline = pipeline_factory(
        tools,
        partitions=2,
        plan_cache_enabled=False,
        result_cache_enabled=False,
        # The two workers may rebalance while the intents are in flight: wait it out.
        budget_reserve_timeout_s=60.0,
    )
    await ensure_topics(pipeline.settings)
    pipeline.start_worker()
    pipeline.start_worker()
    async with ToolwiseClient(pipeline.settings) as client:
        limit = BudgetLimitSet(scope="user:ann", limit=3.0)
        await client.publish_raw("budget-limits", limit.to_bytes(), key=b"user:ann")
        # Both workers up and owning their partitions: intents of another user on both.
        warm = [echo(f"warm {n}", user="bob") for n in range(4)]
        await asyncio.gather(*(client.submit(w) for w in warm))
        await pipeline.outcomes(client, [w.intent_id for w in warm])
        intents = [echo(f"paid {n}") for n in range(8)]  # keyed by id: spread over both
        await asyncio.gather(*(client.submit(i) for i in intents))
        outcomes = await pipeline.outcomes(client, [i.intent_id for i in intents])
    done = [o for o in outcomes.values() if isinstance(o, IntentCompleted)]
    refused = [
        o for o in outcomes.values()
        if isinstance(o, IntentFailed) and o.error_kind == "budget_exceeded"
    ]  # fmt: skip
    assert (len(done), len(refused)) == (3, 5), outcomes
    await asyncio.sleep(2.0)  # the last settlement reaches the spend table's changelog
    (ann,) = await budget_status(pipeline.settings, "user:ann")
    assert (ann["spent"], ann["reserved"], ann["remaining"]) == (3.0, 0.0, 0.0)
