"""What the result cache, the plan cache and budgets do to cost: one run, side by side.

Run: ``python -m bench.spend [--intents N] [--queries K] [--zipf S] [--rate R] [--json]``.

A Zipf-distributed workload (exponent S over K distinct queries) of N intents, each naming one
of three simulated tools with costs (``bench/tools-spend.toml``) and phrased one of three ways,
is sent at R intents/s to a real worker on fresh topics, four times: with no cache and budgets
off, with no cache, with the result cache, and with the result and plan caches. A repeated query
is a result-cache hit whatever its phrasing; the plan cache answers only a repeat of the very
same intent. For each: cost per intent, latency submit -> outcome (p50, p95; the worker's own
clock, as the outcome reports it), the result cache's hit rate over steps and the plan cache's
over intents.

Then, on the no-cache worker, the budget's overshoot: a limit of L on one user and 64
concurrent intents of a tool declared at 0.10 that reports 0.15; the limit admits L / 0.10
calls and the spend may pass L only by what those calls cost beyond their estimates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from bench.host import host
from bench.pipeline import create_topics, delete_topics, open_client, percentile
from interfaces.client import ToolwiseClient
from interfaces.process import settings_env, spawn_worker, stop_process
from models import IntentCompleted, IntentFailed, IntentSubmitted
from models.budgets import BudgetLimitSet
from streams.settings import Settings

TOOLS = Path(__file__).resolve().parent / "tools-spend.toml"
WORKLOAD_TOOLS = ("simulated.search", "simulated.lookup", "simulated.convert")
PHRASINGS = ("find {q}", "look up {q}", "what about {q}")
CONFIGS: dict[str, dict[str, Any]] = {
    # What counting spend costs: the same worker with budgets off.
    "no cache, no budgets": {
        "result_cache_enabled": False,
        "plan_cache_enabled": False,
        "budgets_enabled": False,
    },
    "no cache": {"result_cache_enabled": False, "plan_cache_enabled": False},
    "result cache": {"result_cache_enabled": True, "plan_cache_enabled": False},
    "result + plan cache": {"result_cache_enabled": True, "plan_cache_enabled": True},
}
BURST = 64
BURST_ESTIMATE, BURST_ACTUAL = 0.10, 0.15
READY_TIMEOUT_S = 120.0
OUT: TextIO = sys.stdout


def say(*parts: object) -> None:
    print(*parts, file=OUT, flush=True)


def workload(n: int, queries: int, exponent: float, seed: int) -> list[tuple[int, int]]:
    """(query, phrasing) for each of ``n`` intents: queries Zipf-distributed over ``queries``."""
    rng = random.Random(seed)
    weights = [1.0 / (rank**exponent) for rank in range(1, queries + 1)]
    picks = rng.choices(range(queries), weights=weights, k=n)
    return [(q, rng.randrange(len(PHRASINGS))) for q in picks]


def intent(query: int, phrasing: int, tag: str) -> IntentSubmitted:
    tool = WORKLOAD_TOOLS[query % len(WORKLOAD_TOOLS)]
    q = f"q{query}-{tag}"  # the run's tag keeps runs apart in a shared Redis
    return IntentSubmitted(
        text=PHRASINGS[phrasing].format(q=q), tool=tool, arguments={"query": q},
        context={"user": "bench"},
    )  # fmt: skip


async def paced(client: ToolwiseClient, intents: Sequence[IntentSubmitted], rate: float) -> None:
    started = time.perf_counter()
    for index, one in enumerate(intents):
        delay = started + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await client.submit(one)


def summarise(outcomes: Sequence[IntentCompleted | IntentFailed]) -> dict[str, Any]:
    done = [o for o in outcomes if isinstance(o, IntentCompleted)]
    steps = [r for o in done if not o.from_cache for r in o.results]
    latency = [o.latency_ms for o in outcomes]
    return {
        "intents": len(outcomes),
        "failed": len(outcomes) - len(done),
        "cost_per_intent": round(statistics.fmean(o.cost for o in outcomes), 4),
        "p50_ms": round(percentile(latency, 50), 1),
        "p95_ms": round(percentile(latency, 95), 1),
        "result_hit_rate": round(sum(r.cached for r in steps) / len(steps), 3) if steps else 0,
        "plan_hit_rate": round(sum(o.from_cache for o in done) / len(outcomes), 3),
    }


async def overshoot(settings: Settings, client: ToolwiseClient, limit: float) -> dict[str, Any]:
    from interfaces.cli_budget import budget_status

    scope = f"user:burst-{uuid.uuid4().hex[:6]}"
    record = BudgetLimitSet(scope=scope, limit=limit)
    await client.publish_raw("budget-limits", record.to_bytes(), key=scope.encode())
    await asyncio.sleep(2.0)  # every worker's replica of the limits has it
    burst = [
        IntentSubmitted(text="burst", tool="simulated.burst", arguments={"query": f"b{n}"},
                        context={"user": scope.partition(":")[2]})
        for n in range(BURST)
    ]  # fmt: skip
    await asyncio.gather(*(client.submit(one) for one in burst))
    outcomes = await client.wait_for([b.intent_id for b in burst], timeout_s=120)
    granted = sum(isinstance(o, IntentCompleted) for o in outcomes.values())
    await asyncio.sleep(2.0)  # the last settlements reach the spend table
    (status,) = await budget_status(settings, scope)
    bound = limit + granted * (BURST_ACTUAL - BURST_ESTIMATE)
    return {
        "limit": limit,
        "concurrent_intents": BURST,
        "granted": granted,
        "denied": sum(
            isinstance(o, IntentFailed) and o.error_kind == "budget_exceeded"
            for o in outcomes.values()
        ),
        "other_failures": dict(
            Counter(
                o.error_kind
                for o in outcomes.values()
                if isinstance(o, IntentFailed) and o.error_kind != "budget_exceeded"
            )
        ),
        "spent": round(status["spent"], 4),
        "overshoot": round(status["spent"] - limit, 4),
        "bound": round(bound - limit, 4),
    }


async def run_config(
    name: str, overrides: dict[str, Any], args: argparse.Namespace, root: Path, with_burst: bool
) -> dict[str, Any]:
    prefix = f"bench-spend-{uuid.uuid4().hex[:8]}"
    values: dict[str, Any] = {
        "broker": args.broker, "topic_prefix": prefix, "app_id": prefix,
        "partitions": args.partitions, "web_enabled": False, "tools_config": TOOLS,
        "datadir": root / prefix / "data", **overrides,
    }  # fmt: skip
    settings = Settings(**values)
    log = root / f"{prefix}.log"
    say(f"\n== {name}  (topics {prefix}-*, log {log})")
    await create_topics(settings)
    proc = spawn_worker(settings_env(values), log, loglevel="warn")
    try:
        client = await open_client(settings)
        try:
            warm = IntentSubmitted(text="warm", tool="simulated.convert", arguments={"w": prefix})
            await client.submit(warm)
            await client.wait_for(
                [warm.intent_id], READY_TIMEOUT_S, alive=lambda: proc.poll() is None
            )
            tag = uuid.uuid4().hex[:6]
            intents = [intent(q, p, tag) for q, p in workload(args.intents, args.queries,
                                                              args.zipf, args.seed)]  # fmt: skip
            await paced(client, intents, args.rate)
            got = await client.wait_for([i.intent_id for i in intents], 60 + args.intents / 10)
            result = summarise([got[i.intent_id] for i in intents])
            say(f"  {json.dumps(result)}")
            if with_burst:
                result["budget"] = await overshoot(settings, client, args.burst_limit)
                say(f"  budget: {json.dumps(result['budget'])}")
            return result
        finally:
            await client.__aexit__()
    finally:
        stop_process(proc)
        await delete_topics(settings)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.spend", description=__doc__)
    parser.add_argument("--intents", type=int, default=400)
    parser.add_argument("--queries", type=int, default=200, help="distinct queries")
    parser.add_argument("--zipf", type=float, default=1.1, help="the workload's Zipf exponent")
    # 15/s: well within one worker's pace on a busy 2-core machine (40/s saturated it).
    parser.add_argument("--rate", type=float, default=15.0, help="intents per second")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--burst-limit", type=float, default=1.0, help="the budget's limit")
    parser.add_argument("--broker", default=Settings().broker)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--root", type=Path, default=Path("/tmp/toolwise-bench-spend"))
    parser.add_argument("--json", action="store_true", help="the report on stdout only")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    report: dict[str, Any] = {
        "machine": {**host(), "broker": args.broker},
        "workload": {k: getattr(args, k) for k in ("intents", "queries", "zipf", "rate", "seed")},
        "results": {},
    }
    for name, overrides in CONFIGS.items():
        burst = name == "no cache"  # the budget's overshoot, on a worker that counts spend
        report["results"][name] = await run_config(name, overrides, args, args.root, burst)
    report["total_s"] = round(time.perf_counter() - started, 1)
    say("\nconfiguration          cost/intent   p50 ms   p95 ms   result hits   plan hits")
    for name, r in report["results"].items():
        say(f"{name:<22} {r['cost_per_intent']:11.4f} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f}"
            f" {r['result_hit_rate']:13.3f} {r['plan_hit_rate']:11.3f}")  # fmt: skip
    return report


def cli(argv: Sequence[str] | None = None) -> None:
    global OUT
    args = parse_args(argv)
    if args.json:
        OUT = sys.stderr
    print(json.dumps(asyncio.run(main(args))), flush=True)


if __name__ == "__main__":
    cli()
