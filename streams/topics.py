"""Every Toolwise topic: names, partitions, configs, and their creation."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.app import app, settings
from streams.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    suffix: str
    description: str
    configs: dict[str, str] = field(default_factory=dict)
    partitions: int | None = None  # None: settings.partitions


def _big(settings: Settings) -> dict[str, str]:
    # Inbound topics accept more than the worker does, so an oversized
    # message reaches the worker and is dead-lettered instead of refused.
    return {"max.message.bytes": str(8 * settings.max_message_bytes)}


def topic_specs(settings: Settings) -> list[TopicSpec]:
    return [
        TopicSpec(
            "intents", "IntentSubmitted, keyed by intent id; published by clients.", _big(settings)
        ),
        TopicSpec("plans", "PlanCreated, keyed by intent id."),
        TopicSpec("tool-calls", "ToolCallRequested, keyed by intent id.", _big(settings)),
        TopicSpec("tool-results", "ToolCallCompleted, keyed by intent id.", _big(settings)),
        TopicSpec(
            "outcomes", "IntentCompleted | IntentFailed, keyed by intent id.", _big(settings)
        ),
        TopicSpec(
            "executions",
            "ExecutionRecorded per attempt, keyed by tool; the learning's history.",
            {"retention.ms": str(settings.executions_retention_ms), "retention.bytes": "-1"},
        ),
        TopicSpec(
            "learning-control",
            "Which learned-state generation planners use (key 'active'); compacted.",
            {"cleanup.policy": "compact", "retention.ms": "-1"},
            partitions=1,
        ),
        TopicSpec(
            "dead-letters",
            "DeadLettered: bad input with reason, source offset and raw bytes.",
            {"max.message.bytes": str(4 * 8 * settings.max_message_bytes), "retention.ms": "-1"},
        ),
    ]


def _topic(suffix: str):  # type: ignore[no-untyped-def]
    return app.topic(
        settings.topic_name(suffix),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )


intents_topic = _topic("intents")
plans_topic = _topic("plans")
tool_calls_topic = _topic("tool-calls")
tool_results_topic = _topic("tool-results")
outcomes_topic = _topic("outcomes")
executions_topic = _topic("executions")
dead_letters_topic = _topic("dead-letters")

# The completer reads plans and step results together: both keyed by intent
# id with the same partition count, so one intent's events meet in one place.
progress_topic = app.topic(
    settings.topic_name("plans"),
    settings.topic_name("tool-results"),
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
)


async def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create every Toolwise topic that does not exist yet; return the ones created."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=10_000
    )
    await asyncio.wait_for(admin.start(), timeout_s)
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                settings.topic_name(spec.suffix),
                num_partitions=spec.partitions or settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=spec.configs,
            )
            for spec in topic_specs(settings)
            if settings.topic_name(spec.suffix) not in existing
        ]
        for new in wanted:
            try:
                await admin.create_topics([new])
                created.append(new.name)
            except TopicAlreadyExistsError:
                pass  # another worker won the race
        if created:
            await _until_served(admin, created, timeout_s)
    finally:
        await admin.close()
    if created:
        log.info("created topics: %s", ", ".join(created))
    return created


async def _until_served(admin: AIOKafkaAdminClient, topics: list[str], timeout_s: float) -> None:
    """Wait until the broker's metadata lists *topics* with a leader for every partition.

    The controller acknowledges a creation before the broker serves it. A broker busy
    loading thousands of partitions after a restart took 5 s to list a new topic, and a
    client that looked it up in between was told it does not exist.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        pending = [
            t["topic"]
            for t in await admin.describe_topics(topics)
            if t["error_code"] != 0
            or not t["partitions"]
            or any(p["error_code"] != 0 or p["leader"] < 0 for p in t["partitions"])
        ]
        if not pending:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(
                f"created topics not served by the broker after {timeout_s:.0f} s: "
                + ", ".join(pending)
            )
        await asyncio.sleep(0.1)
