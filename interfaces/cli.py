"""The `toolwise` command: services, topics, worker, submit, tail, demo, schemas."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from streams.settings import Settings, get_settings

# Modules that add a group of subcommands: each has ``register(sub)``, which adds its parsers
# to the subparsers action and sets ``run(args, settings) -> int`` as their default.
COMMAND_GROUPS: tuple[str, ...] = (
    "interfaces.cli_sandbox",
    "interfaces.cli_content",
    "interfaces.cli_experiments",
    "interfaces.cli_tools",
    "interfaces.cli_budget",
    "interfaces.cli_cache",
    "interfaces.cli_plan",
)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        result: int = args.run(args, get_settings())
        return result
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toolwise", description=__doc__)
    sub = parser.add_subparsers(metavar="COMMAND")

    services = sub.add_parser("services", help="start, stop or inspect local Kafka and Redis")
    services.add_argument("action", choices=["start", "stop", "status"])
    services.add_argument("--broker", choices=["auto", "kafka", "tansu"], default="auto")
    services.set_defaults(run=_services)

    topics = sub.add_parser("topics", help="create Toolwise's topics (workers do it too)")
    topics.add_argument("action", choices=["create", "list"])
    topics.set_defaults(run=_topics)

    worker = sub.add_parser("worker", help="run a Toolwise worker (all agents)")
    worker.add_argument(
        "-l", "--loglevel", default="info", choices=["crit", "error", "warn", "info", "debug"]
    )
    worker.set_defaults(run=_worker)

    submit = sub.add_parser("submit", help="publish an intent and wait for its outcome")
    submit.add_argument("text")
    submit.add_argument("--tool", help="ask for this tool ('server.tool'), skip planning")
    submit.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE")
    submit.add_argument("--context", action="append", default=[], metavar="NAME=VALUE")
    submit.add_argument(
        "--attach", action="append", default=[], type=Path, metavar="FILE",
        help="send this file (image, audio, ...) with the intent; repeatable",
    )  # fmt: skip
    submit.add_argument("--intent-id")
    submit.add_argument("--no-wait", action="store_true")
    submit.add_argument("--timeout", type=float, default=60.0)
    submit.set_defaults(run=_submit)

    tail = sub.add_parser("tail", help="print a topic's events as JSON lines")
    tail.add_argument(
        "topic", help="intents, plans, tool-results, outcomes, executions, dead-letters"
    )
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument(
        "--idle-timeout", type=float, default=None, help="stop after this long without messages"
    )
    tail.add_argument(
        "--until-end",
        action="store_true",
        help="stop once read up to the topic's end as it was at the start",
    )
    tail.set_defaults(run=_tail)

    demo = sub.add_parser("demo", help="run a worker, publish example intents, show outcomes")
    demo.add_argument("--keep-running", action="store_true", help="keep the worker up until Ctrl-C")
    demo.set_defaults(run=_demo)

    replay = sub.add_parser("replay", help="rebuild learned state from the execution history")
    replay.add_argument("--generation", type=int, help="default: one past the newest")
    replay.add_argument("--force", action="store_true", help="reuse a generation that has keys")
    replay.set_defaults(run=_replay)

    generation = sub.add_parser("generation", help="show or switch the learned-state generation")
    generation.add_argument("action", choices=["status", "use"])
    generation.add_argument("number", nargs="?", type=int)
    generation.add_argument("--force", action="store_true", help="switch even without a replay")
    generation.set_defaults(run=_generation)

    recommend = sub.add_parser("recommend", help="rank tools for an intent from the learned state")
    recommend.add_argument("text")
    recommend.add_argument("--context", action="append", default=[], metavar="NAME=VALUE")
    recommend.add_argument("--generation", type=int)
    recommend.add_argument("--explore", action="store_true", help="Thompson draws, as the planner")
    recommend.add_argument("--top-k", type=int, default=5)
    recommend.set_defaults(run=_recommend)

    schemas = sub.add_parser("schemas", help="export the events' JSON Schemas")
    schemas.add_argument("directory", nargs="?", type=Path, default=Path("schemas"))
    schemas.set_defaults(run=_schemas)

    for module in COMMAND_GROUPS:
        importlib.import_module(module).register(sub)
    return parser


def _services(args: argparse.Namespace, settings: Settings) -> int:
    import services

    if args.action == "start":
        services.start_all(settings, broker=args.broker)
    elif args.action == "stop":
        services.stop_all(settings)
    else:
        print(json.dumps(services.status(settings), indent=2, default=str))
    return 0


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    from interfaces.worker import ensure_all_topics, register_agents
    from streams.topics import topic_specs

    if args.action == "create":
        register_agents(settings)
        created = asyncio.run(ensure_all_topics(settings))
        print("created: " + (", ".join(created) or "none (all exist)"))
    else:
        for spec in topic_specs(settings):
            print(f"{settings.topic_name(spec.suffix):32} {spec.description}")
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from interfaces.worker import run_worker

    run_worker(settings, args.loglevel)
    return 0


def name_value_pairs(items: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` arguments (``--arg``, ``--context``) as a dict; a VALUE that is JSON is
    decoded, any other is kept as text."""
    pairs: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"expected NAME=VALUE, got {item!r}")
        try:
            pairs[name] = json.loads(value)
        except ValueError:
            pairs[name] = value
    return pairs


def _submit(args: argparse.Namespace, settings: Settings) -> int:
    from interfaces.client import OutcomeTimeout, ToolwiseClient
    from models import IntentSubmitted

    fields: dict[str, Any] = {
        "text": args.text,
        "tool": args.tool,
        "arguments": name_value_pairs(args.arg),
    }
    fields["context"] = {k: str(v) for k, v in name_value_pairs(args.context).items()}
    if args.intent_id:
        fields["intent_id"] = args.intent_id
    if args.attach:
        from interfaces.cli_content import attach
        from models.content import ContentError

        try:
            fields["content"] = asyncio.run(attach(settings, args.attach))
        except ContentError as exc:
            print(exc, file=sys.stderr)
            return 2
    intent = IntentSubmitted(**fields)

    async def go() -> int:
        async with ToolwiseClient(settings, progress=not args.no_wait) as client:
            await client.submit(intent)
            print(f"submitted {intent.intent_id}", file=sys.stderr)
            if args.no_wait:
                return 0
            try:
                outcomes = await client.wait_for(
                    [intent.intent_id], args.timeout, on_progress=_print_progress
                )
                outcome = outcomes[intent.intent_id]
            except OutcomeTimeout as exc:
                print(exc, file=sys.stderr)
                return 1
            print(outcome.model_dump_json(indent=2))
            return 0 if outcome.type == "IntentCompleted" else 1

    return asyncio.run(go())


def _print_progress(event: Any) -> None:
    total = f"/{event.total:g}" if event.total is not None else ""
    note = f" {event.message}" if event.message else ""
    print(f"  {event.tool}: {event.progress:g}{total}{note}", file=sys.stderr)


def _tail(args: argparse.Namespace, settings: Settings) -> int:
    from interfaces.client import TopicNotFound, tail

    async def go() -> None:
        records = tail(settings, args.topic, args.from_beginning, args.idle_timeout, args.until_end)
        async for record in records:
            print(json.dumps(record), flush=True)

    try:
        asyncio.run(go())
    except TopicNotFound as exc:
        print(f"toolwise tail: {exc}", file=sys.stderr)
        return 2
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from interfaces.demo import run_demo

    return run_demo(settings, keep_running=args.keep_running)


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from interfaces.replay import replay

    asyncio.run(replay(settings, args.generation, args.force))
    return 0


def _generation(args: argparse.Namespace, settings: Settings) -> int:
    from interfaces.replay import generation_status, use_generation

    if args.action == "use":
        if args.number is None:
            raise SystemExit("usage: toolwise generation use N")
        asyncio.run(use_generation(settings, args.number, args.force))
    else:
        print(json.dumps(asyncio.run(generation_status(settings)), indent=2))
    return 0


def _recommend(args: argparse.Namespace, settings: Settings) -> int:
    from agents.ranking import recommendations_view, text_encoder
    from interfaces.replay import learned_replica
    from learning import Recommender
    from tools.registry import ToolRegistry

    async def go() -> dict[str, Any]:
        replica = learned_replica(settings)
        await replica.start()
        try:
            async with ToolRegistry.from_file(settings.tools_config) as registry:
                context = {k: str(v) for k, v in name_value_pairs(args.context).items()}
                return recommendations_view(
                    Recommender(encoder=text_encoder(settings)),
                    replica,
                    registry.specs(),
                    args.text,
                    context,
                    generation=args.generation,
                    explore=args.explore,
                    top_k=args.top_k,
                )
        finally:
            await replica.stop()

    print(json.dumps(asyncio.run(go()), indent=2))
    return 0


def _schemas(args: argparse.Namespace, settings: Settings) -> int:
    from models.schemas import export_schemas

    for path in export_schemas(args.directory):
        print(path)
    return 0
