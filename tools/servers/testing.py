"""MCP server ``testing``: tools whose failures and timing the integration tests control."""

from __future__ import annotations

import os
from collections import Counter
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from tools.conventions import LOCAL_READ_ONLY, tool_error, tool_result
from tools.servers._serve import SERVER_LOG_LEVEL, main_for

__all__ = ["build_server", "main"]

# Long enough for any timeout test, short enough that a leaked call ends on its own.
MAX_SLEEP_S = 600.0
# flaky counts calls per key: a second call has an effect the first did not.
_STATEFUL = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)


class Slept(BaseModel):
    slept_s: float


class Counted(BaseModel):
    steps: int


class FlakyOutcome(BaseModel):
    key: str
    attempt: int


class Echoed(BaseModel):
    text: str
    data: dict[str, Any] | None


class Stats(BaseModel):
    pid: int
    sleeps_started: int
    sleeps_completed: int
    sleeps_cancelled: int
    calls: dict[str, int]


def build_server() -> MCPServer[Any]:
    """A fresh server; its counters live in this object (per process for stdio/HTTP)."""
    server: MCPServer[Any] = MCPServer("testing", version="1", log_level=SERVER_LOG_LEVEL)
    calls: Counter[str] = Counter()
    sleeps: Counter[str] = Counter()
    attempts: Counter[str] = Counter()

    @server.tool(annotations=LOCAL_READ_ONLY)
    async def sleep(
        seconds: Annotated[float, Field(ge=0, le=MAX_SLEEP_S)],
    ) -> Annotated[CallToolResult, Slept]:
        """Sleep, then return; a cancelled call stops sleeping (see stats)."""
        calls["sleep"] += 1
        sleeps["started"] += 1
        try:
            await anyio.sleep(seconds)
        except anyio.get_cancelled_exc_class():
            sleeps["cancelled"] += 1
            raise
        sleeps["completed"] += 1
        return tool_result(Slept(slept_s=seconds).model_dump(), f"slept {seconds:g} s")

    @server.tool(annotations=LOCAL_READ_ONLY)
    async def count(
        steps: Annotated[int, Field(ge=1, le=1000)],
        delay_s: Annotated[float, Field(ge=0, le=10)],
        ctx: Context,
    ) -> Annotated[CallToolResult, Counted]:
        """Count to ``steps``, ``delay_s`` apart, with an MCP progress notification at each."""
        calls["count"] += 1
        for step in range(1, steps + 1):
            await anyio.sleep(delay_s)
            await ctx.report_progress(step, steps, f"step {step} of {steps}")
        return tool_result(Counted(steps=steps).model_dump(), f"counted to {steps}")

    @server.tool(annotations=_STATEFUL)
    def flaky(
        key: str, failures: Annotated[int, Field(ge=0)]
    ) -> Annotated[CallToolResult, FlakyOutcome]:
        """Fail transiently on the first ``failures`` calls with this key, then succeed."""
        calls["flaky"] += 1
        attempts[key] += 1
        attempt = attempts[key]
        if attempt <= failures:
            return tool_error(
                f"flaky {key!r}: attempt {attempt} of {failures} planned failures", retryable=True
            )
        return tool_result(
            FlakyOutcome(key=key, attempt=attempt).model_dump(), f"ok after {attempt} attempts"
        )

    @server.tool(annotations=LOCAL_READ_ONLY)
    def echo(
        text: str = "", data: dict[str, Any] | None = None
    ) -> Annotated[CallToolResult, Echoed]:
        """Return the arguments unchanged."""
        calls["echo"] += 1
        return tool_result(Echoed(text=text, data=data).model_dump(), text)

    @server.tool(annotations=LOCAL_READ_ONLY)
    def fail(message: str) -> CallToolResult:
        """Fail permanently with ``message``."""
        calls["fail"] += 1
        return tool_error(message)

    @server.tool(annotations=LOCAL_READ_ONLY)
    def stats() -> Annotated[CallToolResult, Stats]:
        """This server's process id and call counters, to observe it from a test."""
        out = Stats(
            pid=os.getpid(),
            sleeps_started=sleeps["started"],
            sleeps_completed=sleeps["completed"],
            sleeps_cancelled=sleeps["cancelled"],
            calls=dict(calls),
        )
        return tool_result(out.model_dump(), str(out.model_dump()))

    return server


main = main_for("testing", "Tools for Toolwise's integration tests.", lambda _args: build_server())

if __name__ == "__main__":
    main(None)
