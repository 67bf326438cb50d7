"""Every Toolwise topic: names, partitions, configs, and their creation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

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
    full_name: str | None = None  # a topic not named after the prefix (a table's changelog)

    def name(self, settings: Settings) -> str:
        return self.full_name or settings.topic_name(self.suffix)


def _big(settings: Settings) -> dict[str, str]:
    # Inbound topics accept more than the worker does, so an oversized
    # message reaches the worker and is dead-lettered instead of refused.
    return {"max.message.bytes": str(8 * settings.max_message_bytes)}


def topic_specs(settings: Settings) -> list[TopicSpec]:
    return [
        TopicSpec(
            "intents", "IntentSubmitted, keyed by intent id; published by clients.", _big(settings)
        ),
        TopicSpec("plans", "PlanCreated, keyed by intent id; execute-plans runs each."),
        TopicSpec(
            "tool-results",
            "ToolCallCompleted per step, keyed by intent id (for observers).",
            _big(settings),
        ),
        TopicSpec(
            "outcomes", "IntentCompleted | IntentFailed, keyed by intent id.", _big(settings)
        ),
        TopicSpec(
            "executions",
            "ExecutionRecorded per attempt, keyed by tool; the learning's history.",
            {"retention.ms": str(settings.executions_retention_ms), "retention.bytes": "-1"},
        ),
        TopicSpec(
            "progress",
            "ToolCallProgressed, keyed by intent id: tools' progress notifications, throttled.",
            # Progress matters while an intent runs: an hour covers any wait an interface allows.
            {"retention.ms": str(3600 * 1000)},
        ),
        TopicSpec(
            "cancellations",
            "CancellationRequested, keyed by intent id; every worker reads all of it.",
            # As long as a worker may still be handed the intent (state_retention_s, 1 h).
            {"retention.ms": str(int(settings.state_retention_s * 1000) or 3600 * 1000)},
        ),
        TopicSpec(
            "learning-control",
            "Which learned-state generation planners use (key 'active'); compacted.",
            {"cleanup.policy": "compact", "retention.ms": "-1"},
            partitions=1,
        ),
        TopicSpec(
            "experiments",
            "ExperimentCreated | ExperimentStopped, keyed by experiment id; compacted.",
            {"cleanup.policy": "compact", "retention.ms": "-1"},
            partitions=1,
        ),
        TopicSpec(
            "registry",
            "The tool registry: versions, nodes, routing changes, verdicts; compacted "
            "(tools.mesh.catalog folds it).",
            {"cleanup.policy": "compact", "retention.ms": "-1"},
            partitions=1,
        ),
        TopicSpec(
            "node-probes",
            "NodeProbed, keyed by node: probes and calls' outcomes; kept a day.",
            {"retention.ms": str(24 * 3600 * 1000)},
        ),
        TopicSpec(
            "generated-tools",
            "GeneratedToolSubmitted, keyed by tool name; judged and registered at run time.",
            _big(settings),
        ),
        TopicSpec(
            "sessions",
            "SessionStepCompleted, keyed by session: what pre-warming learns from.",
            _big(settings),
        ),
        TopicSpec(
            "budget-limits",
            "BudgetLimitSet, keyed by scope; compacted, read whole by every worker.",
            {"cleanup.policy": "compact", "retention.ms": "-1"},
            partitions=1,
        ),
        TopicSpec(
            "budget-ledger",
            "ChargeBudget (reserve | settle), keyed by scope key: one owner per scope.",
            # Commands matter until their owner has read them; two budget days is ample.
            {"retention.ms": str(max(2 * settings.budget_window_s, 3600) * 1000)},
        ),
        TopicSpec(
            "budget-decisions",
            "BudgetDecided, keyed by intent id; every worker reads it (no group).",
            # A decision is awaited for at most budget_reserve_timeout_s; an hour is ample.
            {"retention.ms": str(3600 * 1000)},
        ),
        TopicSpec(
            "budget-alerts",
            "BudgetThresholdReached, keyed by scope: once per scope and budget day.",
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
tool_results_topic = _topic("tool-results")
outcomes_topic = _topic("outcomes")
executions_topic = _topic("executions")
dead_letters_topic = _topic("dead-letters")
sessions_topic = _topic("sessions")
node_probes_topic = _topic("node-probes")
generated_tools_topic = _topic("generated-tools")
# One partition: every worker folds the registry's records in the same order.
registry_topic = app.topic(
    settings.topic_name("registry"),
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
    partitions=1,
)
progress_topic = _topic("progress")
cancellations_topic = _topic("cancellations")
budget_ledger_topic = _topic("budget-ledger")
budget_decisions_topic = _topic("budget-decisions")
budget_alerts_topic = _topic("budget-alerts")

# Experiment statistics and session steps join each intent's plan with its step results:
# both keyed by intent id, so one intent's records meet in one partition.
plan_results_topic = app.topic(
    settings.topic_name("plans"),
    settings.topic_name("tool-results"),
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
)


class TopicMismatch(RuntimeError):
    """A topic exists with a partition count Toolwise cannot work with."""


def changelog_specs(settings: Settings) -> list[TopicSpec]:
    """The changelog topic of every table registered on the app (import the agents first), and
    Faust's leader topic: every topic Faust would otherwise declare itself (it does not,
    ``topic_allow_declare=False`` in ``streams.app``).

    Created before the agents start: Faust created them lazily at assignment, and in 1 of 12
    fresh starts the broker did not list a new changelog yet, so every table write raised
    PartitionsMismatch and records were lost.
    """
    specs = []
    for table in app.tables.values():
        name = table.changelog_topic.get_topic_name()
        specs.append(
            TopicSpec(
                name.removeprefix(f"{settings.topic_prefix}-"),
                f"changelog of table {table.name}",
                {
                    "cleanup.policy": "compact",
                    **{k: str(v) for k, v in table.extra_topic_configs.items()},
                },
                partitions=table.partitions or settings.partitions,
                full_name=name,
            )
        )
    # Faust's leader assignor elects the partition-assignment leader through this topic.
    leader = f"{app.conf.id}-__assignor-__leader"
    specs.append(
        TopicSpec(
            leader.removeprefix(f"{settings.topic_prefix}-"),
            "Faust's leader election",
            partitions=1,
            full_name=leader,
        )
    )
    return specs


async def ensure_topics(
    settings: Settings, timeout_s: float = 30.0, extra: Sequence[TopicSpec] = ()
) -> list[str]:
    """Create every Toolwise topic (and ``extra``) that does not exist yet; return those created.

    Raises TopicMismatch when an existing topic has another partition count than Toolwise
    expects: keyed topics and their tables' changelogs must agree, or every table write fails.
    """
    specs = [*topic_specs(settings), *extra]
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=10_000
    )
    await asyncio.wait_for(admin.start(), timeout_s)
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                spec.name(settings),
                num_partitions=spec.partitions or settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=spec.configs,
            )
            for spec in specs
            if spec.name(settings) not in existing
        ]
        for new in wanted:
            try:
                await admin.create_topics([new])
                created.append(new.name)
            except TopicAlreadyExistsError:
                pass  # another worker won the race
        names = [spec.name(settings) for spec in specs]
        await _until_served(admin, names, timeout_s)
        _check_partitions(settings, specs, await admin.describe_topics(names))
    finally:
        await admin.close()
    if created:
        log.info("created topics: %s", ", ".join(created))
    return created


def _check_partitions(
    settings: Settings, specs: Sequence[TopicSpec], described: Sequence[dict[str, Any]]
) -> None:
    found = {d["topic"]: len(d["partitions"]) for d in described}
    wrong = [
        (spec.name(settings), found[spec.name(settings)], spec.partitions or settings.partitions)
        for spec in specs
        if found.get(spec.name(settings), 0) != (spec.partitions or settings.partitions)
    ]
    if wrong:
        lines = [f"  {name}: {have} partitions, expected {want}" for name, have, want in wrong]
        raise TopicMismatch(
            "topics exist with the wrong number of partitions (a client that publishes before "
            "the first worker starts lets a broker with auto.create.topics.enable=true create "
            "them with its default):\n"
            + "\n".join(lines)
            + "\nDelete them (kafka-topics.sh --bootstrap-server HOST --delete --topic NAME) "
            "or use another TOOLWISE_TOPIC_PREFIX and TOOLWISE_APP_ID, then start the worker "
            "again. Disable auto.create.topics.enable on the broker so it cannot happen again."
        )


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
