"""ToolRegistry routing, overrides and start-up failures, on handler-driven fake clients."""

from __future__ import annotations

from typing import Any

import pytest

from models.tools import CallResult, ErrorKind, ToolSpec
from tools.client import ToolClient
from tools.config import ToolOverride, parse_tools_config
from tools.exceptions import ServerStartError
from tools.registry import ToolRegistry
from tools.testing import HandlerToolClient, make_spec


async def echo(spec: ToolSpec, arguments: dict[str, Any], timeout_s: float) -> CallResult:
    return CallResult(ok=True, output={"tool": spec.name, **arguments}, cost=spec.cost_per_call)


class BrokenClient:
    """A ToolClient whose server never starts, or whose call raises."""

    def __init__(self, specs: list[ToolSpec] | None = None) -> None:
        self.specs = specs
        self.closed = False

    async def list_tools(self) -> list[ToolSpec]:
        if self.specs is None:
            raise ServerStartError("broken", "stdio: broken-server", "exited")
        return self.specs

    async def call(self, spec: ToolSpec, arguments: Any, timeout_s: float) -> CallResult:
        raise RuntimeError("bug in client")

    async def aclose(self) -> None:
        self.closed = True


def test_fakes_satisfy_the_protocol() -> None:
    assert isinstance(HandlerToolClient(echo), ToolClient)
    assert isinstance(BrokenClient(), ToolClient)


async def test_calls_route_to_the_server_with_the_merged_spec() -> None:
    calc = HandlerToolClient(echo, [make_spec("calc", "evaluate"), make_spec("calc", "hidden")])
    units = HandlerToolClient(echo, [make_spec("units", "convert")])
    overrides = {
        "calc": {
            "evaluate": ToolOverride(cost_per_call=0.25, keywords=("math",), cacheable=True),
            "hidden": ToolOverride(enabled=False),
        }
    }
    async with ToolRegistry({"calc": calc, "units": units}, overrides) as registry:
        assert [s.name for s in registry.specs()] == ["calc.evaluate", "units.convert"]
        spec = registry.get("calc.evaluate")
        assert spec is not None and spec.keywords == ("math",) and spec.cacheable
        assert "calc.hidden" not in registry

        result = await registry.call("calc.evaluate", {"expression": "1+1"}, timeout_s=2.0)
        assert result.ok and result.cost == 0.25
        assert result.output == {"tool": "calc.evaluate", "expression": "1+1"}
        assert calc.calls[0].timeout_s == 2.0 and units.calls == []
    assert calc.closed and units.closed


async def test_unknown_tool_is_a_result_not_an_exception() -> None:
    async with ToolRegistry(
        {"calc": HandlerToolClient(echo, [make_spec("calc", "evaluate")])}
    ) as r:
        result = await r.call("calc.nope", {}, timeout_s=1.0)
    assert result.error_kind is ErrorKind.UNKNOWN_TOOL
    assert "calc.evaluate" in (result.error or "")


async def test_required_server_failure_names_it_and_closes_the_others() -> None:
    good = HandlerToolClient(echo, [make_spec("calc", "evaluate")])
    registry = ToolRegistry({"calc": good, "broken": BrokenClient()})
    with pytest.raises(ServerStartError, match=r"'broken'.*broken-server"):
        await registry.start()
    assert good.closed


async def test_optional_server_failure_is_skipped() -> None:
    broken = BrokenClient()
    good = HandlerToolClient(echo, [make_spec("calc", "evaluate")])
    registry = ToolRegistry({"calc": good, "broken": broken}, optional=frozenset({"broken"}))
    async with registry:
        assert [s.name for s in registry.specs()] == ["calc.evaluate"]
    assert broken.closed


async def test_a_client_that_raises_still_yields_a_result() -> None:
    async with ToolRegistry({"b": BrokenClient([make_spec("b", "t")])}) as registry:
        result = await registry.call("b.t", {}, timeout_s=1.0)
    assert result.error_kind is ErrorKind.TOOL_ERROR
    assert "bug in client" in (result.error or "")


async def test_in_process_servers_from_config() -> None:
    config = parse_tools_config(
        {
            "servers": {
                "sim": {
                    "transport": "inprocess",
                    "factory": "tools.servers.simulated:build_server",
                    "kwargs": {"tools": [{"name": "only", "median_ms": 0, "cost": 0.5}]},
                    "tools": {"only": {"keywords": ["answer"]}},
                },
                "gone": {
                    "transport": "inprocess",
                    "factory": "tools.servers.simulated:no_such_factory",
                    "optional": True,
                },
            }
        }
    )
    async with ToolRegistry.from_config(config) as registry:
        [spec] = registry.specs()
        assert (spec.name, spec.keywords, spec.cost_per_call) == ("sim.only", ("answer",), 0.5)
        result = await registry.call("sim.only", {"query": "q"}, timeout_s=5)
        assert result.ok and result.cost == 0.5


def test_required_in_process_factory_failure_names_the_server() -> None:
    config = parse_tools_config(
        {"servers": {"sim": {"transport": "inprocess", "factory": "tools.servers.simulated:nope"}}}
    )
    with pytest.raises(ServerStartError, match=r"'sim'.*simulated:nope"):
        ToolRegistry.from_config(config)
