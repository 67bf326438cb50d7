"""What each way in costs: one intent at a time through Kafka, HTTP, MCP and A2A, side by side.

Run: ``python -m bench.interfaces [--rounds N] [--broker URL] [--json]``.

One worker (the benchmark tools, web port on) serves all four clients. Each round sends one
intent through each interface in turn, naming the zero-latency in-process tool, and waits for
its outcome, so the four see the same machine state; latency is submit -> answer on the
client's clock:

- ``kafka``: ``ToolwiseClient.run`` (publish the intent, read the outcomes topic);
- ``http``: ``POST /api/intents?wait=30``;
- ``mcp``: ``tools/call`` of the tool through the gateway (``mcp.Client``, one session);
- ``a2a``: ``message/send`` (blocking) with the SDK's JSON-RPC client.

The report goes to stdout (stderr with ``--json``); the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

import httpx
from a2a.client import ClientConfig, create_client
from a2a.helpers.proto_helpers import new_data_part, new_text_part
from a2a.types.a2a_pb2 import Message, Role, SendMessageRequest, TaskState
from mcp import Client

from bench.host import host
from bench.pipeline import BENCH_TOOLS
from interfaces.client import ToolwiseClient
from interfaces.process import settings_env, spawn_worker, stop_process
from models import IntentCompleted, IntentSubmitted
from streams.settings import Settings
from streams.topics import ensure_topics

TOOL = "simulated.instant"
# Rounds before timing: connections open, the tool server and the planner warm.
WARMUP_ROUNDS = 10
OUT: TextIO = sys.stdout


def say(line: str) -> None:
    print(line, file=OUT, flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _until_up(base: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            try:
                if (await http.get(f"{base}/api/tools")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the worker's web port {base} did not answer")
            await asyncio.sleep(0.5)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    name = f"bench-if-{uuid.uuid4().hex[:8]}"
    root = Settings().state_dir / "bench" / name
    port = _free_port()
    values: dict[str, Any] = {
        "broker": args.broker,
        "topic_prefix": name,
        "app_id": name,
        "partitions": args.partitions,
        "tools_config": BENCH_TOOLS,
        "datadir": root / "data",
        "web_enabled": True,
        "web_port": port,
    }
    settings = Settings(**values)
    await ensure_topics(settings)
    proc = spawn_worker(settings_env(values), root / "worker.log")
    base = f"http://127.0.0.1:{port}"
    try:
        await _until_up(base)
        return await _measure(settings, base, args.rounds)
    finally:
        stop_process(proc, timeout_s=20)


async def _measure(settings: Settings, base: str, rounds: int) -> dict[str, Any]:
    def arguments(i: int) -> dict[str, Any]:
        return {"query": f"q{i}-{uuid.uuid4().hex[:6]}"}  # never the same twice

    async with (
        ToolwiseClient(settings) as kafka,
        httpx.AsyncClient(base_url=base, timeout=60) as http,
        Client(f"{base}/mcp") as mcp,
    ):
        a2a = await create_client(base, client_config=ClientConfig(streaming=False))

        async def via_kafka(i: int) -> None:
            intent = IntentSubmitted(text="bench", tool=TOOL, arguments=arguments(i))
            assert isinstance(await kafka.run(intent, 30.0), IntentCompleted)

        async def via_http(i: int) -> None:
            body = {"text": "bench", "tool": TOOL, "arguments": arguments(i)}
            answer = await http.post("/api/intents", params={"wait": 30}, json=body)
            assert answer.json()["status"] == "completed", answer.text

        async def via_mcp(i: int) -> None:
            result = await mcp.call_tool(TOOL, arguments(i))
            assert not result.is_error, result.content

        async def via_a2a(i: int) -> None:
            message = Message(
                message_id=uuid.uuid4().hex,
                role=Role.ROLE_USER,
                parts=[new_text_part("bench"), new_data_part(arguments(i))],
            )
            message.metadata.update({"toolwise/tool": TOOL})
            async for response in a2a.send_message(SendMessageRequest(message=message)):
                state = response.task.status.state
            assert state == TaskState.TASK_STATE_COMPLETED

        ways: dict[str, Callable[[int], Awaitable[None]]] = {
            "kafka": via_kafka,
            "http": via_http,
            "mcp": via_mcp,
            "a2a": via_a2a,
        }
        times: dict[str, list[float]] = {way: [] for way in ways}
        for i in range(WARMUP_ROUNDS + rounds):
            for way, call in ways.items():
                started = time.perf_counter()
                await call(i)
                if i >= WARMUP_ROUNDS:
                    times[way].append((time.perf_counter() - started) * 1000.0)
        await a2a.close()
    return {way: _summary(ms) for way, ms in times.items()}


def _summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
        "mean_ms": round(statistics.fmean(ordered), 1),
    }


def main(argv: list[str] | None = None) -> None:
    global OUT
    parser = argparse.ArgumentParser(prog="python -m bench.interfaces", description=__doc__)
    parser.add_argument("--rounds", type=int, default=100, help="timed rounds (default 100)")
    parser.add_argument("--broker", default="kafka://127.0.0.1:9092")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--json", action="store_true", help="report on stderr, JSON on stdout")
    parser.add_argument("--out", type=Path, help="also write the JSON report here")
    args = parser.parse_args(argv)
    if args.json:
        OUT = sys.stderr
    machine = host()
    say(f"machine: {machine}")
    results = asyncio.run(run(args))
    say(f"{'interface':10} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for way, row in results.items():
        say(f"{way:10} {row['n']:>4} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['mean_ms']:>8}")
    report = {"machine": machine, "rounds": args.rounds, "results": results}
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
