"""Test doubles for the ToolClient boundary: a client that answers with a handler function."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from models.tools import CallResult, ToolSpec

__all__ = ["Handler", "HandlerToolClient", "RecordedCall", "make_spec"]

Handler = Callable[[ToolSpec, dict[str, Any], float], Awaitable[CallResult]]
"""``async (spec, arguments, timeout_s) -> CallResult``, like httpx.MockTransport's handler."""


@dataclass(frozen=True)
class RecordedCall:
    tool: str
    arguments: dict[str, Any]
    timeout_s: float


def make_spec(server: str, tool: str, **fields: Any) -> ToolSpec:
    """A ToolSpec named '<server>.<tool>' with any other field set by keyword."""
    return ToolSpec(name=f"{server}.{tool}", server=server, tool=tool, **fields)


class HandlerToolClient:
    """A ToolClient whose calls are answered by ``handler``; records every call.

    ``specs`` is what ``list_tools`` returns. Unlike McpToolClient it neither
    validates arguments nor enforces ``timeout_s``: the handler decides.
    """

    def __init__(self, handler: Handler, specs: Iterable[ToolSpec] = ()) -> None:
        self._handler = handler
        self._specs = list(specs)
        self.calls: list[RecordedCall] = []
        self.closed = False

    async def list_tools(self) -> list[ToolSpec]:
        return list(self._specs)

    async def call(
        self, spec: ToolSpec, arguments: Mapping[str, Any], timeout_s: float
    ) -> CallResult:
        args = dict(arguments)
        self.calls.append(RecordedCall(spec.name, args, timeout_s))
        return await self._handler(spec, args, timeout_s)

    async def aclose(self) -> None:
        self.closed = True
