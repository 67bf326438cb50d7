"""ToolRegistry: the configured servers' nodes, their discovered tools, and one way to call them.

A node is one MCP endpoint: an HTTP URL, or the one process a stdio, in-process or sandbox
server runs per worker. A server entry with ``urls = [...]`` has several nodes; entries with
the same ``registers_as`` serve versions of the same tools. ``call`` here takes the first
node that lists a tool (the static path of the CLI and benches); a worker routes its calls
through ``tools.mesh.router`` instead (versions, health, failover).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

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

__all__ = ["Node", "ToolRegistry", "build_client", "build_sandbox_client", "config_nodes"]

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
    name: str, server: ServerConfig, config: ToolsConfig | None = None, url: str | None = None
) -> McpToolClient:
    """The McpToolClient for one configured server (of an HTTP server's node ``url``, default
    its first); only an in-process factory runs now. Its tools are named after
    ``server.registers_as`` when set."""
    timeout = server.connect_timeout_s
    name = server.registers_as or name
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
        endpoint = url or server.endpoints()[0]
        return McpToolClient(name, endpoint, launch=f"http: {endpoint}", connect_timeout_s=timeout)
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
    return SandboxToolClient(
        server.registers_as or name, load_directory(directory), pool, launch=launch
    )


@dataclass(frozen=True)
class Node:
    """One MCP endpoint serving a server entry's tools."""

    id: str
    server: str  # the config entry
    name: str  # the server part of its tools' names (``registers_as``, else ``server``)
    endpoint: str = ""
    shared: bool = False  # one endpoint all workers call (HTTP), not a process of each

    @classmethod
    def local(cls, server: str) -> Node:
        return cls(id=server, server=server, name=server)


def _node_id(server: str, url: str, urls: list[str]) -> str:
    """``<server>@<host:port>`` (plus the path when two nodes share a host and port)."""
    parts = urlsplit(url)
    hosts = [urlsplit(u).netloc for u in urls]
    where = parts.netloc if hosts.count(parts.netloc) == 1 else f"{parts.netloc}{parts.path}"
    return f"{server}@{where}"


def config_nodes(name: str, server: ServerConfig) -> list[tuple[Node, str | None]]:
    """The nodes of one server entry, each with its URL (None: a process of the worker's own)."""
    registered = server.registers_as or name
    if isinstance(server, HttpServerConfig):
        urls = server.endpoints()
        return [
            (Node(_node_id(name, url, urls), name, registered, url, shared=True), url)
            for url in urls
        ]
    return [(Node(name, name, registered, server.transport), None)]


class ToolRegistry:
    """All tools by qualified name ('<server>.<tool>'), each listed by one or more nodes.

    Build it with ``from_file``/``from_config`` (real MCP servers) or directly from
    clients keyed by node id (tests: ``ToolRegistry({"calc": HandlerToolClient(...)})``,
    where each client is the one node of a server of that name). Use as
    ``async with registry:`` or call ``start()`` and ``aclose()``.
    """

    def __init__(
        self,
        clients: Mapping[str, ToolClient],
        overrides: Mapping[str, Mapping[str, ToolOverride]] | None = None,
        optional: frozenset[str] = frozenset(),
        nodes: Mapping[str, Node] | None = None,
    ) -> None:
        self._clients: dict[str, ToolClient] = dict(clients)
        self._nodes = {
            node_id: (nodes or {}).get(node_id) or Node.local(node_id) for node_id in clients
        }
        self._overrides = {server: dict(tools) for server, tools in (overrides or {}).items()}
        self._optional = optional
        self._specs: dict[str, ToolSpec] = {}
        self._node_of: dict[str, str] = {}  # tool name -> the first node listing it
        self._listed: dict[str, list[ToolSpec]] = {}  # node -> what it listed last
        # Told every (re)listing of a node: (node, its specs). Set by the worker's mesh.
        self.on_listed: Callable[[str, list[ToolSpec]], None] | None = None
        self.revision = 0  # bumped whenever nodes or listings change: readers cache on it

    @classmethod
    def from_config(cls, config: ToolsConfig) -> ToolRegistry:
        clients: dict[str, ToolClient] = {}
        nodes: dict[str, Node] = {}
        for name, server in config.servers.items():
            try:
                if isinstance(server, SandboxServerConfig):
                    [(node, _)] = config_nodes(name, server)
                    clients[node.id] = build_sandbox_client(name, server, config)
                    nodes[node.id] = node
                    continue
                for node, url in config_nodes(name, server):
                    clients[node.id] = build_client(name, server, config, url)
                    nodes[node.id] = node
            except ServerStartError as exc:  # an in-process factory failed
                if not server.optional:
                    raise
                logger.warning("optional tool server %r skipped: %s", name, exc)
        overrides = {name: server.tools for name, server in config.servers.items()}
        optional = frozenset(name for name, server in config.servers.items() if server.optional)
        return cls(clients, overrides, optional, nodes)

    @classmethod
    def from_file(cls, path: Path | str) -> ToolRegistry:
        return cls.from_config(load_tools_config(path))

    async def start(self) -> None:
        """Connect every node and discover its tools (concurrently).

        Raises ServerStartError naming the first required server none of whose nodes
        answered (after closing the others); optional servers that fail are logged and
        dropped. A server with several nodes starts when one answers: the others are kept
        and listed when they come back (``relist``).
        """
        ids = list(self._clients)
        results = await asyncio.gather(
            *(self._clients[node].list_tools() for node in ids), return_exceptions=True
        )
        failed: dict[str, list[tuple[str, BaseException]]] = {}
        answered: set[str] = set()
        for node_id, result in zip(ids, results, strict=True):
            server = self._nodes[node_id].server
            if isinstance(result, BaseException):
                failed.setdefault(server, []).append((node_id, result))
                continue
            answered.add(server)
            self._listed[node_id] = self._overridden(node_id, result)
        fatal: BaseException | None = None
        for server, failures in failed.items():
            for node_id, error in failures:
                if server in answered and isinstance(error, Exception):
                    logger.warning("node %r of %r is not answering yet: %s", node_id, server, error)
                elif server in self._optional and isinstance(error, Exception):
                    logger.warning("optional tool server %r skipped: %s", server, error)
                    await self._clients.pop(node_id).aclose()
                    del self._nodes[node_id]
                else:
                    fatal = fatal or error
        if fatal is not None:
            await self.aclose()
            raise fatal
        self._index()
        self._warn_unmatched_overrides(self._specs)

    def _overridden(self, node_id: str, specs: list[ToolSpec]) -> list[ToolSpec]:
        overrides = self._overrides.get(self._nodes[node_id].server, {})
        kept = []
        for spec in specs:
            override = overrides.get(spec.tool)
            if override is not None and not override.enabled:
                continue
            kept.append(apply_override(spec, override))
        return kept

    def _index(self) -> None:
        specs: dict[str, ToolSpec] = {}
        node_of: dict[str, str] = {}
        for node_id in self._clients:  # config order: the first node listing a tool serves it
            for spec in self._listed.get(node_id, []):
                if spec.name not in specs:
                    specs[spec.name], node_of[spec.name] = spec, node_id
        self._specs, self._node_of = specs, node_of
        self.revision += 1

    async def relist(self, node_id: str) -> list[ToolSpec]:
        """List one node's tools again (it came back, or said its list changed); raises
        ServerStartError. ``on_listed`` hears the result."""
        specs = self._overridden(node_id, await self._clients[node_id].list_tools())
        self._listed[node_id] = specs
        self._index()
        if self.on_listed is not None:
            self.on_listed(node_id, specs)
        return specs

    def nodes(self) -> dict[str, Node]:
        """Every node this registry has a client for, by id."""
        return dict(self._nodes)

    def client(self, node_id: str) -> ToolClient | None:
        return self._clients.get(node_id)

    def listed(self) -> dict[str, list[ToolSpec]]:
        """What each node listed last (a node that never answered is missing)."""
        return {node: list(specs) for node, specs in self._listed.items()}

    def add_node(self, node: Node, client: ToolClient) -> None:
        """A node that joins at run time (the sandbox serving generated tools)."""
        if node.id in self._clients:
            raise ValueError(f"node {node.id!r} exists already")
        self._clients[node.id] = client
        self._nodes[node.id] = node
        self.revision += 1

    def record_listing(self, node_id: str, specs: list[ToolSpec]) -> None:
        """What a run-time node serves now (it lists without being asked: generated tools)."""
        self._listed[node_id] = list(specs)
        self._index()

    def _warn_unmatched_overrides(self, specs: Mapping[str, ToolSpec]) -> None:
        servers = {node.server: node.name for node in self._nodes.values()}
        for server, tools in self._overrides.items():
            for tool in tools:
                if (
                    server in servers
                    and f"{servers[server]}.{tool}" not in specs
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
            return await self._clients[self._node_of[name]].call(spec, arguments, timeout_s)
        except ValueError:
            raise  # a bad timeout_s is the caller's bug, not the tool's failure
        except Exception as exc:
            # A ToolClient must not raise for a failed call; if one does, the
            # executor still gets a result it can record instead of a crash.
            logger.exception(
                "tool client of node %r raised instead of returning a CallResult",
                self._node_of[name],
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
        node = self._node_of.get(name)
        client = self._clients.get(node) if node is not None else None
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
        self._specs, self._node_of, self._listed = {}, {}, {}
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
