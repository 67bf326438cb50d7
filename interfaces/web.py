"""The worker's web port: one ASGI app, served by uvicorn on the worker's own event loop.

Routes: /api (``interfaces.api``), /mcp (``interfaces.mcp_gateway``), the A2A agent
(``interfaces.a2a_agent``), /metrics (``interfaces.metrics``) and /dashboard
(``interfaces.dashboard``). Faust's aiohttp server is off: the MCP and A2A SDKs' servers are
Starlette apps, and one server for all of them means one port, one error format and one token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from interfaces import api, dashboard
from interfaces.auth import BearerAuth
from interfaces.feed import Feed
from interfaces.livestats import LiveStats
from interfaces.watch import IndexPolicy, IntentWatch
from interfaces.web_errors import EXCEPTION_HANDLERS
from interfaces.webcontext import Publish, WebContext
from streams.settings import Settings

log = logging.getLogger(__name__)

# How long a stopping worker lets open requests (a waiting call, a dashboard's event stream)
# finish before it closes them: well inside settings.shutdown_timeout_s (15 s).
_GRACEFUL_S = 2.0


class PortInUse(OSError):
    pass


def bind(settings: Settings) -> socket.socket:
    """The listening socket, bound now, so a taken port stops the worker before it starts."""
    family = socket.AF_INET6 if ":" in settings.web_host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.web_host, settings.web_port))
    except OSError as exc:
        sock.close()
        raise PortInUse(
            f"cannot listen on {settings.web_host}:{settings.web_port} ({exc.strerror}): set "
            "TOOLWISE_WEB_PORT to a free port (each worker needs its own), or "
            "TOOLWISE_WEB_ENABLED=false"
        ) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def build_app(context: WebContext, extra_routes: list[BaseRoute] | None = None) -> Starlette:
    """The ASGI app: the API, dashboard and metrics, and the MCP and A2A endpoints."""
    from interfaces import a2a_agent, mcp_gateway, metrics

    gateway = mcp_gateway.Gateway(context)
    routes: list[BaseRoute] = [
        *api.routes(),
        *dashboard.routes(),
        *metrics.routes(context.metrics),
        *gateway.routes(),
        *a2a_agent.routes(context),
        *(extra_routes or []),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if context.feed is not None:
            await context.feed.start()
        try:
            async with gateway.running():
                yield
        finally:
            if context.feed is not None:
                await context.feed.stop()

    token = context.settings.web_token
    app = Starlette(
        routes=routes,
        middleware=[Middleware(BearerAuth, token=token.get_secret_value() if token else None)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.toolwise = context
    return app


def worker_context(settings: Settings, publish: Publish) -> WebContext:
    watch = IntentWatch(IndexPolicy(max_intents=settings.intent_index_size))
    stats = LiveStats()
    context = WebContext(settings, publish, watch, stats)
    context.feed = Feed(settings, watch, stats, context.metrics)
    return context


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: Faust owns the worker's signals and stops us."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WebServer:
    def __init__(self, app: Any, sock: socket.socket) -> None:
        config = uvicorn.Config(
            app,
            log_config=None,  # Faust's logging, unchanged
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=int(_GRACEFUL_S),
            ws="none",
        )
        self._server = _EmbeddedServer(config)
        self._sock = sock
        self._done = asyncio.Event()

    async def serve(self) -> None:
        try:
            await self._server.serve(sockets=[self._sock])
        finally:
            self._done.set()

    async def stop(self) -> None:
        self._server.should_exit = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), _GRACEFUL_S + 3)
