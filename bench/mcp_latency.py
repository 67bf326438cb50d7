"""Median tools/call latency of the calculator over in-process, stdio and streamable HTTP.

Run: ``python -m bench.mcp_latency [--calls 500]``. Measures McpToolClient.call end to end
(argument validation, the MCP round trip, result classification), one call at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time

from tools.client import McpToolClient
from tools.config import PROJECT_ROOT, HttpServerConfig, StdioServerConfig
from tools.registry import build_client
from tools.servers import calculator

# Warm-up calls fill caches and JITs of the SDK's pydantic models before timing.
WARMUP_CALLS = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"no HTTP server on port {port} after {timeout_s} s")


async def _measure(client: McpToolClient, calls: int) -> list[float]:
    [spec] = await client.list_tools()
    arguments = {"expression": "2 * (3 + 4) ^ 2"}
    for _ in range(WARMUP_CALLS):
        await client.call(spec, arguments, timeout_s=10)
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        result = await client.call(spec, arguments, timeout_s=10)
        latencies.append((time.perf_counter() - started) * 1000)
        assert result.ok, result.error
    await client.aclose()
    return latencies


def _summary(name: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p90 = ordered[int(len(ordered) * 0.9)]
    p99 = ordered[int(len(ordered) * 0.99)]
    return f"{name:<10} median {statistics.median(ordered):6.2f} ms  p90 {p90:6.2f}  p99 {p99:6.2f}"


async def main(calls: int) -> None:
    stdio = StdioServerConfig(
        transport="stdio", command=["python", "-m", "tools.servers.calculator"]
    )
    port = _free_port()
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before any timing
        [sys.executable, "-m", "tools.servers.calculator", "--http", "--port", str(port)],
        cwd=PROJECT_ROOT,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port)
        http = HttpServerConfig(transport="http", url=f"http://127.0.0.1:{port}/mcp")
        clients = {
            "in-process": McpToolClient("calculator", calculator.build_server()),
            "stdio": build_client("calculator", stdio),
            "http": build_client("calculator", http),
        }
        print(f"{calls} sequential calls after {WARMUP_CALLS} warm-up calls")
        for name, client in clients.items():
            print(_summary(name, await _measure(client, calls)))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    asyncio.run(main(parser.parse_args().calls))
