"""ToolRegistry: every configured tool server, its discovered tools, and one way to call them."""

from __future__ import annotations

import asyncio
import importlib
import logging
import shlex
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from mcp import StdioServerParameters
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import MCPServer

from models.tools import CallResult, ErrorKind, ToolSpec
from tools._specs import apply_override
from tools.client import McpToolClient, ToolClient
from tools.config import (
    PROJECT_ROOT,
    HttpServerConfig,
    InProcessServerConfig,
    SandboxServerConfig,
    ServerConfig,
    StdioServerConfig,
    ToolOverride,
    ToolsConfig,
    load_tools_config,
)
from tools.exceptions import ServerStartError
from tools.sandbox.catalog import load_directory
from tools.sandbox.client import SandboxToolClient
from tools.sandbox.pool import SandboxPool

__all__ = ["ToolRegistry", "build_client", "build_sandbox_client"]

logger = logging.getLogger(__name__)


def _factory_server(name: str, server: InProcessServerConfig) -> MCPServer[Any] | Server[Any]:
    module_name, _, attr = server.factory.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
        built = factory(**server.kwargs)
    except Exception as exc:
        raise ServerStartError(
            name, f"in-process {server.factory}", f"{type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(built, MCPServer | Server):
        cause = f"factory returned {type(built).__name__}, not an MCPServer"
        raise ServerStartError(name, f"in-process {server.factory}", cause)
    return built


def build_client(
    name: str, server: ServerConfig, config: ToolsConfig | None = None
) -> McpToolClient:
    """The McpToolClient for one configured server; only an in-process factory runs now."""
    timeout = server.connect_timeout_s
    if isinstance(server, StdioServerConfig):
        cwd = config.stdio_cwd(server) if config is not None else PROJECT_ROOT
        # The SDK hands the child a minimal environment (PATH, HOME, ...); PYTHONPATH
        # lets 'python -m tools.servers.x' import the project without installing it.
        env = {"PYTHONPATH": str(PROJECT_ROOT)}
        env.update(server.env)
        argv = server.argv()
        params = StdioServerParameters(command=argv[0], args=argv[1:], env=env, cwd=cwd)
        launch = f"stdio: {shlex.join(argv)} (cwd {cwd})"
        return McpToolClient(name, params, launch=launch, connect_timeout_s=timeout)
    if isinstance(server, HttpServerConfig):
        return McpToolClient(
            name, server.url, launch=f"http: {server.url}", connect_timeout_s=timeout
        )
    if not isinstance(server, InProcessServerConfig):
        raise TypeError(f"{name}: a {server.transport} server is not an MCP server")
    target = _factory_server(name, server)
    return McpToolClient(
        name, target, launch=f"in-process {server.factory}", connect_timeout_s=timeout
    )


def build_sandbox_client(
    name: str, server: SandboxServerConfig, config: ToolsConfig | None = None
) -> SandboxToolClient:
    """The client of one sandbox server; reads (but does not yet judge) its tool files."""
    directory = config.sandbox_directory(server) if config is not None else server.directory
    pool = SandboxPool(server.limits, size=server.workers, python=server.python)
    launch = f"sandbox: {directory} ({server.workers} bubblewrap workers, {server.python})"
    return SandboxToolClient(name, load_directory(directory), pool, launch=launch)


class ToolRegistry:
    """All tools by qualified name ('<server>.<tool>'), each routed to its server's client.

    Build it with ``from_file``/``from_config`` (real MCP servers) or directly from
    clients (tests: ``ToolRegistry({"calc": HandlerToolClient(...)})``). Use as
    ``async with registry:`` or call ``start()`` and ``aclose()``.
    """

    def __init__(
        self,
        clients: Mapping[str, ToolClient],
        overrides: Mapping[str, Mapping[str, ToolOverride]] | None = None,
        optional: frozenset[str] = frozenset(),
    ) -> None:
        self._clients: dict[str, ToolClient] = dict(clients)
        self._overrides = {server: dict(tools) for server, tools in (overrides or {}).items()}
        self._optional = optional
        self._specs: dict[str, ToolSpec] = {}

    @classmethod
    def from_config(cls, config: ToolsConfig) -> ToolRegistry:
        clients: dict[str, ToolClient] = {}
        for name, server in config.servers.items():
            try:
                if isinstance(server, SandboxServerConfig):
                    clients[name] = build_sandbox_client(name, server, config)
                    continue
                clients[name] = build_client(name, server, config)
            except ServerStartError as exc:  # an in-process factory failed
                if not server.optional:
                    raise
                logger.warning("optional tool server %r skipped: %s", name, exc)
        overrides = {name: server.tools for name, server in config.servers.items()}
        optional = frozenset(name for name, server in config.servers.items() if server.optional)
        return cls(clients, overrides, optional)

    @classmethod
    def from_file(cls, path: Path | str) -> ToolRegistry:
        return cls.from_config(load_tools_config(path))

    async def start(self) -> None:
        """Connect every server and discover its tools (concurrently).

        Raises ServerStartError naming the first required server that failed
        (after closing the others); optional servers that fail are logged and dropped.
        """
        names = list(self._clients)
        results = await asyncio.gather(
            *(self._clients[name].list_tools() for name in names), return_exceptions=True
        )
        specs: dict[str, ToolSpec] = {}
        fatal: BaseException | None = None
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                if name in self._optional and isinstance(result, Exception):
                    logger.warning("optional tool server %r skipped: %s", name, result)
                    await self._clients.pop(name).aclose()
                    continue
                fatal = fatal or result
                continue
            for spec in result:
                override = self._overrides.get(name, {}).get(spec.tool)
                if override is not None and not override.enabled:
                    continue
                specs[spec.name] = apply_override(spec, override)
        if fatal is not None:
            await self.aclose()
            raise fatal
        self._warn_unmatched_overrides(specs)
        self._specs = specs

    def _warn_unmatched_overrides(self, specs: Mapping[str, ToolSpec]) -> None:
        for server, tools in self._overrides.items():
            for tool in tools:
                if (
                    server in self._clients
                    and f"{server}.{tool}" not in specs
                    and tools[tool].enabled
                ):
                    logger.warning(
                        "config overrides %s.%s, which the server does not offer", server, tool
                    )

    def get(self, name: str) -> ToolSpec | None:
        """The spec of a qualified tool name, or None."""
        return self._specs.get(name)

    def specs(self) -> list[ToolSpec]:
        """Every discovered tool, sorted by name."""
        return [self._specs[name] for name in sorted(self._specs)]

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    async def call(self, name: str, arguments: Mapping[str, Any], timeout_s: float) -> CallResult:
        """Call a tool by qualified name; never raises for a failed call."""
        spec = self._specs.get(name)
        if spec is None:
            known = ", ".join(sorted(self._specs)) or "none (was start() called?)"
            return CallResult(
                ok=False,
                error_kind=ErrorKind.UNKNOWN_TOOL,
                error=f"unknown tool {name!r}; known: {known}",
            )
        try:
            return await self._clients[spec.server].call(spec, arguments, timeout_s)
        except ValueError:
            raise  # a bad timeout_s is the caller's bug, not the tool's failure
        except Exception as exc:
            # A ToolClient must not raise for a failed call; if one does, the
            # executor still gets a result it can record instead of a crash.
            logger.exception(
                "tool client for %r raised instead of returning a CallResult", spec.server
            )
            return CallResult(
                ok=False,
                error_kind=ErrorKind.TOOL_ERROR,
                error=f"{name}: {type(exc).__name__}: {exc}",
            )

    async def warm(self, name: str) -> bool:
        """Open (or reopen) the session of the server behind tool ``name`` now, not on its call.

        True when the server's session is open; False for an unknown tool, a client that has
        no session to open, or a failed connect (logged; the next call tries again)."""
        spec = self._specs.get(name)
        client = self._clients.get(spec.server) if spec is not None else None
        connect = getattr(client, "connect", None)
        if connect is None:
            return False
        try:
            await connect()
        except Exception as exc:
            logger.warning("warming the session of %r failed: %s", name, exc)
            return False
        return True

    async def aclose(self) -> None:
        """Close every client (concurrently); safe to call twice."""
        clients, self._clients = list(self._clients.values()), {}
        self._specs = {}
        results = await asyncio.gather(
            *(client.aclose() for client in clients), return_exceptions=True
        )
        for result in results:
            if isinstance(result, Exception):
                logger.warning("closing a tool client failed: %r", result)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
