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
    return JSONResponse(web_context(request).stats.snapshot(time.time()))


ROUTES = [Route("/api/stats", stats, methods=["GET"])]

PATHS: dict[str, Any] = {
    "/api/stats": {
        "get": {
            "summary": "Outcomes over the last minutes, tools' live figures, dead letters",
            "operationId": "stats",
            "responses": {"200": {"description": "A snapshot",
                                  "content": json_content({"type": "object"})}},
        }
    }
}  # fmt: skip
