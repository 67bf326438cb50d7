"""The loop monitor counts stalls of the event loop and reports a loop that stays blocked."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from streams.loop_monitor import LoopMonitor


async def test_a_blocking_call_on_the_loop_is_counted_as_a_stall(
    caplog: pytest.LogCaptureFixture,
) -> None:
    monitor = LoopMonitor(interval_s=0.02, stall_s=0.1, blocked_s=0.2)
    task = asyncio.create_task(monitor.run())
    await asyncio.sleep(0.1)
    assert monitor.lag.stalls == 0
    with caplog.at_level(logging.WARNING, logger="streams.loop_monitor"):
        time.sleep(0.5)  # noqa: ASYNC251  (holds the loop on purpose, as a slow regex did)
        await asyncio.sleep(0.1)
    task.cancel()
    assert monitor.lag.stalls == 1 and monitor.lag.max_lag_s >= 0.4
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("event loop stalled") for m in messages)
    blocked = [m for m in messages if m.startswith("event loop blocked")]
    assert blocked and "time.sleep(0.5)" in blocked[0]  # the watcher names the frame
