"""Intent success rate with failover over two nodes against a single node, nodes failing at random.

Run: ``python -m bench.mesh [--seconds 180] [--rate 10] [--mean-up 57] [--mean-down 3] [--json]``.

Two HTTP nodes of the simulated server (``tools.servers.simulated --http``) serve ``sim.echo``.
Each is killed and restarted at random, on its own schedule: up for an exponentially
distributed stretch (mean ``--mean-up`` s), then down (mean ``--mean-down`` s), seeded. The
defaults model a node that crashes about once a minute and is back 3 s later (a supervisor
restart): 95 % available, independently of the other.

Each node's URL names a TCP front the bench holds; a crash closes it (connections refused),
cuts the connections through it, kills the process and starts the replacement at once (a
Python MCP server needs 1-5 s to import and bind on this shared machine), and opens the front
again when the drawn outage is over. So an outage lasts what was drawn, not that plus a process
start (unless the start is longer). Each node's downtime is measured (crash to front open) and
reported with the configured share and the time both were down.

Two real workers run side by side on their own topics, under the same schedule:

- **failover**: ``sim`` with both nodes (``urls = [a, b]``): the mesh routes each call to a
  healthy node and fails over within the attempt;
- **single**: ``sim`` with node a only.

The same intents, paced at ``--rate``/s, go to both; each with the default step policy (3
attempts, 10 s timeout, backoff). Reported: the share of intents completed per system, the
failed ones' reasons, each system's node status changes (flapping shows there), and each
node's measured downtime. Needs the local Kafka. The last
stdout line is one JSON object with every number and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import statistics
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
from interfaces.client import tail
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
    """One simulated server process behind a TCP front on the port its URL names.

    A crash (``fail``) closes the front (connections are refused), cuts every connection
    through it, kills the process and starts its replacement at once; the front opens again
    when the drawn outage is over, or when the replacement listens if that takes longer. So
    the outage lasts what was drawn, not that plus a process start, unless a start is longer.
    """

    name: str
    log: Path
    port: int = field(default_factory=_free_port)  # the front: what the workers call
    backend_port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None
    outages: list[tuple[float, float]] = field(default_factory=list)  # (killed, front open)
    starts: list[float] = field(default_factory=list)  # spawn to listening, s
    _front: asyncio.Server | None = None
    _links: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _spawn(self) -> None:
        argv = ["-m", "tools.servers.simulated", "--seed", "1", "--tool", "name=echo,median_ms=5"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, *argv, "--http", "--port", str(self.backend_port)],
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def _backend_listening(self, record: bool = True) -> None:
        spawned = time.monotonic()
        while time.monotonic() - spawned < NODE_START_TIMEOUT_S:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.backend_port)
                writer.close()
                if record:
                    self.starts.append(time.monotonic() - spawned)
                return
            except OSError:
                await asyncio.sleep(0.02)
        raise RuntimeError(f"node {self.name} did not listen; see {self.log}")

    async def start(self) -> None:
        """Run the process (unless it runs) and open the front once it listens."""
        if not self.alive:
            self._spawn()
            await self._backend_listening()
        else:
            await self._backend_listening(record=False)
        if self._front is None:
            self._front = await asyncio.start_server(self._link, "127.0.0.1", self.port)

    async def fail(self, down_s: float) -> None:
        """Crash now and be back after ``down_s`` (or a process start, if longer)."""
        killed = time.monotonic()
        try:
            await self.stop()
            self._spawn()  # the supervisor restarts it at once
            await asyncio.gather(asyncio.sleep(down_s), self._backend_listening())
            self._front = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        finally:
            self.outages.append((killed, time.monotonic()))

    async def _link(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            backend_r, backend_w = await asyncio.open_connection("127.0.0.1", self.backend_port)
        except OSError:
            client_w.transport.abort()
            return
        self._links |= {client_w, backend_w}
        try:
            await asyncio.gather(_pipe(client_r, backend_w), _pipe(backend_r, client_w))
        finally:
            self._links -= {client_w, backend_w}

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    async def stop(self) -> None:
        if self._front is not None:
            self._front.close()
            self._front = None
        for writer in list(self._links):
            writer.transport.abort()
        self.kill()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except OSError:
        pass  # cut by a crash, or the other side went away
    finally:
        sink.close()


def down_within(outages: list[tuple[float, float]], begin: float, end: float) -> float:
    """Seconds of [begin, end] covered by the outages."""
    return sum(max(0.0, min(up, end) - max(killed, begin)) for killed, up in outages)


def clipped(
    outages: list[tuple[float, float]], begin: float, end: float
) -> list[tuple[float, float]]:
    """The parts of the outages within [begin, end]."""
    return [(max(k, begin), min(u, end)) for k, u in outages if u > begin and k < end]


def both_down(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Seconds during which an outage of ``a`` and one of ``b`` overlapped."""
    return sum(down_within(b, killed, up) for killed, up in a)


async def chaos(node: Node, rng: random.Random, mean_up: float, mean_down: float) -> None:
    """Crash ``node`` at random until cancelled (each outage is recorded by ``Node.fail``)."""
    while True:
        await asyncio.sleep(rng.expovariate(1.0 / mean_up))
        await node.fail(rng.expovariate(1.0 / mean_down))


def _reason(text: str) -> str:
    """A failure's reason without the step's id ("step <id>: ...") or node ports."""
    head = text.split(": ", 1)[1] if text.startswith("step ") and ": " in text else text
    return head[:80]


def status_changes(records: list[dict[str, Any]], names: dict[str, str]) -> dict[str, Any]:
    """node name -> {"before->after": count} of the NodeStatusChanged events among the registry
    topic's records (``names``: node id -> name), and under "degraded_because" the reasons
    given for DEGRADED; flapping shows as many round trips."""
    changes: dict[str, Counter[str]] = {}
    degraded: dict[str, int] = {}  # why a node went DEGRADED (the event's reason)
    for record in records:
        value = record["value"]
        if not isinstance(value, dict) or value.get("type") != "NodeStatusChanged":
            continue
        node_id = str(value["node"])
        node = names.get(node_id, node_id)
        changes.setdefault(node, Counter())[f"{value['before']}->{value['after']}"] += 1
        if value["after"] == "degraded":
            why = f"{node}: {value.get('reason') or ''}"
            degraded[why[:120]] = degraded.get(why[:120], 0) + 1
    counted = {node: dict(sorted(counts.items())) for node, counts in sorted(changes.items())}
    return {**counted, "degraded_because": degraded} if degraded else counted


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
        load_began = time.monotonic()
        started = time.perf_counter()
        for index, intent in enumerate(intents):
            delay = started + index / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await asyncio.gather(*(c.submit(intent) for c in clients.values()))
        load_ended = time.monotonic()
        for task in chaos_tasks:
            task.cancel()
        await asyncio.gather(*chaos_tasks, return_exceptions=True)
        # Intents still in flight finish with both nodes up: the load window is what is judged.
        await asyncio.gather(a.start(), b.start())
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
                "status_changes": status_changes(
                    [r async for r in tail(deployments[name].settings, "registry", True, 1.5)],
                    {f"sim@127.0.0.1:{n.port}": n.name for n in (a, b)},
                ),
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
        await a.stop()
        await b.stop()
        for deployment in deployments.values():
            await delete_topics(deployment.settings)
    window = load_ended - load_began
    return {
        "machine": host(),
        "params": {
            "seconds": args.seconds,
            "rate_per_s": args.rate,
            "mean_up_s": args.mean_up,
            "mean_down_s": args.mean_down,
            "seed": args.seed,
        },
        "configured_down_share": round(args.mean_down / (args.mean_up + args.mean_down), 3),
        "nodes": {
            n.name: {
                "outages": len(n.outages),
                "down_share": round(down_within(n.outages, load_began, load_ended) / window, 3),
                "median_start_s": round(statistics.median(n.starts), 2),
                "longest_outage_s": round(max((u - k for k, u in n.outages), default=0.0), 1),
            }
            for n in (a, b)
        },
        "both_down_share": round(
            both_down(clipped(a.outages, load_began, load_ended), b.outages) / window, 3
        ),
        "results": results,
        "logs": str(root),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.mesh", description=__doc__)
    parser.add_argument("--seconds", type=float, default=180.0, help="load duration (180)")
    parser.add_argument("--rate", type=float, default=10.0, help="intents/s (10)")
    parser.add_argument("--mean-up", type=float, default=57.0, help="mean up stretch, s (57)")
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
        print(f"configured downtime per node: {report['configured_down_share']:.1%}")
        for name, node in report["nodes"].items():
            print(
                f"node {name}: {node['outages']} outages, down {node['down_share']:.1%} "
                f"(median start {node['median_start_s']:g} s)"
            )
        print(f"both nodes down: {report['both_down_share']:.1%}")
        for name, result in report["results"].items():
            print(
                f"{name:9} {result['completed']}/{result['intents']} completed "
                f"({result['success_rate']:.2%}); failed: {result['failure_reasons']}"
            )
            print(f"{'':9} node status changes: {result['status_changes']}")
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    cli()
