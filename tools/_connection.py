"""One MCP session held open by a background task, so that any task may call through it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from mcp import Client, StdioServerParameters, types
from mcp.client.subscriptions import ListenNotSupportedError
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import MCPServer

logger = logging.getLogger(__name__)

McpTarget = StdioServerParameters | str | MCPServer[Any] | Server[Any]
"""What ``mcp.Client`` connects to: a subprocess, a streamable-HTTP URL, or an in-process server."""

# stdio shutdown closes stdin, then waits up to 2 s for exit and 2 s after
# SIGTERM (mcp.client.stdio); 10 s covers that with room to spare.
_CLOSE_TIMEOUT_S = 10.0


class McpConnection:
    """An open ``mcp.Client`` whose transport lives in its own task.

    The SDK's transports run anyio task groups that must be entered and exited in
    one task, and a transport failure cancels the task that entered them. Holding
    the client in a dedicated owner task keeps both away from callers: they only
    send requests, and a dead transport reaches them as ``MCPError`` "Connection
    closed" instead of a cancellation of their own task.
    """

    def __init__(
        self, target: McpTarget, label: str, on_tools_changed: Callable[[], None] | None = None
    ) -> None:
        self._target = target
        self._label = label
        self._on_tools_changed = on_tools_changed
        self._stop = asyncio.Event()
        self._ready: asyncio.Future[Client] | None = None
        self._task: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None

    @property
    def alive(self) -> bool:
        """False once the owner task has ended (closed, or the transport failed)."""
        return self._task is not None and not self._task.done()

    async def open(self, timeout_s: float) -> Client:
        """Start the owner task and wait for the handshake; raises what the handshake raised."""
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._task = loop.create_task(self._own(self._ready), name=f"mcp-session:{self._label}")
        try:
            return await asyncio.wait_for(asyncio.shield(self._ready), timeout_s)
        except BaseException:
            await self.close()
            if self._ready.done() and not self._ready.cancelled():
                self._ready.exception()  # retrieved, so asyncio does not log it as lost
            raise

    async def _own(self, ready: asyncio.Future[Client]) -> None:
        try:
            async with Client(self._target, message_handler=self._on_message) as client:
                ready.set_result(client)
                watcher = None
                if self._on_tools_changed is not None:
                    watcher = asyncio.get_running_loop().create_task(self._watch_tools(client))
                try:
                    await self._stop.wait()
                finally:
                    if watcher is not None:
                        watcher.cancel()
                        await asyncio.wait({watcher})
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
            raise
        except BaseException as exc:  # the transport's failure ends up here, by design
            self.failure = exc
            if not ready.done():
                ready.set_exception(exc)
            elif not self._stop.is_set():
                logger.warning("MCP session to %s ended: %r", self._label, exc)

    async def _on_message(self, message: Any) -> None:
        # Servers on protocols before 2026-07-28 send notifications/tools/list_changed here.
        if isinstance(message, types.ToolListChangedNotification) and self._on_tools_changed:
            self._on_tools_changed()

    async def _watch_tools(self, client: Client) -> None:
        """On 2026-07-28 servers, list changes come on a subscriptions/listen stream."""
        assert self._on_tools_changed is not None
        with contextlib.suppress(ListenNotSupportedError):  # older: the message handler hears
            try:
                async with client.listen(tools_list_changed=True) as subscription:
                    async for _event in subscription:
                        self._on_tools_changed()
            except ListenNotSupportedError:
                raise
            except Exception as exc:  # the session ending ends the stream; say so, no more
                if not self._stop.is_set():
                    logger.info("tool-list watch of %s ended: %r", self._label, exc)

    async def close(self) -> None:
        """End the session (idempotent); waits for the transport to shut down."""
        self._stop.set()
        task = self._task
        if task is None or task.done():
            return
        if self._ready is not None and not self._ready.done():
            # Still in the handshake, which does not watch the stop event:
            # cancel it; the SDK's stdio shutdown runs shielded and bounded.
            task.cancel()
        # asyncio.wait, not await: a task we cancelled must not raise into the closer.
        done, _ = await asyncio.wait({task}, timeout=_CLOSE_TIMEOUT_S)
        if not done:
            logger.warning(
                "MCP session to %s did not close in %.0f s; cancelling",
                self._label,
                _CLOSE_TIMEOUT_S,
            )
            task.cancel()
            await asyncio.wait({task}, timeout=_CLOSE_TIMEOUT_S)
