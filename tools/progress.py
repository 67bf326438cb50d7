"""Where a tool call's MCP progress notifications go: set by the caller, read by the MCP client.

A context variable rather than another parameter of every ``ToolClient.call``: the step runner
knows which intent, call and attempt a notification belongs to, the MCP client is the one that
receives it, and the layers between (the registry, the content gateway, the sandbox client)
have nothing to do with it. Tasks copy the context when they are created, so a call made inside
``reporting_to(fn)`` reports to ``fn`` however it is awaited.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from mcp.shared.dispatcher import ProgressFnT

__all__ = ["ProgressFn", "current", "reporting_to"]

ProgressFn = ProgressFnT
"""``async (progress, total, message)``: MCP's progress callback."""

_sink: ContextVar[ProgressFn | None] = ContextVar("toolwise_progress", default=None)


@contextmanager
def reporting_to(fn: ProgressFn | None) -> Iterator[None]:
    """Tool calls made inside the block report their progress to ``fn``."""
    token = _sink.set(fn)
    try:
        yield
    finally:
        _sink.reset(token)


def current() -> ProgressFn | None:
    """The progress callback of the call being made, if its caller wants progress."""
    return _sink.get()
