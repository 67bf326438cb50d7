"""A stopped worker leaves its tool calls in flight to the next one: they run again, not fail."""

from __future__ import annotations

import asyncio
import signal

import pytest

from interfaces.client import ToolwiseClient
from models import IntentCompleted, IntentSubmitted, RetryPolicy
from streams.topics import ensure_topics
from tests.integration.conftest import PipelineFactory

pytestmark = pytest.mark.integration


async def test_a_call_in_flight_at_sigterm_is_run_again_by_the_next_worker(
    pipeline_factory: PipelineFactory,
) -> None:
    pipeline = pipeline_factory()
    await ensure_topics(pipeline.settings)
    first = pipeline.start_worker()
    async with ToolwiseClient(pipeline.settings) as client:
        ready = await pipeline.run(client, IntentSubmitted(text="calculate 1 + 1"))
        assert isinstance(ready, IntentCompleted), ready
        sleep = IntentSubmitted(
            text="x",
            tool="testing.sleep",
            arguments={"seconds": 6},
            policy=RetryPolicy(timeout_s=60, max_attempts=1),
        )
        await client.submit(sleep)
        await asyncio.sleep(3)  # the call is in flight
        code = await asyncio.to_thread(first.stop, signal.SIGTERM, 60.0)
        assert code == 0, first.log_tail()
        # The same data dir: this is the same worker restarted.
        pipeline.workers.remove(first)
        pipeline.start_worker()
        outcome = (await pipeline.outcomes(client, [sleep.intent_id]))[sleep.intent_id]
    assert isinstance(outcome, IntentCompleted), outcome
    assert outcome.results[0].output == {"slept_s": 6.0}
