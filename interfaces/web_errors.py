"""Errors from the worker's web server are JSON bodies with a status, never traceback pages."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(ValueError):
    """A request the client must change: answered 400 with this message."""


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadRequest as exc:
        return web.json_response({"error": str(exc), "status": 400}, status=400)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason if exc.status != 404 else f"no such page: {request.path}"
        return web.json_response({"error": message, "status": exc.status}, status=exc.status)
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        body = {"error": "internal error; the worker's log has the details", "status": 500}
        return web.json_response(body, status=500)


def install(app: Any) -> None:
    """Add the middleware to a Faust app's aiohttp application (before the server starts)."""
    app.web.web_app.middlewares.append(json_errors)


def int_param(query: Any, name: str, default: int | None = None) -> int | None:
    """An integer query parameter, or BadRequest naming it."""
    if name not in query:
        return default
    try:
        return int(query[name])
    except ValueError:
        raise BadRequest(f"?{name}= must be an integer, got {query[name]!r}") from None


def float_param(query: Any, name: str) -> float | None:
    """A finite number query parameter, or BadRequest naming it."""
    if name not in query:
        return None
    try:
        value = float(query[name])
    except ValueError:
        raise BadRequest(f"?{name}= must be a number, got {query[name]!r}") from None
    if not math.isfinite(value):
        raise BadRequest(f"?{name}= must be a finite number")
    return value
