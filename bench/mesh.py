"""Intent success rate with failover over two nodes against a single node, nodes failing at random.

Run: ``python -m bench.mesh [--seconds 90] [--rate 10] [--mean-up 12] [--mean-down 3] [--json]``.

Two HTTP nodes of the simulated server (``tools.servers.simulated --http``) serve ``sim.echo``.
Each is killed and restarted at random, on its own schedule: up for an exponentially
distributed stretch (mean ``--mean-up`` s), then down (mean ``--mean-down`` s), seeded. Two
real workers run side by side on their own topics, under the same schedule:

- **failover**: ``sim`` with both nodes (``urls = [a, b]``): the mesh routes each call to a
  healthy node and fails over within the attempt;
- **single**: ``sim`` with node a only.

The same intents, paced at ``--rate``/s, go to both; each with the default step policy (3
attempts, 10 s timeout, backoff). Reported: the share of intents completed per system, the
failed ones' reasons, and each node's measured downtime. Needs the local Kafka. The last
stdout line is one JSON object with every number and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.host import host
from bench.pipeline import Deployment, Outcomes, create_topics, delete_topics, open_client
from interfaces.process import PROJECT_ROOT
from models import IntentSubmitted
from streams.settings import Settings

# A worker's first intent waits for its consumer group and tool connections.
READY_TIMEOUT_S = 120.0
# A cold server process imports the MCP SDK before it listens.
NODE_START_TIMEOUT_S = 30.0


def say(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Node:
    name: str
    log: Path
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None
    down_s: float = 0.0
    outages: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def _spawn(self) -> None:
        argv = ["-m", "tools.servers.simulated", "--seed", "1", "--tool", "name=echo,median_ms=5"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, *argv, "--http", "--port", str(self.port)],
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def start(self) -> None:
        self._spawn()
        deadline = time.monotonic() + NODE_START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError(f"node {self.name} did not listen on {self.port}; see {self.log}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


async def chaos(node: Node, rng: random.Random, mean_up: float, mean_down: float) -> None:
    """Kill and restart ``node`` at random until cancelled; count its downtime."""
    while True:
        await asyncio.sleep(rng.expovariate(1.0 / mean_up))
        node.kill()
        node.outages += 1
        down_since = time.monotonic()
        try:
            await asyncio.sleep(rng.expovariate(1.0 / mean_down))
            await node.start()
        finally:
            node.down_s += time.monotonic() - down_since


def _reason(text: str) -> str:
    """A failure's reason without the step's id ("step <id>: ...") or node ports."""
    head = text.split(": ", 1)[1] if text.startswith("step ") and ": " in text else text
    return head[:80]


def write_config(path: Path, urls: list[str]) -> Path:
    path.write_text(f'[servers.sim]\ntransport = "http"\nurls = {json.dumps(urls)}\n')
    return path


async def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Settings().state_dir / "bench" / f"mesh-{time.strftime('%Y%m%d-%H%M%S')}"
    root.mkdir(parents=True, exist_ok=True)
    a, b = Node("a", root / "node-a.log"), Node("b", root / "node-b.log")
    await asyncio.gather(a.start(), b.start())
    systems = {
        "failover": write_config(root / "failover.toml", [a.url, b.url]),
        "single": write_config(root / "single.toml", [a.url]),
    }
    deployments = {
        name: Deployment.create(
            "toolwise-nolearn", args.broker, args.partitions, root / name, {}, config
        )
        for name, config in systems.items()
    }
    chaos_tasks: list[asyncio.Task[None]] = []
    try:
        for deployment in deployments.values():
            await create_topics(deployment.settings)
            deployment.start()
        clients = {n: await open_client(d.settings) for n, d in deployments.items()}
        outcomes = {n: Outcomes(d.settings) for n, d in deployments.items()}
        collectors = [await o.start() for o in outcomes.values()]
        for name, client in clients.items():  # both nodes up: the worker is ready
            warm = IntentSubmitted(text="warm", tool="sim.echo", arguments={"query": "warm"})
            await client.submit(warm)
            missing = await outcomes[name].wait([warm.intent_id], READY_TIMEOUT_S)
            if missing:
                raise RuntimeError(f"{name}: no outcome of a first intent; see {root}")
        say(f"workers ready; {args.seconds:g} s at {args.rate:g} intents/s under chaos")

        rng = random.Random(args.seed)
        chaos_tasks = [
            asyncio.create_task(
                chaos(node, random.Random(rng.random()), args.mean_up, args.mean_down)
            )
            for node in (a, b)
        ]
        intents = [
            IntentSubmitted(text="bench", tool="sim.echo", arguments={"query": f"q{i}"})
            for i in range(int(args.seconds * args.rate))
        ]
        started = time.perf_counter()
        for index, intent in enumerate(intents):
            delay = started + index / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await asyncio.gather(*(c.submit(intent) for c in clients.values()))
        for task in chaos_tasks:
            task.cancel()
        await asyncio.gather(*chaos_tasks, return_exceptions=True)
        ids = [i.intent_id for i in intents]
        results: dict[str, Any] = {}
        for name, collected in outcomes.items():
            missing = await collected.wait(ids, timeout_s=120.0)
            failed = [i for i in ids if i in collected.failed]
            completed = len(ids) - len(failed) - len(missing)
            results[name] = {
                "intents": len(ids),
                "completed": completed,
                "failed": len(failed),
                "lost": len(missing),
                "success_rate": round(completed / len(ids), 4),
                "failure_reasons": Counter(
                    _reason(collected.failed[i]) for i in failed
                ).most_common(5),
            }
        for collector in collectors:
            collector.cancel()
        for client in clients.values():
            await client.__aexit__(None, None, None)
    finally:
        for task in chaos_tasks:
            task.cancel()
        for deployment in deployments.values():
            deployment.stop()
        a.kill()
        b.kill()
        for deployment in deployments.values():
            await delete_topics(deployment.settings)
    return {
        "machine": host(),
        "params": {
            "seconds": args.seconds,
            "rate_per_s": args.rate,
            "mean_up_s": args.mean_up,
            "mean_down_s": args.mean_down,
            "seed": args.seed,
        },
        "nodes": {
            n.name: {"outages": n.outages, "down_share": round(n.down_s / args.seconds, 3)}
            for n in (a, b)
        },
        "results": results,
        "logs": str(root),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.mesh", description=__doc__)
    parser.add_argument("--seconds", type=float, default=90.0, help="load duration (90)")
    parser.add_argument("--rate", type=float, default=10.0, help="intents/s (10)")
    parser.add_argument("--mean-up", type=float, default=12.0, help="mean up stretch, s (12)")
    parser.add_argument("--mean-down", type=float, default=3.0, help="mean down stretch, s (3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--broker", default="kafka://127.0.0.1:9092")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="only the JSON line on stdout")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rate <= 0 or args.mean_up <= 0 or args.mean_down <= 0:
        parser.error("--seconds, --rate, --mean-up and --mean-down must be positive")
    return args


def cli(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    report = asyncio.run(run(args))
    if not args.json:
        m = report["machine"]
        print(f"machine: {m['nproc']} x {m['cpu']}, Python {m['python']}")
        for name, node in report["nodes"].items():
            print(f"node {name}: {node['outages']} outages, down {node['down_share']:.1%}")
        for name, result in report["results"].items():
            print(
                f"{name:9} {result['completed']}/{result['intents']} completed "
                f"({result['success_rate']:.2%}); failed: {result['failure_reasons']}"
            )
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    cli()
