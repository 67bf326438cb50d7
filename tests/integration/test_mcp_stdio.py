"""The bundled MCP servers as real stdio subprocesses, through McpToolClient and ToolRegistry."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from models.tools import CallResult, ErrorKind, ToolSpec
from streams.settings import Settings
from tools.client import McpToolClient
from tools.config import StdioServerConfig
from tools.registry import ToolRegistry, build_client


def stdio_client(module: str, *args: str, **fields: Any) -> McpToolClient:
    config = StdioServerConfig(
        transport="stdio", command=["python", "-m", f"tools.servers.{module}", *args], **fields
    )
    return build_client(module, config)


class ServerHandle:
    """A client of one `testing` server process, with its tools by name."""

    def __init__(self, client: McpToolClient, specs: dict[str, ToolSpec]) -> None:
        self.client = client
        self.specs = specs

    async def call(self, tool: str, timeout_s: float = 10.0, **arguments: Any) -> CallResult:
        return await self.client.call(self.specs[tool], arguments, timeout_s)

    async def stats(self) -> dict[str, Any]:
        result = await self.call("stats")
        assert result.ok, result.error
        return dict(result.output)


@pytest.fixture
async def testing_server() -> AsyncIterator[ServerHandle]:
    client = stdio_client("testing")
    specs = {spec.tool: spec for spec in await client.list_tools()}
    yield ServerHandle(client, specs)
    await client.aclose()


async def test_default_config_starts_every_server_and_each_tool_answers() -> None:
    calls: dict[str, dict[str, Any]] = {
        "calculator.evaluate": {"expression": "2 * (3 + 4) ^ 2"},
        "units.convert": {"value": "5", "from_unit": "mi", "to_unit": "km"},
        "docsearch.search": {"query": "exponential backoff jitter", "top_k": 1},
        "simulated.accurate": {"query": "anything"},
        "testing.echo": {"text": "hi"},
    }
    async with ToolRegistry.from_file(Settings().tools_config) as registry:
        assert set(calls) <= {spec.name for spec in registry.specs()}
        answers = await asyncio.gather(*(registry.call(n, a, 10.0) for n, a in calls.items()))
        results = dict(zip(calls, answers, strict=True))
    assert results["calculator.evaluate"].output == {"result": 98, "expression": "2 * (3 + 4) ** 2"}
    assert results["units.convert"].output["value"] == pytest.approx(8.04672)
    assert results["docsearch.search"].output["hits"][0]["path"] == "retries.md"
    simulated = results["simulated.accurate"]
    assert simulated.ok and simulated.cost == 0.01 and simulated.quality is not None
    assert results["testing.echo"].output == {"text": "hi", "data": None}


async def test_calculator_over_stdio() -> None:
    client = stdio_client("calculator")
    try:
        [spec] = await client.list_tools()
        ok = await client.call(spec, {"expression": "sqrt(16) + 10 // 3"}, timeout_s=10)
        assert ok.ok and ok.output["result"] == 7.0 and ok.latency_ms > 0
        bad = await client.call(spec, {"expression": "1 / 0"}, timeout_s=10)
        assert (bad.ok, bad.error_kind, bad.error) == (
            False,
            ErrorKind.TOOL_ERROR,
            "division by zero",
        )
    finally:
        await client.aclose()


async def test_timeout_is_reported_and_cancels_the_call_on_the_server(
    testing_server: ServerHandle,
) -> None:
    result = await testing_server.call("sleep", timeout_s=0.3, seconds=30)
    assert result.error_kind is ErrorKind.TIMEOUT
    assert 250 < result.latency_ms < 1500
    # The cancellation notice is asynchronous: give the server a moment to act on it.
    for _ in range(50):
        stats = await testing_server.stats()
        if stats["sleeps_cancelled"]:
            break
        await asyncio.sleep(0.05)
    assert (stats["sleeps_started"], stats["sleeps_cancelled"], stats["sleeps_completed"]) == (
        1,
        1,
        0,
    )
    # The session is still healthy and fast after the timeout.
    started = time.perf_counter()
    echo = await testing_server.call("echo", text="after")
    assert echo.ok and time.perf_counter() - started < 1.0


async def test_flaky_fails_transiently_twice_then_succeeds(testing_server: ServerHandle) -> None:
    results = [await testing_server.call("flaky", key="k1", failures=2) for _ in range(3)]
    assert [r.error_kind for r in results] == [ErrorKind.TRANSIENT, ErrorKind.TRANSIENT, None]
    assert all(r.error_kind.retryable for r in results[:2] if r.error_kind)
    assert results[2].output == {"key": "k1", "attempt": 3}


async def test_permanent_failure_is_a_tool_error(testing_server: ServerHandle) -> None:
    result = await testing_server.call("fail", message="no such city")
    assert (result.error_kind, result.error) == (ErrorKind.TOOL_ERROR, "no such city")
    assert not ErrorKind.TOOL_ERROR.retryable


async def test_invalid_arguments(testing_server: ServerHandle) -> None:
    client_side = await testing_server.call("sleep", seconds="soon")
    assert client_side.error_kind is ErrorKind.INVALID_ARGUMENTS
    assert "seconds" in (client_side.error or "")
    assert "sleep" not in (await testing_server.stats())["calls"]  # never sent

    loose = testing_server.specs["flaky"].model_copy(update={"input_schema": {}})
    server_side = await testing_server.client.call(loose, {"key": "k"}, timeout_s=10)
    assert server_side.error_kind is ErrorKind.INVALID_ARGUMENTS


async def test_concurrent_calls_over_one_session(testing_server: ServerHandle) -> None:
    pid = (await testing_server.stats())["pid"]
    results = await asyncio.gather(*(testing_server.call("echo", text=str(i)) for i in range(100)))
    assert [r.output["text"] for r in results] == [str(i) for i in range(100)]
    assert (await testing_server.stats())["pid"] == pid


async def test_killed_server_gives_connection_then_reconnects(testing_server: ServerHandle) -> None:
    first_pid = (await testing_server.stats())["pid"]
    in_flight = asyncio.create_task(testing_server.call("sleep", seconds=30))
    await asyncio.sleep(0.2)
    os.kill(first_pid, signal.SIGKILL)

    lost = await asyncio.wait_for(in_flight, 5)
    assert lost.error_kind is ErrorKind.CONNECTION
    after = await testing_server.call("echo", text="again")
    assert after.ok, after.error
    assert (await testing_server.stats())["pid"] != first_pid


async def test_reconnect_survives_callers_that_give_up(testing_server: ServerHandle) -> None:
    os.kill((await testing_server.stats())["pid"], signal.SIGKILL)
    assert (await testing_server.call("echo", text="x")).error_kind is ErrorKind.CONNECTION
    # The executor abandons a call after its own deadline, mid-reconnect: the
    # reconnect must carry on for the next caller.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(testing_server.call("echo", timeout_s=0.05, text="x"), 0.1)
    result = await testing_server.call("echo", text="y")
    assert result.ok, result.error


async def test_server_that_cannot_start() -> None:
    client = stdio_client("no_such_server", connect_timeout_s=10)
    try:
        with pytest.raises(Exception, match="no_such_server"):
            await client.list_tools()
        spec = ToolSpec(name="no_such_server.t", server="no_such_server", tool="t")
        result = await client.call(spec, {}, timeout_s=1)
        assert result.error_kind is ErrorKind.CONNECTION
        assert "tools.servers.no_such_server" in (result.error or "")
    finally:
        await client.aclose()
