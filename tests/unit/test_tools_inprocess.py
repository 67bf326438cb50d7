"""McpToolClient against in-process MCP servers: the real SDK path, without subprocesses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from models.tools import ErrorKind, ToolSpec
from tools.client import McpToolClient
from tools.servers import calculator, simulated, testing


@pytest.fixture
async def testing_client() -> AsyncIterator[tuple[McpToolClient, dict[str, ToolSpec]]]:
    client = McpToolClient("testing", testing.build_server(), launch="in-process testing")
    specs = {spec.tool: spec for spec in await client.list_tools()}
    yield client, specs
    await client.aclose()


async def test_calculator_in_process() -> None:
    client = McpToolClient("calculator", calculator.build_server())
    try:
        [spec] = await client.list_tools()
        assert spec.name == "calculator.evaluate" and spec.cacheable and spec.patterns
        result = await client.call(spec, {"expression": "2 * (3 + 4) ^ 2"}, timeout_s=5)
        assert result.ok and result.output == {"result": 98, "expression": "2 * (3 + 4) ** 2"}
        bad = await client.call(spec, {"expression": "__import__('os')"}, timeout_s=5)
        assert bad.error_kind is ErrorKind.TOOL_ERROR and "__import__" in (bad.error or "")
    finally:
        await client.aclose()


async def test_timeout_cancels_the_handler(
    testing_client: tuple[McpToolClient, dict[str, ToolSpec]],
) -> None:
    client, specs = testing_client
    result = await client.call(specs["sleep"], {"seconds": 30}, timeout_s=0.2)
    assert result.error_kind is ErrorKind.TIMEOUT
    assert 150 < result.latency_ms < 2000
    stats = await client.call(specs["stats"], {}, timeout_s=5)
    assert stats.ok
    assert stats.output["sleeps_cancelled"] == 1 and stats.output["sleeps_completed"] == 0


async def test_flaky_then_ok(testing_client: tuple[McpToolClient, dict[str, ToolSpec]]) -> None:
    client, specs = testing_client
    kinds = [
        (await client.call(specs["flaky"], {"key": "k", "failures": 2}, timeout_s=5)).error_kind
        for _ in range(3)
    ]
    assert kinds == [ErrorKind.TRANSIENT, ErrorKind.TRANSIENT, None]


async def test_invalid_arguments_are_caught_before_sending(
    testing_client: tuple[McpToolClient, dict[str, ToolSpec]],
) -> None:
    client, specs = testing_client
    for arguments in ({}, {"seconds": "soon"}, {"seconds": -1}, {"seconds": 10_000}):
        result = await client.call(specs["sleep"], arguments, timeout_s=5)
        assert result.error_kind is ErrorKind.INVALID_ARGUMENTS, arguments
    stats = await client.call(specs["stats"], {}, timeout_s=5)
    assert stats.output["sleeps_started"] == 0


async def test_server_side_rejection_is_invalid_arguments(
    testing_client: tuple[McpToolClient, dict[str, ToolSpec]],
) -> None:
    client, specs = testing_client
    # A stale or loose spec lets bad arguments through; the server's answer is still classified.
    loose = specs["sleep"].model_copy(update={"input_schema": {}})
    result = await client.call(loose, {"seconds": "soon"}, timeout_s=5)
    assert result.error_kind is ErrorKind.INVALID_ARGUMENTS


async def test_concurrent_calls_share_one_session(
    testing_client: tuple[McpToolClient, dict[str, ToolSpec]],
) -> None:
    client, specs = testing_client
    results = await asyncio.gather(
        *(client.call(specs["echo"], {"text": str(i)}, timeout_s=5) for i in range(50))
    )
    assert [r.output["text"] for r in results] == [str(i) for i in range(50)]


async def test_simulated_reports_cost_and_quality() -> None:
    tools = [
        {"name": "good", "median_ms": 1, "cost": 0.02, "quality": 0.9},
        {"name": "down", "median_ms": 1, "failure_rate": 1.0, "cost": 0.01},
        {"name": "broken", "median_ms": 1, "error_rate": 1.0},
    ]
    client = McpToolClient("sim", simulated.build_server(tools, seed=1))
    try:
        specs = {s.tool: s for s in await client.list_tools()}
        assert specs["good"].cost_per_call == 0.02
        good = await client.call(specs["good"], {"query": "q"}, timeout_s=5)
        assert good.ok and (good.cost, good.quality) == (0.02, 0.9)
        down = await client.call(specs["down"], {"query": "q"}, timeout_s=5)
        assert (down.error_kind, down.cost) == (ErrorKind.TRANSIENT, 0.01)
        broken = await client.call(specs["broken"], {"query": "q"}, timeout_s=5)
        assert broken.error_kind is ErrorKind.TOOL_ERROR
    finally:
        await client.aclose()


def test_simulated_latency_and_failure_rate_follow_the_profile() -> None:
    profile = simulated.SimulatedTool(name="t", median_ms=20, sigma=0.5, failure_rate=0.2)
    sim = simulated.Simulator(seed=3)
    latencies = sorted(sim.latency_s(profile) for _ in range(2001))
    assert latencies[1000] == pytest.approx(0.020, rel=0.1)
    failures = sum(sim.outcome(profile) == "transient" for _ in range(5000))
    assert failures / 5000 == pytest.approx(0.2, abs=0.02)
    fixed = simulated.SimulatedTool(name="f", median_ms=7)
    assert sim.latency_s(fixed) == 0.007


def test_simulated_tool_option_parsing() -> None:
    tool = simulated.parse_tool_option("name=x,median_ms=5,failure_rate=0.1,keywords=a|b")
    assert (tool.name, tool.median_ms, tool.failure_rate, tool.keywords) == (
        "x",
        5,
        0.1,
        ("a", "b"),
    )
