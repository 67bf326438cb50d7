"""The planner's own thread for the sentence model, so planning never waits behind learning."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

# One thread: planning embeds one intent's texts at a time anyway. In asyncio's default pool
# the planner's texts queued behind the learner's batches of 64 (about a second under load)
# and spent the whole planning budget waiting.
_PLANNER_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="planner-model")


async def in_planner_thread(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in the planner's thread, awaited without blocking the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_PLANNER_THREAD, fn, *args)
