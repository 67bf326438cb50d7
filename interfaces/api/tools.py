"""/api/tools: every registered tool and what was learned of it (also `toolwise tools list`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from interfaces.api.common import error_ref, json_content
from interfaces.web_errors import BadRequest, int_param
from interfaces.webcontext import web_context
from learning.metrics import summary
from learning.posterior import PosteriorConfig
from learning.state import LearningState, metrics_key
from models import ToolSpec


def tools_view(
    specs: Sequence[ToolSpec],
    learned: LearningState,
    examples: Callable[[str], list[str]] = lambda _tool: [],
    posterior: PosteriorConfig | None = None,
) -> list[dict[str, Any]]:
    """One row per registered tool, those that never ran included, with learned metrics.

    ``success`` is the learned success posterior's mean (recent evidence weighs more, see
    ``learning.posterior``); ``traffic_share`` is the tool's share of all learned calls.
    """
    config = posterior or PosteriorConfig()
    rows = []
    calls_of: dict[str, int] = {}
    for spec in specs:
        record = learned.tool_metrics.get(metrics_key(spec.name, spec.version))
        calls_of[spec.name] = record["calls"] if record else 0
    total = sum(calls_of.values())
    for spec in specs:
        record = learned.tool_metrics.get(metrics_key(spec.name, spec.version))
        learned_view: dict[str, Any] | None = None
        if record is not None:
            s = record["reliable_successes"] + config.prior_successes
            f = record["reliable_failures"] + config.prior_failures
            learned_view = {
                **summary(record),
                "success": round(s / (s + f), 4),
                "failures": dict(record["failures"]),
                "traffic_share": round(record["calls"] / total, 4) if total else 0.0,
                "updated_at": record["updated_at"],
            }
        rows.append(
            {
                "name": spec.name,
                "server": spec.server,
                "version": spec.version,
                "description": spec.description,
                "input_schema": spec.input_schema,
                "cost_per_call": spec.cost_per_call,
                "cacheable": spec.cacheable,
                "learned": learned_view,
                "examples": examples(spec.name),
            }
        )
    return rows


def leaderboard(rows: list[dict[str, Any]], limit: int = 20) -> list[dict[str, Any]]:
    """The tools that ran, best learned success first (then traffic): the dashboard's table."""
    ran = [r for r in rows if r["learned"] is not None]
    ran.sort(key=lambda r: (-r["learned"]["success"], -r["learned"]["calls"], r["name"]))
    return [
        {
            "tool": r["name"],
            "success": r["learned"]["success"],
            "calls": r["learned"]["calls"],
            "p50_ms": r["learned"]["latency_p50_ms"],
            "cost": r["learned"]["cost_mean"],
            "quality": r["learned"]["quality_mean"],
            "traffic_share": r["learned"]["traffic_share"],
        }
        for r in ran[:limit]
    ]


async def list_tools(request: Request) -> Response:
    """GET /api/tools?generation=N"""
    context = web_context(request)
    runtime = await context.runtime()
    generation = int_param(request.query_params, "generation")
    known_generations = [runtime.learned.active_generation, *runtime.learned.known_generations()]
    if generation is not None and generation not in known_generations:
        known = ", ".join(map(str, runtime.learned.known_generations())) or "none yet"
        raise BadRequest(f"no learned generation {generation}; known: {known}")
    learned = runtime.learned.state(generation)
    examples = context.feed.examples.of if context.feed is not None else (lambda _t: [])
    rows = tools_view(list(runtime.tools.values()), learned, examples)
    live = context.stats.snapshot(time.time())["tools"]
    for row in rows:
        row["live"] = live.get(row["name"])
    return JSONResponse(
        {
            "generation": runtime.learned.active_generation if generation is None else generation,
            "tools": rows,
        }
    )


ROUTES = [Route("/api/tools", list_tools, methods=["GET"])]

PATHS: dict[str, Any] = {
    "/api/tools": {
        "get": {
            "summary": "Every registered tool, with learned metrics and recent live figures",
            "operationId": "listTools",
            "parameters": [
                {
                    "name": "generation",
                    "in": "query",
                    "description": "Learned-state generation (default: the active one)",
                    "schema": {"type": "integer"},
                }
            ],
            "responses": {
                "200": {
                    "description": "The tools, sorted by name",
                    "content": json_content({"type": "object"}),
                },
                "400": error_ref("No such generation, or not an integer"),
            },
        }
    }
}
