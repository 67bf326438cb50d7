"""A budget day ends on time: spend resets at the window boundary, and the threshold alert is
raised once per scope per day (20-second budget days, so the test does not wait for midnight)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from interfaces.client import ToolwiseClient, tail
from models import IntentCompleted, IntentFailed, IntentSubmitted
from models.budgets import BudgetLimitSet
from streams.topics import ensure_topics
from tests.integration.conftest import PipelineFactory
from tests.integration.test_spend_control import TOOLS

pytestmark = pytest.mark.integration

DAY_S = 20


def echo(text: str) -> IntentSubmitted:
    return IntentSubmitted(
        text=f"echo {text}", tool="testing.echo", arguments={"text": text},
        context={"user": "ann"},
    )  # fmt: skip


async def test_spend_resets_at_the_window_boundary_and_alerts_once_a_day(
    pipeline_factory: PipelineFactory, tmp_path: Path
) -> None:
    tools = tmp_path / "tools.toml"
    tools.write_text(TOOLS)
    pipeline = pipeline_factory(
        tools,
        budget_window_s=DAY_S,
        budget_alert_share=0.4,  # passed by the first call of a day, and again by the second
        plan_cache_enabled=False,
        result_cache_enabled=False,
    )
    await ensure_topics(pipeline.settings)
    pipeline.start_worker()
    async with ToolwiseClient(pipeline.settings) as client:
        limit = BudgetLimitSet(scope="user:ann", limit=2.0)
        await client.publish_raw("budget-limits", limit.to_bytes(), key=b"user:ann")
        # Warm up on another user (the worker starts), then begin at the start of a day.
        warm = IntentSubmitted(text="echo warm", tool="testing.echo", arguments={"text": "w"})
        assert isinstance(await pipeline.run(client, warm), IntentCompleted)
        await asyncio.sleep(DAY_S - time.time() % DAY_S + 0.2)
        day = int(time.time() // DAY_S)
        for text in ("first", "second"):
            assert isinstance(await pipeline.run(client, echo(text)), IntentCompleted)
        refused = await pipeline.run(client, echo("third"))
        assert isinstance(refused, IntentFailed) and refused.error_kind == "budget_exceeded"
        assert int(time.time() // DAY_S) == day, "the machine was too slow for 20 s days"
        # The next day: the limit applies afresh.
        await asyncio.sleep(DAY_S - time.time() % DAY_S + 0.2)
        for text in ("next day", "next day, again"):
            assert isinstance(await pipeline.run(client, echo(text)), IntentCompleted)
        refused = await pipeline.run(client, echo("next day, third"))
        assert isinstance(refused, IntentFailed) and refused.error_kind == "budget_exceeded"
    alerts = [
        r async for r in tail(pipeline.settings, "budget-alerts", from_beginning=True,
                              idle_timeout_s=3.0)
    ]  # fmt: skip
    ann = [a for a in alerts if a["value"]["scope"] == "user:ann"]
    assert len(ann) == 2, ann  # once a day, though each day passed the share twice
    assert ann[0]["value"]["window_end"] <= ann[1]["value"]["window_start"]
