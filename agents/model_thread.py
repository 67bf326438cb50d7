"""The planner's own thread for the sentence model, so planning never waits behind learning."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from agents.plan_builder import clauses, ranked_texts
from learning.embedding import TextEncoder
from models import IntentSubmitted

T = TypeVar("T")

# One thread: planning embeds one intent's texts at a time anyway. In asyncio's default pool
# the planner's texts queued behind the learner's batches of 64 (about a second under load)
# and spent the whole planning budget waiting.
_PLANNER_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="planner-model")


async def in_planner_thread(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in the planner's thread, awaited without blocking the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_PLANNER_THREAD, fn, *args)


async def embed_ahead(
    encoder: TextEncoder, intent: IntentSubmitted, max_steps: int, timeout_s: float
) -> None:
    """Embed every text the planner may rank for ``intent`` in the planner's thread, so that
    the ranking (on the event loop) finds them in the encoder's cache: the sentence model is
    planning's costly part (~10 ms a text). Nothing for a named tool, nor for more requests
    than ``max_steps`` (planning refuses those before any ranking). TimeoutError after
    ``timeout_s`` (the thread finishes the batch it started)."""
    if intent.tool is not None or len(clauses(intent.text)) > max_steps:
        return
    texts = ranked_texts(intent.text)
    await asyncio.wait_for(in_planner_thread(encoder.embed, texts), max(0.0, timeout_s))
