"""MCP server ``simulated``: tools of set latency, failures, cost and quality (benchmarks)."""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tools.conventions import LOCAL_READ_ONLY, tool_error, tool_meta, tool_result
from tools.servers._serve import SERVER_LOG_LEVEL, main_for

__all__ = ["SimulatedTool", "Simulator", "build_server", "main", "parse_tool_option"]


class SimulatedTool(BaseModel):
    """How one simulated tool behaves; each call reports ``cost`` and a sampled quality in _meta."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    description: str = "A simulated tool that answers a query."
    median_ms: float = Field(default=10.0, ge=0, description="Median latency.")
    sigma: float = Field(
        default=0.0,
        ge=0,
        description="Lognormal shape of the latency; 0 means every call takes median_ms.",
    )
    max_ms: float = Field(
        default=60_000.0,
        gt=0,
        description="Latency cap: a lognormal tail must not stall a benchmark.",
    )
    failure_rate: float = Field(
        default=0.0, ge=0, le=1, description="Share of calls failing transiently."
    )
    error_rate: float = Field(
        default=0.0, ge=0, le=1, description="Share of calls failing permanently."
    )
    cost: float = Field(default=0.0, ge=0, description="Reported cost of every call.")
    quality: float = Field(
        default=0.8, ge=0, le=1, description="Mean quality of a successful answer."
    )
    quality_sd: float = Field(
        default=0.0, ge=0, description="Spread of quality around the mean (clipped to 0..1)."
    )
    fail_after_calls: int | None = Field(
        default=None,
        ge=0,
        description="After this many calls every call fails for good: a tool that breaks.",
    )
    keywords: tuple[str, ...] = ()
    # No pattern by default: a catch-all one would make every simulated tool
    # look able to serve any text; the planner fills the one free-text argument.
    patterns: tuple[str, ...] = ()


# Three tools doing the same job with different trade-offs, so a learner has
# something to choose between: cheap and fast but mediocre, slow and
# expensive but good, and one that fails often.
DEFAULT_TOOLS = (
    SimulatedTool(
        name="fast",
        median_ms=5,
        sigma=0.3,
        failure_rate=0.02,
        cost=0.001,
        quality=0.6,
        quality_sd=0.1,
    ),
    SimulatedTool(
        name="accurate",
        median_ms=40,
        sigma=0.4,
        failure_rate=0.05,
        cost=0.01,
        quality=0.9,
        quality_sd=0.05,
    ),
    SimulatedTool(
        name="flaky",
        median_ms=10,
        sigma=0.5,
        failure_rate=0.3,
        cost=0.002,
        quality=0.75,
        quality_sd=0.1,
    ),
)


class Simulator:
    """Draws latency, outcome and quality for calls; seeded for reproducible benchmarks."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)
        self.calls: dict[str, int] = {}

    def latency_s(self, tool: SimulatedTool) -> float:
        if tool.sigma == 0 or tool.median_ms == 0:
            ms = tool.median_ms
        else:
            ms = tool.median_ms * math.exp(self._random.gauss(0.0, tool.sigma))
        return min(ms, tool.max_ms) / 1000.0

    def outcome(self, tool: SimulatedTool) -> str:
        """'transient', 'error' or 'ok'."""
        calls = self.calls[tool.name] = self.calls.get(tool.name, 0) + 1
        if tool.fail_after_calls is not None and calls > tool.fail_after_calls:
            return "error"
        draw = self._random.random()
        if draw < tool.failure_rate:
            return "transient"
        if draw < tool.failure_rate + tool.error_rate:
            return "error"
        return "ok"

    def quality(self, tool: SimulatedTool) -> float:
        value = (
            tool.quality
            if tool.quality_sd == 0
            else self._random.gauss(tool.quality, tool.quality_sd)
        )
        return min(1.0, max(0.0, value))


class Answer(BaseModel):
    tool: str
    query: str
    answer: str


def _add(server: MCPServer[Any], tool: SimulatedTool, simulator: Simulator) -> None:
    async def run(query: str) -> Annotated[CallToolResult, Answer]:
        await anyio.sleep(simulator.latency_s(tool))  # cancellable, like a real remote call
        outcome = simulator.outcome(tool)
        if outcome == "transient":
            return tool_error(
                f"{tool.name}: simulated transient failure", retryable=True, cost=tool.cost
            )
        if outcome == "error":
            return tool_error(f"{tool.name}: simulated permanent failure", cost=tool.cost)
        quality = simulator.quality(tool)
        answer = Answer(tool=tool.name, query=query, answer=f"{tool.name} answer to: {query}")
        return tool_result(
            answer.model_dump(), answer.answer, cost=tool.cost, quality=round(quality, 4)
        )

    meta = tool_meta(
        patterns=tool.patterns,
        keywords=tool.keywords,
        version="1",
        cost_per_call=tool.cost,
        cacheable=False,
    )
    # A simulation touches nothing outside this process, whatever service it stands for.
    server.add_tool(
        run,
        name=tool.name,
        description=tool.description,
        annotations=LOCAL_READ_ONLY,
        meta=meta,
    )


def build_server(
    tools: Sequence[SimulatedTool | Mapping[str, Any]] | None = None,
    *,
    seed: int | None = None,
    name: str = "simulated",
) -> MCPServer[Any]:
    """One MCP tool per profile (default DEFAULT_TOOLS); dicts are validated as SimulatedTool."""
    profiles = [
        t if isinstance(t, SimulatedTool) else SimulatedTool.model_validate(t)
        for t in tools or DEFAULT_TOOLS
    ]
    names = [p.name for p in profiles]
    if len(set(names)) != len(names):
        raise ValueError(f"simulated tool names must be unique, got {names}")
    server: MCPServer[Any] = MCPServer(name, version="1", log_level=SERVER_LOG_LEVEL)
    simulator = Simulator(seed)
    for profile in profiles:
        _add(server, profile, simulator)
    return server


def parse_tool_option(text: str) -> SimulatedTool:
    """A SimulatedTool from ``name=fast,median_ms=5,sigma=0.3,failure_rate=0.02,cost=0.001``."""
    fields: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected key=value, got {part!r}")
        fields[key.strip()] = (
            value.strip().split("|") if key.strip() == "keywords" else value.strip()
        )
    try:
        return SimulatedTool.model_validate(fields)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tool",
        action="append",
        type=parse_tool_option,
        metavar="KEY=VALUE,...",
        help="a tool profile (repeatable), e.g. name=fast,median_ms=5,sigma=0.3,failure_rate=0.02,"
        "cost=0.001,quality=0.6; keywords separated by '|'. Default: fast, accurate, flaky",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed for reproducible runs")


main = main_for(
    "simulated",
    "Simulated tools with configurable latency, failures, cost and quality.",
    lambda args: build_server(args.tool, seed=args.seed),
    _add_options,
)

if __name__ == "__main__":
    main(None)
