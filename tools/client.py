"""The transport boundary: the ToolClient protocol and its MCP implementation."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import anyio
from mcp import Client
from mcp.shared.exceptions import MCPError

from models.tools import CallResult, ErrorKind, ToolSpec
from tools import progress
from tools._connection import McpConnection, McpTarget
from tools._outcomes import (
    argument_problem,
    coerce_arguments,
    failure,
    from_tool_result,
    kind_of_mcp_error,
)
from tools._specs import spec_from_mcp
from tools.config import DEFAULT_CONNECT_TIMEOUT_S
from tools.exceptions import ServerStartError, ToolsError

__all__ = ["McpTarget", "McpToolClient", "ToolClient"]

logger = logging.getLogger(__name__)

# The SDK's read timeout is what cancels the call on the server; this outer
# guard only catches a call stuck before the request is sent (a full pipe).
_TIMEOUT_GRACE_S = 1.0

# A transport that broke mid-call raises one of these instead of MCPError.
_CONNECTION_ERRORS = (
    OSError,
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    anyio.EndOfStream,
)


@runtime_checkable
class ToolClient(Protocol):
    """One tool server as Toolwise sees it. ``call`` never raises for a failed call."""

    async def list_tools(self) -> list[ToolSpec]:
        """The server's tools (MCP ``tools/list``), without config overrides."""
        ...

    async def call(
        self, spec: ToolSpec, arguments: Mapping[str, Any], timeout_s: float
    ) -> CallResult:
        """Call ``spec.tool`` once; failures come back as ``CallResult(ok=False, ...)``."""
        ...

    async def aclose(self) -> None:
        """Release the connection; the client must not be used afterwards."""
        ...


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _retrieve(task: asyncio.Task[Any]) -> None:
    # Every caller may have given up waiting; the failure is reported to the
    # next caller instead, so asyncio must not log it as never retrieved.
    if not task.cancelled():
        task.exception()


def _reason(exc: BaseException) -> str:
    """One line an operator can act on, from whatever the handshake raised."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_reason(inner) for inner in exc.exceptions)
    if isinstance(exc, MCPError) and kind_of_mcp_error(exc) is ErrorKind.CONNECTION:
        return "the server closed the connection during the handshake (did it exit? see its stderr)"
    return f"{type(exc).__name__}: {exc}"


class McpToolClient:
    """A ToolClient over one MCP session, shared by concurrent calls and reopened after loss.

    ``target`` is anything ``mcp.Client`` accepts: ``StdioServerParameters``, an
    ``http(s)://.../mcp`` URL, or an ``MCPServer`` object (in-process). The session
    opens on first use; when a call finds it broken the call returns CONNECTION and
    the next call opens a new one.
    """

    def __init__(
        self,
        server: str,
        target: McpTarget,
        *,
        launch: str | None = None,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    ) -> None:
        self.server = server
        self.launch = launch or repr(target)
        self._target = target
        self._connect_timeout_s = connect_timeout_s
        self._current: tuple[McpConnection, Client] | None = None
        self._connecting: asyncio.Task[tuple[McpConnection, Client]] | None = None
        self._retiring: set[asyncio.Task[None]] = set()
        self._closed = False
        # Called (from the session's task) when the server says its tool list changed.
        self.on_tools_changed: Callable[[], None] | None = None

    async def connect(self) -> None:
        """Open the session now rather than on first use; raises ServerStartError."""
        await self._session()

    async def _session(self) -> tuple[McpConnection, Client]:
        current = self._current
        if current is not None and current[0].alive:
            return current
        if self._closed:
            raise ToolsError(f"tool client for server {self.server!r} is closed")
        if current is not None:
            self._retire(current[0])
        if self._connecting is None or self._connecting.done():
            # One connect, however many callers noticed the session was gone.
            self._connecting = asyncio.get_running_loop().create_task(self._open())
            self._connecting.add_done_callback(_retrieve)
        # Shielded: a caller cancelled by its own deadline must not abort a
        # (re)connect that takes longer than one call's timeout (a stdio server
        # needs about a second to start); the next call finds it ready.
        return await asyncio.shield(self._connecting)

    async def _open(self) -> tuple[McpConnection, Client]:
        connection = McpConnection(
            self._target, label=f"{self.server} ({self.launch})", on_tools_changed=self._changed
        )
        try:
            client = await connection.open(self._connect_timeout_s)
        except TimeoutError as exc:
            cause = f"no MCP handshake within {self._connect_timeout_s:g} s"
            raise ServerStartError(self.server, self.launch, cause) from exc
        except Exception as exc:
            raise ServerStartError(self.server, self.launch, _reason(exc)) from exc
        self._current = (connection, client)
        return self._current

    def _changed(self) -> None:
        if self.on_tools_changed is not None:
            self.on_tools_changed()

    def _retire(self, connection: McpConnection) -> None:
        """Forget a broken session and close it in the background, so the caller is not held up."""
        if self._current is None or self._current[0] is not connection:
            return  # already retired by another caller that saw it fail
        self._current = None
        task = asyncio.get_running_loop().create_task(connection.close())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def list_tools(self) -> list[ToolSpec]:
        """All tools of the server, following pagination; raises ServerStartError."""
        _, client = await self._session()
        specs: list[ToolSpec] = []
        cursor: str | None = None
        try:
            while True:
                # Always from the server: a listing is how changes and health are seen.
                page = await client.list_tools(cursor=cursor, cache_mode="bypass")
                specs.extend(spec_from_mcp(self.server, tool) for tool in page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    return specs
        except Exception as exc:
            raise ServerStartError(
                self.server, self.launch, f"tools/list failed: {_reason(exc)}"
            ) from exc

    async def probe(self, timeout_s: float) -> float:
        """One health check: a tool listing (first page) within ``timeout_s``; its latency in ms.

        Raises TimeoutError when the server is too slow and ToolsError when it cannot be
        reached or refuses; a session that failed so is dropped, and the next use reconnects
        (a restarted HTTP server does not know the old session)."""
        started = time.perf_counter()
        connection: McpConnection | None = None
        try:
            async with asyncio.timeout(timeout_s):
                connection, client = await self._session()
                started = time.perf_counter()
                await client.list_tools(cache_mode="bypass")
        except TimeoutError:
            raise
        except ToolsError:
            raise
        except Exception as exc:
            if connection is not None:
                self._retire(connection)
            raise ToolsError(f"{self.server} ({self.launch}): {_reason(exc)}") from exc
        return _ms_since(started)

    async def call(
        self, spec: ToolSpec, arguments: Mapping[str, Any], timeout_s: float
    ) -> CallResult:
        """One ``tools/call``; ``timeout_s`` bounds the call and cancels it on the server.

        A (re)connect is bounded separately by ``connect_timeout_s`` and is not part
        of ``latency_ms``, which measures the ``tools/call`` round trip only.
        """
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        started = time.perf_counter()
        args = coerce_arguments(spec.input_schema, arguments)
        problem = argument_problem(spec.input_schema, args)
        if problem is not None:
            return failure(
                ErrorKind.INVALID_ARGUMENTS,
                f"{spec.name}: {problem}",
                _ms_since(started),
                sent=False,
            )
        try:
            connection, client = await self._session()
        except ToolsError as exc:
            # No session, so no request: even a tool with side effects can be tried again.
            return failure(ErrorKind.CONNECTION, str(exc), _ms_since(started), sent=False)

        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s + _TIMEOUT_GRACE_S):
                result = await client.call_tool(
                    spec.tool,
                    args,
                    read_timeout_seconds=timeout_s,
                    progress_callback=progress.current(),
                )
        except MCPError as exc:
            kind = kind_of_mcp_error(exc)
            if kind is ErrorKind.CONNECTION:
                self._retire(connection)
            if kind is ErrorKind.TIMEOUT:
                # The request reached the server, so a paid tool may have charged for it.
                message = f"{spec.name}: no result within {timeout_s:g} s; cancelled on the server"
                return failure(kind, message, _ms_since(started), spec.cost_per_call)
            return failure(kind, f"{spec.name}: {exc.message}", _ms_since(started))
        except TimeoutError:
            self._retire(connection)
            message = f"{spec.name}: no result within {timeout_s:g} s; session dropped"
            return failure(ErrorKind.TIMEOUT, message, _ms_since(started), spec.cost_per_call)
        except _CONNECTION_ERRORS as exc:
            self._retire(connection)
            message = f"{spec.name}: connection lost: {type(exc).__name__}: {exc}"
            return failure(ErrorKind.CONNECTION, message, _ms_since(started))
        except Exception as exc:
            if not connection.alive:
                self._retire(connection)
                return failure(
                    ErrorKind.CONNECTION, f"{spec.name}: {_reason(exc)}", _ms_since(started)
                )
            logger.warning("tools/call %s failed in the client: %r", spec.name, exc)
            return failure(ErrorKind.TOOL_ERROR, f"{spec.name}: {_reason(exc)}", _ms_since(started))
        return from_tool_result(spec, result, _ms_since(started))

    async def aclose(self) -> None:
        """Close the session and wait for the server process (if any) to exit."""
        self._closed = True
        connecting, self._connecting = self._connecting, None
        if connecting is not None and not connecting.done():
            connecting.cancel()  # McpConnection.open closes what it started
            await asyncio.wait({connecting})
        current, self._current = self._current, None
        if current is not None:
            await current[0].close()
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
