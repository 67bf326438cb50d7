"""Errors from the worker's web port are JSON bodies with a status, never traceback pages."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger(__name__)


class ClientError(ValueError):
    """A request the client must change: answered with ``status`` and this message."""

    status = 400

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.details = details


class BadRequest(ClientError):
    """Answered 400."""


class NotFound(ClientError):
    """Nothing at this address: answered 404 (say where to look instead)."""

    status = 404


class PayloadTooLarge(ClientError):
    status = 413


class Unprocessable(ClientError):
    """Well-formed, but not what the resource takes (a schema violation): 422, with details."""

    status = 422


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no such page: {request.url.path} (the API is under /api; see /api/openapi.json)"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, message, exc.headers)


async def _client_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ClientError)
    response = error_response(exc.status, str(exc))
    if exc.details is not None:
        body = {"error": str(exc), "status": exc.status, "details": exc.details}
        response = JSONResponse(body, status_code=exc.status)
    return response


async def _internal(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error; the worker's log has the details")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    HTTPException: _http_error,
    ClientError: _client_error,
    Exception: _internal,
}
"""Starlette's ``exception_handlers``: every error as ``{"error": ..., "status": ...}``."""


def int_param(query: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    """An integer query parameter, or BadRequest naming it."""
    if name not in query:
        return default
    try:
        return int(query[name])
    except ValueError:
        raise BadRequest(f"?{name}= must be an integer, got {query[name]!r}") from None


def float_param(query: Mapping[str, str], name: str) -> float | None:
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


def bounded_float_param(
    query: Mapping[str, str], name: str, default: float, low: float, high: float
) -> float:
    """A number in [low, high], or BadRequest saying which range."""
    if name not in query:
        return default
    try:
        value = float(query[name])
    except ValueError:
        raise BadRequest(f"?{name}= must be a number, got {query[name]!r}") from None
    if not low <= value <= high:  # also refuses nan
        raise BadRequest(f"?{name}= must be between {low:g} and {high:g}, got {query[name]}")
    return value
