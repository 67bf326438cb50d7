"""End-to-end intents/s and latency of a Toolwise worker beside a hand-written aiokafka relay.

Run: ``python -m bench.pipeline [--intents N] [--rate R] [--broker URL] [--json]``.

For each system (``toolwise``: a real worker subprocess; ``relay``: ``bench.relay``,
the same hops without tables, changelogs or dedup) on its own fresh topics, and
each tool variant (``inprocess``: a zero-latency simulated tool; ``stdio``: the
testing server's echo over MCP stdio; ``planned``: the in-process tool chosen by
the planner from the intent's text), it measures

- burst: N intents published at once; intents/s from the first publish to the last outcome;
- paced: R intents/s for a few seconds; latency submit -> outcome p50/p95/p99
  (client clock, one process), and where that time goes hop by hop (Kafka record
  timestamps of the intent, plan, tool call, tool result and outcome).

Both systems are measured by the same client code (``interfaces.client.ToolwiseClient``
publishes; an outcome consumer here timestamps arrivals). A readable report goes to
stdout (stderr with ``--json``); the last stdout line is one JSON object with every number.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.cpu_profile import Sampler, folded, hop_costs
from bench.host import host
from interfaces.client import ToolwiseClient
from interfaces.process import PROJECT_ROOT, settings_env, spawn_worker, stop_process
from models import ANY_EVENT, IntentCompleted, IntentFailed, IntentSubmitted
from streams.settings import Settings

BENCH_TOOLS = Path(__file__).resolve().parent / "tools-bench.toml"
# toolwise-nolearn: the same worker without the learner agent, to show that
# learning from every execution record costs the call path nothing.
SYSTEMS = ("toolwise", "toolwise-nolearn", "relay")
# What each variant publishes for intent number i; arguments differ per intent so
# that no layer can answer from a cache.
VARIANTS: dict[str, Callable[[int], IntentSubmitted]] = {
    "inprocess": lambda i: IntentSubmitted(
        text="bench", tool="simulated.instant", arguments={"query": f"q{i}"}
    ),
    "stdio": lambda i: IntentSubmitted(
        text="bench", tool="testing.echo", arguments={"text": f"q{i}"}
    ),
    "planned": lambda i: IntentSubmitted(text=f"instant answer to query {i}"),
}
# A fresh consumer group joins and the tools connect within seconds; the first
# intent waits that long, then a few more warm connections and pydantic caches.
READY_TIMEOUT_S = 120.0
WARMUP_INTENTS = 20
HOPS = ("intent>plan", "plan>result", "result>outcome", "outcome>client")


def say(*parts: object) -> None:
    print(*parts, file=OUT, flush=True)


OUT: TextIO = sys.stdout


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def latency_summary(ms: Sequence[float]) -> dict[str, float]:
    if not ms:
        return {}
    return {
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


@dataclass
class Outcomes:
    """Timestamps every outcome on the system's outcomes topic as it arrives."""

    settings: Settings
    arrived: dict[str, float] = field(default_factory=dict)  # intent id -> perf_counter
    arrived_wall: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    duplicates: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _consumer: AIOKafkaConsumer | None = None

    async def start(self) -> asyncio.Task[None]:
        topic = self.settings.topic_name("outcomes")
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers, enable_auto_commit=False
        )
        await self._consumer.start()
        partitions = [TopicPartition(topic, p) for p in range(self.settings.partitions)]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:
            await self._consumer.position(tp)
        return asyncio.create_task(self._collect(self._consumer))

    async def _collect(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                now, wall = time.perf_counter(), time.time()
                for messages in batch.values():
                    for message in messages:
                        event = ANY_EVENT.validate_json(message.value)
                        if not isinstance(event, IntentCompleted | IntentFailed):
                            continue
                        if event.intent_id in self.arrived:
                            self.duplicates += 1
                            continue
                        self.arrived[event.intent_id] = now
                        self.arrived_wall[event.intent_id] = wall
                        if isinstance(event, IntentFailed):
                            self.failed[event.intent_id] = event.reason
                if batch:
                    self._changed.set()
        finally:
            await consumer.stop()

    async def wait(self, intent_ids: Sequence[str], timeout_s: float) -> set[str]:
        """Wait until every id has an outcome or the time is up; return the missing ids."""
        deadline = time.monotonic() + timeout_s
        missing = set(intent_ids) - self.arrived.keys()
        while missing and time.monotonic() < deadline:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
            missing -= self.arrived.keys()
        return missing


@dataclass
class Deployment:
    """One system on its own topics, consumer groups and data dir."""

    system: str
    settings: Settings
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(
        cls,
        system: str,
        broker: str,
        partitions: int,
        root: Path,
        extra_env: dict[str, str],
        tools_config: Path = BENCH_TOOLS,
    ) -> Deployment:
        name = f"bench-{system}-{uuid.uuid4().hex[:8]}"
        values: dict[str, Any] = {
            "broker": broker,
            "topic_prefix": name,
            "app_id": name,
            "partitions": partitions,
            "web_enabled": False,
            "tools_config": tools_config,
            "datadir": root / name / "data",
            "learning_enabled": system != "toolwise-nolearn",
        }
        env = {**settings_env(values), **extra_env}
        return cls(system, Settings(**values), env, root / f"{name}.log")

    def start(self) -> None:
        if self.system.startswith("toolwise"):
            self.proc = spawn_worker(self.env, self.log, loglevel="warn")
            return
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.relay"],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout_s=20)

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace").splitlines()[-30:]
            raise RuntimeError(
                f"{self.system} exited ({self.proc.returncode}):\n" + "\n".join(tail)
            )

    def log_problems(self) -> list[str]:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return [ln for ln in lines if "ERROR" in ln or "Traceback" in ln or "CRITICAL" in ln]


async def create_topics(settings: Settings) -> None:
    # Imported late: streams.topics builds the Faust app, which the relay never needs.
    from streams.topics import ensure_topics

    await ensure_topics(settings)


async def open_client(settings: Settings, timeout_s: float = 15.0) -> ToolwiseClient:
    """A started client; right after creation a topic may be missing from metadata."""
    deadline = time.monotonic() + timeout_s
    while True:
        client = ToolwiseClient(settings)
        try:
            return await client.__aenter__()
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def delete_topics(settings: Settings) -> None:
    """Remove the run's topics, Faust changelogs included (all start with the prefix)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix + "-")]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def publish(
    client: ToolwiseClient, intents: Sequence[IntentSubmitted], sent: dict[str, float]
) -> None:
    async def one(intent: IntentSubmitted) -> None:
        sent[intent.intent_id] = time.perf_counter()
        await client.submit(intent)

    await asyncio.gather(*(one(i) for i in intents))


async def load(
    deployment: Deployment,
    client: ToolwiseClient,
    outcomes: Outcomes,
    intents: Sequence[IntentSubmitted],
    rate: float | None,
) -> dict[str, Any]:
    """Publish all at once (rate None) or at ``rate``/s; wait for every outcome and summarise."""
    ids = [i.intent_id for i in intents]
    sent: dict[str, float] = {}
    started = time.perf_counter()
    if rate is None:
        await publish(client, intents, sent)
    else:
        tasks = []
        for index, intent in enumerate(intents):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(publish(client, [intent], sent)))
        await asyncio.gather(*tasks)
    published = time.perf_counter() - started
    missing = await wait_reporting(deployment, outcomes, ids, timeout_s=60 + len(ids) / 20)
    done = [i for i in ids if i in outcomes.arrived]
    elapsed = max((outcomes.arrived[i] for i in done), default=started) - started
    return {
        "intents": len(ids),
        "completed": len(done),
        "lost": len(missing),
        "failed": sum(1 for i in ids if i in outcomes.failed),
        "publish_s": round(published, 3),
        "elapsed_s": round(elapsed, 3),
        "intents_per_s": round(len(done) / elapsed, 1) if done else 0.0,
        "latency": latency_summary([(outcomes.arrived[i] - sent[i]) * 1000 for i in done]),
    }


async def wait_reporting(
    deployment: Deployment, outcomes: Outcomes, ids: Sequence[str], timeout_s: float
) -> set[str]:
    """Wait for outcomes with a progress line every few seconds; fail fast if the system died."""
    deadline = time.monotonic() + timeout_s
    while True:
        missing = await outcomes.wait(ids, min(5.0, max(0.0, deadline - time.monotonic())))
        deployment.check_alive()
        if not missing or time.monotonic() >= deadline:
            return missing
        say(f"    ... {len(ids) - len(missing)}/{len(ids)} outcomes")


@dataclass
class Trace:
    """Kafka record timestamps (s) of each intent's messages, by topic suffix."""

    stamps: dict[str, dict[str, float]]
    tool_ms: list[float]

    def hops(self, arrived_wall: dict[str, float]) -> dict[str, float]:
        """Median ms of each hop; tool_call_ms is the executor's own timing of the call."""
        order = (*TRACED, "client")
        hops: dict[str, list[float]] = {hop: [] for hop in HOPS}
        for intent_id, seen in self.stamps.items():
            seen = {**seen, "client": arrived_wall.get(intent_id, 0.0)}
            for hop, (a, b) in zip(HOPS, pairwise(order), strict=True):
                if seen.get(a) and seen.get(b):
                    hops[hop].append((seen[b] - seen[a]) * 1000)
        result = {hop: round(statistics.median(v), 1) for hop, v in hops.items() if v}
        if self.tool_ms:
            result["tool_call_ms"] = round(statistics.median(self.tool_ms), 2)
        return result

    def stage_rates(self) -> dict[str, float]:
        """Messages/s each topic received for these intents, first to last record: in a
        burst the slowest stage shows as the first topic whose rate drops."""
        rates = {}
        for suffix in TRACED:
            times = sorted(s[suffix] for s in self.stamps.values() if suffix in s)
            if len(times) > 1 and times[-1] > times[0]:
                rates[suffix] = round(len(times) / (times[-1] - times[0]), 1)
        return rates


TRACED = ("intents", "plans", "tool-results", "outcomes")


async def read_trace(settings: Settings, ids: Sequence[str]) -> Trace:
    """Read the run's topics from the start and keep the timestamps of these intents."""
    wanted = set(ids)
    trace = Trace({i: {} for i in ids}, [])
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [
            TopicPartition(settings.topic_name(s), p)
            for s in TRACED
            for p in range(settings.partitions)
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, messages in batch.items():
                suffix = tp.topic.removeprefix(settings.topic_prefix + "-")
                for message in messages:
                    intent_id = (message.key or b"").decode()
                    if intent_id not in wanted:
                        continue
                    trace.stamps[intent_id].setdefault(suffix, message.timestamp / 1000)
                    if suffix == "tool-results":
                        trace.tool_ms.append(json.loads(message.value)["latency_ms"])
    finally:
        await consumer.stop()
    return trace


async def run_system(system: str, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    deployment = Deployment.create(
        system, args.broker, args.partitions, root, args.extra_env, args.tools_config
    )
    results: dict[str, Any] = {"topic_prefix": deployment.settings.topic_prefix}
    say(f"\n== {system}  (topics {deployment.settings.topic_prefix}-*, log {deployment.log})")
    await create_topics(deployment.settings)
    try:
        started = time.perf_counter()
        deployment.start()
        client = await open_client(deployment.settings)
        try:
            outcomes = Outcomes(deployment.settings)
            collector = await outcomes.start()
            try:
                first = VARIANTS[args.variants[0]](0)
                await client.submit(first)
                missing = await wait_reporting(
                    deployment, outcomes, [first.intent_id], READY_TIMEOUT_S
                )
                if missing:
                    raise RuntimeError(f"{system} answered no intent in {READY_TIMEOUT_S:g} s")
                results["ready_s"] = round(time.perf_counter() - started, 1)
                say(f"  ready after {results['ready_s']} s")
                for variant in args.variants:
                    results[variant] = await run_variant(
                        deployment, client, outcomes, variant, args
                    )
            finally:
                collector.cancel()
                await asyncio.gather(collector, return_exceptions=True)
            results["duplicate_outcomes"] = outcomes.duplicates
        finally:
            await client.__aexit__()
    finally:
        deployment.stop()
        if not args.keep_topics:
            await delete_topics(deployment.settings)
    problems = deployment.log_problems()
    results["log_problems"] = len(problems)
    for line in problems[:10]:
        say(f"  log: {line[:200]}")
    return results


async def run_variant(
    deployment: Deployment,
    client: ToolwiseClient,
    outcomes: Outcomes,
    variant: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    make = VARIANTS[variant]
    warm = [make(i) for i in range(WARMUP_INTENTS)]
    await publish(client, warm, {})
    await wait_reporting(deployment, outcomes, [w.intent_id for w in warm], timeout_s=60)
    say(f"  {variant}: burst of {args.intents} ...")
    intents = [make(i) for i in range(args.intents)]
    sampler = None
    if args.profile and deployment.proc is not None:
        stacks = deployment.log.with_name(f"{deployment.log.stem}-{variant}.stacks")
        sampler = Sampler(deployment.proc.pid, stacks)
        sampler.start()
    b = await load(deployment, client, outcomes, intents, None)
    if sampler is not None:
        sampler.stop()
        b["cpu_ms_per_intent"] = hop_costs(
            folded(sampler.output.read_text().splitlines()), len(intents)
        )
        costs = b["cpu_ms_per_intent"]
        say(f"{'':13}cpu ms/intent {costs['total']:g}: " + _fmt(costs["by_hop"]))
        say(f"{'':13}by library: " + _fmt(costs["by_library"]))
    trace = await read_trace(deployment.settings, [i.intent_id for i in intents])
    b["stage_rates_per_s"] = trace.stage_rates()
    say(
        f"  {variant:<10} burst  {b['intents_per_s']:8.1f} intents/s  "
        f"({b['completed']}/{b['intents']} in {b['elapsed_s']} s, lost {b['lost']}, "
        f"failed {b['failed']})"
    )
    say(
        f"{'':13}stage msg/s  " + "  ".join(f"{k} {v:g}" for k, v in b["stage_rates_per_s"].items())
    )
    say(f"  {variant}: paced {args.rate:g}/s for {args.seconds:g} s ...")
    intents = [make(i) for i in range(max(1, round(args.rate * args.seconds)))]
    p = await load(deployment, client, outcomes, intents, args.rate)
    p["rate_per_s"] = args.rate
    lat = p["latency"]
    say(
        f"  {variant:<10} paced  p50 {lat.get('p50_ms', 0):7.1f}  p95 {lat.get('p95_ms', 0):7.1f}"
        f"  p99 {lat.get('p99_ms', 0):7.1f} ms  ({p['completed']}/{p['intents']}, "
        f"lost {p['lost']}, failed {p['failed']})"
    )
    trace = await read_trace(deployment.settings, [i.intent_id for i in intents])
    p["hops_median_ms"] = trace.hops(outcomes.arrived_wall)
    say(f"{'':13}hops ms  " + "  ".join(f"{k} {v:g}" for k, v in p["hops_median_ms"].items()))
    return {"burst": b, "paced": p}


def _fmt(costs: dict[str, float]) -> str:
    return ", ".join(f"{name} {ms:g}" for name, ms in costs.items() if ms >= 0.005)


def catalogue_config(catalogue: Path, out: Path) -> Path:
    """The bench's tools config plus one simulated in-process server holding every tool of
    ``catalogue`` (names made MCP-safe), written to ``out``."""
    described: dict[str, str] = json.loads(catalogue.read_text(encoding="utf-8"))
    rows = [
        (json.dumps(re.sub(r"[^A-Za-z0-9_-]", "_", name)), json.dumps(text))
        for name, text in described.items()
    ]
    tools = ",\n".join(f"  {{ name = {n}, description = {d}, median_ms = 0 }}" for n, d in rows)
    out.write_text(
        BENCH_TOOLS.read_text()
        + '\n[servers.catalogue]\ntransport = "inprocess"\n'
        + 'factory = "tools.servers.simulated:build_server"\n\n'
        + f'[servers.catalogue.kwargs]\nname = "catalogue"\nseed = 7\ntools = [\n{tools}\n]\n'
    )
    return out


def machine(broker: str) -> dict[str, Any]:
    # The broker does not report its version over the protocol; this is what
    # 'python -m services' runs (the bench may point at another broker).
    return {**host(), "kafka": Settings().kafka_version, "broker": broker}


def summary_table(results: dict[str, Any]) -> None:
    say("\nsystem     variant     burst intents/s   paced p50     p95     p99 ms   lost")
    for system, by_variant in results.items():
        for variant in VARIANTS:
            if variant not in by_variant:
                continue
            b, p = by_variant[variant]["burst"], by_variant[variant]["paced"]
            lat = p["latency"]
            say(
                f"{system:<10} {variant:<10} {b['intents_per_s']:16.1f}   "
                f"{lat.get('p50_ms', 0):9.1f} {lat.get('p95_ms', 0):7.1f} "
                f"{lat.get('p99_ms', 0):7.1f}   {b['lost'] + p['lost']:4d}"
            )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__)
    parser.add_argument("--intents", type=int, default=1000, help="burst size (default 1000)")
    parser.add_argument("--rate", type=float, default=25.0, help="paced intents/s (default 25)")
    parser.add_argument("--seconds", type=float, default=10.0, help="paced duration (default 10)")
    parser.add_argument("--broker", default="kafka://127.0.0.1:9092")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=",".join(SYSTEMS))
    parser.add_argument("--variants", default=",".join(VARIANTS), help=",".join(VARIANTS))
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment of the worker/relay (repeatable), e.g. for experiments",
    )
    parser.add_argument(
        "--log-dir", type=Path, default=None, help="worker logs (default .toolwise/bench/<time>)"
    )
    parser.add_argument("--keep-topics", action="store_true", help="do not delete the topics")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the worker with py-spy during each burst: CPU ms per intent per hop",
    )
    parser.add_argument(
        "--catalogue",
        type=Path,
        help="JSON object tool -> description (e.g. MetaTool's tools.json): every tool becomes "
        "a zero-latency simulated in-process tool beside the bench's own, so the planned "
        "variant ranks a realistic catalogue",
    )
    parser.add_argument(
        "--queries", type=Path, help="CSV with a 'query' column: the planned variant's texts"
    )
    parser.add_argument("--json", action="store_true", help="report on stderr, JSON on stdout")
    args = parser.parse_args(argv)
    args.systems = [s for s in args.systems.split(",") if s]
    args.variants = [v for v in args.variants.split(",") if v]
    unknown = set(args.systems) - set(SYSTEMS) | set(args.variants) - set(VARIANTS)
    if unknown or not args.systems or not args.variants:
        parser.error(f"unknown or missing systems/variants: {sorted(unknown)}")
    args.extra_env = dict(e.split("=", 1) for e in args.env)
    args.tools_config = BENCH_TOOLS
    if args.queries is not None:
        texts = [row["query"] for row in csv.DictReader(args.queries.open(encoding="utf-8"))]
        VARIANTS["planned"] = lambda i: IntentSubmitted(text=texts[i % len(texts)])
    return args


async def main(args: argparse.Namespace) -> dict[str, Any]:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    report: dict[str, Any] = {
        "machine": machine(args.broker),
        "params": {
            "intents": args.intents,
            "rate_per_s": args.rate,
            "paced_s": args.seconds,
            "partitions": args.partitions,
            "warmup_intents": WARMUP_INTENTS,
            "extra_env": args.extra_env,
        },
        "results": {},
    }
    m = report["machine"]
    say(f"machine: {m['nproc']} x {m['cpu']}, Python {m['python']}, Kafka {m['kafka']}")
    started = time.perf_counter()
    root = args.log_dir or Settings().state_dir / "bench" / time.strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True, exist_ok=True)
    report["logs"] = str(root)
    if args.catalogue is not None:
        args.tools_config = catalogue_config(args.catalogue, root / "tools-catalogue.toml")
        report["params"]["catalogue"] = str(args.catalogue)
    for system in args.systems:
        report["results"][system] = await run_system(system, args, root)
    report["total_s"] = round(time.perf_counter() - started, 1)
    summary_table(report["results"])
    return report


def cli(argv: Sequence[str] | None = None) -> None:
    global OUT
    args = parse_args(argv)
    if args.json:
        OUT = sys.stderr
    try:
        report = asyncio.run(main(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; workers stopped", file=sys.stderr)
        sys.exit(130)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    cli()
