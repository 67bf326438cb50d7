"""Milliseconds per call of a trivial generated tool in the sandbox, beside a plain
in-process MCP tool doing the same (echo its argument back).

Run: ``python -m bench.sandbox [--calls 400] [--json]``. Both sides go through their
ToolClient's ``call`` (argument validation included), one call at a time, in
alternating rounds so that the machine's drift hits both alike. Also reported: what
starting one sandbox worker costs (bubblewrap plus the interpreter), which is what
every call would pay without the pre-forked worker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from bench.host import host
from models.events import GeneratedToolSubmitted
from models.tools import ToolSpec
from tools.client import McpToolClient, ToolClient
from tools.sandbox import SandboxLimits, SandboxPool, SandboxToolClient
from tools.servers import testing

ECHO_SOURCE = "def run(text):\n    return {'text': text}\n"
ECHO_SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
# Calls per round; rounds alternate between the two sides.
ROUND = 50
# Warm-up calls fill caches (pydantic models, the worker's pages) before timing.
WARMUP_CALLS = 30
WORKER_STARTS = 10


async def _timed(client: ToolClient, spec: ToolSpec, calls: int) -> list[float]:
    latencies = []
    for i in range(calls):
        started = time.perf_counter()
        result = await client.call(spec, {"text": f"hello {i}"}, timeout_s=10)
        latencies.append((time.perf_counter() - started) * 1000)
        if not result.ok:
            raise RuntimeError(f"{spec.name} failed: {result.error}")
    return latencies


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "calls": len(ordered),
        "median_ms": round(statistics.median(ordered), 3),
        "p90_ms": round(ordered[int(len(ordered) * 0.9)], 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99)], 3),
    }


async def _worker_start_ms(starts: int) -> list[float]:
    times = []
    for _ in range(starts):
        pool = SandboxPool(SandboxLimits(), size=1)
        started = time.perf_counter()
        await pool.start()
        times.append((time.perf_counter() - started) * 1000)
        await pool.aclose()
    return times


async def main(calls: int) -> dict[str, Any]:
    mcp = McpToolClient("testing", testing.build_server())
    [mcp_spec] = [s for s in await mcp.list_tools() if s.tool == "echo"]
    submission = GeneratedToolSubmitted(name="echo", source=ECHO_SOURCE, input_schema=ECHO_SCHEMA)
    sandbox = SandboxToolClient("generated", [submission], SandboxPool(SandboxLimits(), size=1))
    [sandbox_spec] = await sandbox.list_tools()
    sides: dict[str, tuple[ToolClient, ToolSpec]] = {
        "in-process MCP tool (testing.echo)": (mcp, mcp_spec),
        "generated tool in the sandbox": (sandbox, sandbox_spec),
    }
    latencies: dict[str, list[float]] = {name: [] for name in sides}
    try:
        for client, spec in sides.values():
            await _timed(client, spec, WARMUP_CALLS)
        for _ in range(max(1, calls // ROUND)):
            for name, (client, spec) in sides.items():
                latencies[name] += await _timed(client, spec, ROUND)
    finally:
        await mcp.aclose()
        await sandbox.aclose()
    starts = await _worker_start_ms(WORKER_STARTS)
    return {
        "host": host(),
        "per_call": {name: _summary(values) for name, values in latencies.items()},
        "sandbox_worker_start_ms": {
            "starts": len(starts),
            "median_ms": round(statistics.median(starts), 1),
            "max_ms": round(max(starts), 1),
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=400, help="calls per side")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    options = parser.parse_args()
    report = asyncio.run(main(options.calls))
    if not options.json:
        print(f"machine: {report['host']}")
        for name, row in report["per_call"].items():
            print(
                f"{name:<38} median {row['median_ms']:6.2f} ms  p90 {row['p90_ms']:6.2f}  "
                f"p99 {row['p99_ms']:6.2f}  ({row['calls']} calls)"
            )
        start = report["sandbox_worker_start_ms"]
        print(
            f"starting one sandbox worker: median {start['median_ms']} ms, max {start['max_ms']} ms"
        )
    print(json.dumps(report))
