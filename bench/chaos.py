"""Chaos harness: Toolwise workers under kills, outages and hostile input, counted by intent.

Run: ``python -m bench.chaos [--scenarios kill9,hostile,...] [--short] [--json [PATH]]``.

Each scenario runs real workers (``interfaces.process``) on fresh topics against real Kafka
and Redis, and prints one row: intents published, answered (of which failed), dead-lettered,
lost (neither answered nor dead-lettered), duplicate outcomes with the same id, outcomes
with another id (or verdict), tool calls run twice, and worker exits the harness did not
cause; then its notes (restart-to-ready, latency, RSS, ...). Targets (issue 10): 0 lost,
0 unexpected exits, no second outcome with another id. Scenarios that kill or freeze a
broker or Redis start their own on free ports (``bench.chaos_services``); the shared ones
are never touched. ``--short`` is the CI profile (a few scenarios, lighter, < 5 minutes).
The exit status is 1 when a row misses a target.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from bench.chaos_count import Row, table
from bench.chaos_services import PrivateServices
from bench.host import host
from streams.settings import Settings

OUT: TextIO = sys.stdout


def say(*parts: object) -> None:
    print(*parts, file=OUT, flush=True)


def scenario_names() -> list[str]:
    from bench.chaos_scenarios import SCENARIOS

    return [*SCENARIOS, "growth"]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    env = Settings()
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument(
        "--scenarios",
        default=None,
        help="comma-separated, from: "
        + ",".join(scenario_names())
        + " (default: all but growth; with --short: the short set)",
    )
    parser.add_argument("--short", action="store_true", help="the CI profile (< 5 minutes)")
    parser.add_argument("--seed", type=int, default=0, help="kill moments, hostile records")
    parser.add_argument(
        "--growth-intents", type=int, default=None, help="intents of 'growth' (default 200000)"
    )
    parser.add_argument(
        "--growth-stores",
        default=None,
        help="comma-separated, from: rocksdb,memory,retention (default: all three)",
    )
    parser.add_argument("--rate", type=float, default=None, help="steady load, intents/s")
    parser.add_argument("--broker", default=env.broker, help="the shared broker (not harmed)")
    parser.add_argument("--redis-url", default=env.redis_url, help="the shared Redis")
    parser.add_argument(
        "--log-dir", type=Path, default=None, help="workers' logs (default .toolwise/chaos/<time>)"
    )
    parser.add_argument("--keep-topics", action="store_true", help="do not delete the topics")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        default=None,
        metavar="PATH",
        help="write the numbers as JSON to PATH ('-' or nothing: stdout, the report to stderr)",
    )
    args = parser.parse_args(argv)
    from bench.chaos_scenarios import SHORT_SCENARIOS

    if args.scenarios is None:
        chosen = list(SHORT_SCENARIOS) if args.short else scenario_names()[:-1]
    else:
        chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in scenario_names()]
    if unknown or not chosen:
        parser.error(
            f"unknown scenario(s) {unknown or '(none given)'}; "
            f"choose from {', '.join(scenario_names())}"
        )
    args.chosen = chosen
    return args


def profile_of(args: argparse.Namespace) -> Any:
    from dataclasses import replace

    from bench.chaos_scenarios import SHORT, Profile

    profile = SHORT if args.short else Profile()
    if args.growth_intents is not None:
        n = args.growth_intents
        profile = replace(profile, growth_intents=n, growth_checkpoints=(max(1, n // 10), n))
    if args.growth_stores is not None:
        stores = tuple(s.strip() for s in args.growth_stores.split(",") if s.strip())
        profile = replace(profile, growth_stores=stores)
    if args.rate is not None:
        profile = replace(profile, rate=args.rate)
    return profile


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from bench.chaos_growth import growth
    from bench.chaos_scenarios import SCENARIOS, Context

    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    root = args.log_dir or Settings().state_dir.resolve() / "chaos" / time.strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True, exist_ok=True)
    profile = profile_of(args)
    ctx = Context(
        profile=profile,
        root=root,
        seed=args.seed,
        broker=args.broker,
        redis_url=args.redis_url,
        private=PrivateServices(root / "services"),
        keep_topics=args.keep_topics,
    )
    atexit.register(ctx.private.stop)  # also when the run ends in an exception
    machine = host()
    say(f"machine: {machine['nproc']} x {machine['cpu']}, Python {machine['python']}")
    say(f"scenarios: {', '.join(args.chosen)}  (logs {root})")
    rows: list[Row] = []
    timings: dict[str, float] = {}
    started = time.monotonic()
    try:
        for name in args.chosen:
            say(f"\n== {name}")
            began = time.monotonic()
            if name == "growth":
                found = await growth(ctx)
            else:
                found = [await SCENARIOS[name](ctx)]
            timings[name] = round(time.monotonic() - began, 1)
            for row in found:
                rows.append(row)
                say(table([row]))
            say(f"   ({timings[name]} s)")
    finally:
        await asyncio.to_thread(ctx.private.stop)
        atexit.unregister(ctx.private.stop)
    say("\n" + table(rows))
    return {
        "machine": machine,
        "date": time.strftime("%Y-%m-%d"),
        "profile": "short" if args.short else "full",
        "params": vars(profile),
        "scenarios": args.chosen,
        "seconds": timings,
        "total_s": round(time.monotonic() - started, 1),
        "rows": [vars(row) for row in rows],
        "targets_met": all(row.meets_targets() for row in rows),
        "logs": str(root),
    }


def cli(argv: Sequence[str] | None = None) -> None:
    global OUT
    args = parse_args(argv)
    if args.json == "-":
        OUT = sys.stderr
    logging.basicConfig(
        level=logging.WARNING, stream=OUT, format="%(asctime)s %(name)s: %(message)s"
    )
    # The faults are the point: the clients' reconnection errors and "topic not found yet"
    # (a client publishing before the first worker) are expected, and counted by outcome.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        report = asyncio.run(main(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; workers and private services stopped", file=sys.stderr)
        sys.exit(130)
    text = json.dumps(report, default=str)
    if args.json == "-":
        print(text, flush=True)
    elif args.json:
        Path(args.json).write_text(text + "\n")
    sys.exit(0 if report["targets_met"] else 1)


if __name__ == "__main__":
    cli()
