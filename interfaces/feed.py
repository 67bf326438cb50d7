"""The web port's view of the topics: every partition of every topic that concerns intents.

One group-less follower (``streams.follower``) per worker decodes each record once and hands it
to the intent watch (waiters, GET /api/intents/<id>), the dashboard's live stats and the tools'
examples (the A2A card). Every worker sees the whole deployment, whichever partitions its
agents own; Prometheus counters, which must count each record once, come from a grouped agent
instead (``interfaces.metrics``).
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from interfaces.livestats import LiveStats
from interfaces.metrics import Metrics
from interfaces.watch import IntentWatch, is_intent_event
from models import (
    ANY_EVENT,
    DeadLettered,
    ExecutionRecorded,
    IntentCompleted,
    IntentFailed,
    ToolCallCompleted,
)
from streams.follower import Record, TopicFollower
from streams.settings import Settings

log = logging.getLogger(__name__)

WATCHED = (
    "intents",
    "plans",
    "progress",
    "tool-results",
    "executions",
    "cancellations",
    "outcomes",
    "dead-letters",
)


@dataclass
class ToolExamples:
    """A few recent intent texts each tool served well: the examples of its A2A skill."""

    per_tool: int = 3
    max_chars: int = 200
    _texts: dict[str, deque[str]] = field(default_factory=dict)

    def on_execution(self, record: ExecutionRecorded) -> None:
        text = " ".join(record.intent_text.split())[: self.max_chars]
        if not record.ok or not text or text == record.tool:
            return  # a gateway call's text is only the tool's name
        texts = self._texts.setdefault(record.tool, deque(maxlen=self.per_tool))
        if text not in texts:
            texts.append(text)

    def of(self, tool: str) -> list[str]:
        return list(self._texts.get(tool, ()))


class Feed:
    def __init__(
        self, settings: Settings, watch: IntentWatch, stats: LiveStats, metrics: Metrics
    ) -> None:
        self.settings = settings
        self.watch = watch
        self.stats = stats
        self.metrics = metrics
        self.examples = ToolExamples()
        self.unreadable = 0
        self.version = 0  # grows with every record: the dashboard's "something changed"
        self._topics = {settings.topic_name(suffix): suffix for suffix in WATCHED}
        self._seen_outcomes: OrderedDict[str, None] = OrderedDict()
        self._follower = TopicFollower(
            settings.bootstrap_servers,
            list(self._topics),
            self.on_record,
            lookback_s=settings.feed_lookback_s,
            max_fetch_bytes=8 * settings.max_message_bytes,
            name="web-feed",
        )

    async def start(self) -> None:
        await self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()

    async def lag(self) -> dict[str, int]:
        return await self._follower.lag()

    def on_record(self, record: Record) -> None:
        if record.value is None:
            return
        try:
            event = ANY_EVENT.validate_json(record.value)
        except ValueError:
            self.unreadable += 1  # the agents dead-letter it; a view only skips it
            return
        self.metrics.observe(event, record.timestamp_ms / 1000.0)
        if is_intent_event(event):
            self.watch.observe(event, len(record.value))  # type: ignore[arg-type]
        if isinstance(event, IntentCompleted | IntentFailed):
            if self._first(event.event_id):
                self.stats.on_outcome(event)
        elif isinstance(event, ExecutionRecorded):
            self.stats.on_execution(event)
            self.examples.on_execution(event)
        elif isinstance(event, ToolCallCompleted):
            self.stats.on_tool_result(event)
        elif isinstance(event, DeadLettered):
            self.stats.on_dead_letter(event)
        self.version += 1

    def _first(self, event_id: str) -> bool:
        # After a crash an outcome may be sent twice with the same id: count it once.
        if event_id in self._seen_outcomes:
            return False
        self._seen_outcomes[event_id] = None
        while len(self._seen_outcomes) > 10 * self.watch.policy.max_intents:
            self._seen_outcomes.popitem(last=False)
        return True
