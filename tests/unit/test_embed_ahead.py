"""The planner's embedding ahead of ranking, shared by the planning agent and /api/plan."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest

from agents.model_thread import embed_ahead
from models import IntentSubmitted


class Encoder:
    name = "fake"

    def __init__(self, hold: threading.Event | None = None) -> None:
        self.texts: list[str] = []
        self.hold = hold

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.hold is not None:
            self.hold.wait(5.0)
        self.texts.extend(texts)
        return np.zeros((len(texts), 4), dtype=np.float32)


async def test_every_text_the_planner_may_rank_is_embedded() -> None:
    encoder = Encoder()
    intent = IntentSubmitted(text="convert 3 miles to km then get the weather in Paris")
    await embed_ahead(encoder, intent, max_steps=16, timeout_s=5.0)
    assert intent.text in encoder.texts
    assert "get the weather in Paris" in [t.strip() for t in encoder.texts]


async def test_nothing_is_embedded_for_a_named_tool_or_too_many_requests() -> None:
    encoder = Encoder()
    await embed_ahead(encoder, IntentSubmitted(text="x", tool="t.x"), max_steps=16, timeout_s=5)
    many = " then ".join(f"do thing {i}" for i in range(20))
    await embed_ahead(encoder, IntentSubmitted(text=many), max_steps=16, timeout_s=5.0)
    assert encoder.texts == []


async def test_a_model_slower_than_the_budget_raises_timeout() -> None:
    hold = threading.Event()
    encoder = Encoder(hold)
    with pytest.raises(TimeoutError):
        await embed_ahead(encoder, IntentSubmitted(text="slow"), max_steps=16, timeout_s=0.05)
    hold.set()
