"""A bundled server over streamable HTTP: calls, a killed server, reconnecting to its successor."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.tools import ErrorKind
from tools.config import PROJECT_ROOT, HttpServerConfig
from tools.registry import build_client

# A cold Python MCP server takes about a second to import and bind; CI boxes are slower.
STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tools.servers.calculator", "--http", "--port", str(port)],
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"HTTP server exited early:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail(f"HTTP server did not listen on {port} within {STARTUP_TIMEOUT_S} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def server(port: int, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_server(port, tmp_path / "server.log")
    yield proc
    stop(proc)


async def test_calls_over_streamable_http(
    server: subprocess.Popen[bytes], port: int, tmp_path: Path
) -> None:
    config = HttpServerConfig(transport="http", url=f"http://127.0.0.1:{port}/mcp")
    client = build_client("calculator", config)
    try:
        [spec] = await client.list_tools()
        assert spec.name == "calculator.evaluate" and spec.patterns
        result = await client.call(spec, {"expression": "6 * 7"}, timeout_s=10)
        assert result.ok and result.output == {"result": 42, "expression": "6 * 7"}
        error = await client.call(spec, {"expression": "import os"}, timeout_s=10)
        assert error.error_kind is ErrorKind.TOOL_ERROR

        stop(server)
        lost = await client.call(spec, {"expression": "1 + 1"}, timeout_s=10)
        assert lost.error_kind is ErrorKind.CONNECTION

        successor = start_server(port, tmp_path / "successor.log")
        try:
            again = await client.call(spec, {"expression": "1 + 1"}, timeout_s=10)
            assert again.ok and again.output["result"] == 2, again.error
        finally:
            stop(successor)
    finally:
        await client.aclose()
