"""/api/stats: the live counters the dashboard shows (what the topics said lately)."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from interfaces.api.common import json_content
from interfaces.webcontext import web_context


async def stats(request: Request) -> Response:
    context = web_context(request)
    snapshot = context.stats.snapshot(time.time())
    # The result and plan caches' figures per tool (agents.cache_stats), whole deployment.
    snapshot["cache"] = await (await context.runtime()).spend.cache_stats()
    return JSONResponse(snapshot)


ROUTES = [Route("/api/stats", stats, methods=["GET"])]

PATHS: dict[str, Any] = {
    "/api/stats": {
        "get": {
            "summary": "Outcomes over the last minutes, tools' live figures, dead letters, "
                       "cache hit rates per tool",
            "operationId": "stats",
            "responses": {"200": {"description": "A snapshot",
                                  "content": json_content({"type": "object"})}},
        }
    }
}  # fmt: skip
