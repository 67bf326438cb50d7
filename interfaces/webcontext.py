"""What every handler on the web port shares: settings, the feed's views, and how to publish."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from agents.runtime import Runtime, get_runtime
from interfaces.livestats import LiveStats
from interfaces.metrics import Metrics
from interfaces.watch import IntentWatch
from models import CancellationRequested, IntentSubmitted
from streams.settings import Settings

if TYPE_CHECKING:
    from interfaces.feed import Feed

Publish = Callable[[str, bytes, bytes], Awaitable[None]]
"""``async (topic suffix, key, value)``: the worker's producer (a test's fake)."""


@dataclass
class WebContext:
    settings: Settings
    publish: Publish
    watch: IntentWatch
    stats: LiveStats
    metrics: Metrics = field(default_factory=Metrics)
    feed: Feed | None = None
    started: float = field(default_factory=time.time)

    async def submit(self, intent: IntentSubmitted) -> None:
        """Publish the intent; subscribe to it (``watch.subscription``) first to hear back."""
        await self.publish("intents", intent.intent_id.encode(), intent.to_bytes())

    async def cancel(self, intent_id: str, reason: str, requested_by: str) -> None:
        request = CancellationRequested(
            intent_id=intent_id, reason=reason[:1000], requested_by=requested_by
        )
        await self.publish("cancellations", intent_id.encode(), request.to_bytes())

    async def runtime(self) -> Runtime:
        """The worker's runtime: tools, learned state, recommender, content store."""
        return await get_runtime(self.settings)


def web_context(connection: HTTPConnection) -> WebContext:
    context: WebContext = connection.app.state.toolwise
    return context
