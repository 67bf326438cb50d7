"""`toolwise experiment create|stop|show` and `toolwise learn strategies|evaluate|prewarm`.

Experiments are records of the compacted experiments topic, keyed by id; their statistics
are the workers' changelog-backed tables, read here from their changelog topics and merged
over partitions. `learn evaluate` replays the recorded plans and execution records.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.follower import topic_partitions
from streams.settings import Settings
from tables.replica import ChangelogReplica

if TYPE_CHECKING:
    from models.experiments import Experiment, Variant


def register(sub: Any) -> None:
    experiment = sub.add_parser("experiment", help="A/B tests of strategies: create, stop, show")
    actions = experiment.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="start an experiment now")
    create.add_argument("experiment_id")
    create.add_argument(
        "--variant", action="append", required=True, metavar="NAME=STRATEGY:SHARE",
        help="e.g. control=balanced:0.5 (at least two; the first is the control)",
    )  # fmt: skip
    create.add_argument("--metric", default="utility",
                        choices=["success", "cost", "quality", "latency", "utility"])  # fmt: skip
    create.add_argument("--description", default="")
    create.set_defaults(run=_create)
    stop = actions.add_parser("stop", help="stop assigning plans to an experiment")
    stop.add_argument("experiment_id")
    stop.set_defaults(run=_stop)
    show = actions.add_parser("show", help="per-variant statistics, verdicts and SRM (JSON)")
    show.add_argument("experiment_id", nargs="?", help="default: every experiment")
    show.set_defaults(run=_show)

    learn = sub.add_parser("learn", help="strategies, offline evaluation, pre-warming")
    learn_actions = learn.add_subparsers(dest="action", metavar="ACTION", required=True)
    strategies = learn_actions.add_parser("strategies", help="list the recommender's strategies")
    strategies.set_defaults(run=_strategies)
    evaluate = learn_actions.add_parser(
        "evaluate", help="estimate a strategy's value on recorded history (IPS and DR)"
    )
    evaluate.add_argument("strategy")
    evaluate.add_argument(
        "--since", type=_when, default=0.0,
        help="evaluate plans from then on (Unix seconds or ISO 8601); state is learned from all",
    )  # fmt: skip
    evaluate.add_argument("--metric", default="utility",
                          choices=["success", "cost", "quality", "latency", "utility"])  # fmt: skip
    evaluate.add_argument("--clip", type=float, default=20.0, help="largest importance weight")
    evaluate.set_defaults(run=_evaluate)
    prewarm = learn_actions.add_parser("prewarm", help="session predictions and pre-warm counts")
    prewarm.set_defaults(run=_prewarm)


def _when(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected Unix seconds or an ISO 8601 time such as 2026-11-25T10:00, got {text!r}"
        ) from None


def _variants(items: list[str]) -> list[Variant]:
    from learning.strategies import get_strategy
    from models.experiments import Variant

    variants = []
    for item in items:
        name, _, rest = item.partition("=")
        strategy, _, share = rest.partition(":")
        if not name or not strategy or not share:
            raise SystemExit(f"--variant wants NAME=STRATEGY:SHARE, got {item!r}")
        try:
            get_strategy(strategy)
            value = float(share)
        except ValueError as exc:
            raise SystemExit(f"--variant {item!r}: {exc}") from None
        variants.append(Variant(name=name, strategy=strategy, share=value))
    return variants


def _create(args: argparse.Namespace, settings: Settings) -> int:
    from pydantic import ValidationError

    from models.experiments import Experiment, ExperimentCreated

    try:
        experiment = Experiment(
            experiment_id=args.experiment_id,
            variants=_variants(args.variant),
            metric=args.metric,
            description=args.description,
            started_at=time.time(),
        )
    except ValidationError as exc:
        raise SystemExit(f"invalid experiment: {exc}") from None

    async def go() -> None:
        from streams.topics import ensure_topics

        await ensure_topics(settings)
        existing = await read_experiments(settings)
        if experiment.experiment_id in existing:
            raise SystemExit(
                f"experiment {experiment.experiment_id!r} exists already; pick another id "
                "(an id fixes the assignment, so it is never reused)"
            )
        await _publish(settings, ExperimentCreated(experiment=experiment))

    asyncio.run(go())
    print(json.dumps(experiment.model_dump(mode="json"), indent=2))
    return 0


def _stop(args: argparse.Namespace, settings: Settings) -> int:
    from models.experiments import ExperimentStopped

    async def go() -> dict[str, Any]:
        existing = await read_experiments(settings)
        experiment = existing.get(args.experiment_id)
        if experiment is None:
            known = ", ".join(sorted(existing)) or "none"
            raise SystemExit(f"no experiment {args.experiment_id!r}; known: {known}")
        if experiment.stopped_at is not None:
            return experiment.model_dump(mode="json")
        stopped = experiment.model_copy(update={"stopped_at": time.time()})
        await _publish(settings, ExperimentStopped(experiment=stopped))
        return stopped.model_dump(mode="json")

    print(json.dumps(asyncio.run(go()), indent=2))
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(asyncio.run(experiment_reports(settings, args.experiment_id)), indent=2))
    return 0


async def experiment_reports(settings: Settings, experiment_id: str | None) -> dict[str, Any]:
    """Each experiment's report (``learning.experiments.report``), by id."""
    from learning.experiments import report
    from tables.experiments import changelog_topic_names

    experiments = await read_experiments(settings)
    if experiment_id is not None:
        if experiment_id not in experiments:
            known = ", ".join(sorted(experiments)) or "none"
            raise SystemExit(f"no experiment {experiment_id!r}; known: {known}")
        experiments = {experiment_id: experiments[experiment_id]}
    stats = await read_changelog(
        settings, changelog_topic_names(settings.app_id)["experiment-stats"]
    )
    shards: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for key, value in stats.items():
        _, _, name = key.partition("|")  # 'p<N>|<experiment>|<variant>'
        owner, _, variant = name.rpartition("|")
        shards[owner][variant].append(value)
    now = time.time()
    out = {}
    for eid, experiment in sorted(experiments.items()):
        shown = report(experiment, shards.get(eid, {}))
        shown["status"] = "running" if experiment.active(now) else "stopped"
        out[eid] = shown
    return out


def _strategies(args: argparse.Namespace, settings: Settings) -> int:
    from learning.strategies import STRATEGIES

    for strategy in STRATEGIES.values():
        default = " (default)" if strategy.name == settings.recommend_strategy else ""
        print(f"{strategy.name:13} {strategy.description}{default}")
    return 0


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from learning.strategies import UnknownStrategy, get_strategy

    try:
        strategy = get_strategy(args.strategy)
    except UnknownStrategy as exc:
        raise SystemExit(str(exc)) from None
    print(json.dumps(asyncio.run(evaluate_history(settings, strategy.name, args)), indent=2))
    return 0


async def evaluate_history(
    settings: Settings, strategy_name: str, args: argparse.Namespace
) -> dict[str, Any]:
    from agents.ranking import text_encoder
    from learning import Recommender
    from learning.evaluation import replay_decisions
    from learning.ope import OpeConfig, OpeError, evaluate
    from learning.strategies import get_strategy
    from models import ExecutionRecorded, PlanCreated
    from models.codec import InvalidMessage, decode
    from models.experiments import Metric
    from tools.registry import ToolRegistry

    def decoded(values: Iterable[bytes | None], model: Any) -> list[Any]:
        found = []
        for raw in values:
            try:
                found.append(decode(raw, model, settings.max_message_bytes))
            except InvalidMessage:
                continue  # the workers dead-lettered it
        return found

    plans = decoded(await read_topic(settings, settings.topic_name("plans")), PlanCreated)
    executions = decoded(
        await read_topic(settings, settings.topic_name("executions")), ExecutionRecorded
    )
    async with ToolRegistry.from_file(settings.tools_config) as registry:
        replayed = replay_decisions(
            plans, executions, get_strategy(strategy_name),
            Recommender(encoder=text_encoder(settings)), registry.specs(),
            since=args.since, metric=Metric(args.metric),
        )  # fmt: skip
    result: dict[str, Any] = {
        "strategy": strategy_name,
        "metric": args.metric,
        "since": args.since,
        "plans_read": len(plans),
        "executions_read": len(executions),
        "logging_strategies": dict(replayed.logging_strategies),
        "skipped_steps": dict(replayed.skipped),
    }
    try:
        result.update(evaluate(replayed.decisions, OpeConfig(clip=args.clip)).as_dict())
    except OpeError as exc:
        raise SystemExit(f"{exc} ({json.dumps(result)})") from None
    return result


def _prewarm(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(asyncio.run(prewarm_report(settings)), indent=2))
    return 0


async def prewarm_report(settings: Settings) -> dict[str, Any]:
    """Pre-warming's counts over all partitions, with precision, recall and hit rate."""
    from learning.sessions import with_counts
    from tables.experiments import changelog_topic_names

    topic = changelog_topic_names(settings.app_id)["prewarm-stats"]
    total: dict[str, Any] = {}
    for value in (await read_changelog(settings, topic)).values():
        total = with_counts(total, value)
    predictions = total.get("predictions", 0)
    return {
        "counts": total,
        "precision": total.get("correct", 0) / predictions if predictions else None,
        "recall": total.get("correct", 0) / total["transitions"]
        if total.get("transitions")
        else None,
        "prewarm_hit_rate": total.get("prewarm_hits", 0) / total["prewarm_runs"]
        if total.get("prewarm_runs")
        else None,
    }


async def read_experiments(settings: Settings) -> dict[str, Experiment]:
    """Every experiment defined, by id (the latest record of each)."""
    from agents.experiment_arms import experiment_of

    topic = settings.topic_name("experiments")
    found: dict[str, Experiment] = {}
    for value in (await read_changelog(settings, topic)).values():
        experiment = experiment_of(value)
        if experiment is not None:
            found[experiment.experiment_id] = experiment
    return found


async def read_changelog(settings: Settings, topic: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """Key -> latest value of a compacted topic; empty when the topic does not exist."""
    if not (await topic_partitions(settings.bootstrap_servers, [topic])).get(topic):
        return {}
    replica = ChangelogReplica(settings.bootstrap_servers, [topic])
    await replica.start(timeout_s)
    try:
        return dict(replica.table(topic))
    finally:
        await replica.stop()


async def read_topic(settings: Settings, topic: str) -> list[bytes | None]:
    """Every value of a topic, from its start to the end it has now."""
    partitions = (await topic_partitions(settings.bootstrap_servers, [topic])).get(topic, [])
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    values: list[bytes | None] = []
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        left = {tp for tp in tps if ends[tp] > await consumer.position(tp)}
        while left:
            batch = await consumer.getmany(*left, timeout_ms=1000, max_records=5000)
            for tp, messages in batch.items():
                values.extend(m.value for m in messages if m.offset < ends[tp])
                if messages and messages[-1].offset + 1 >= ends[tp]:
                    left.discard(tp)
    finally:
        await consumer.stop()
    return values


async def _publish(settings: Settings, event: Any) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topic_name("experiments"),
            event.to_bytes(),
            key=event.experiment.experiment_id.encode(),
        )
    finally:
        await producer.stop()
