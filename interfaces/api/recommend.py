"""/api/recommend: the learned ranking of tools for an intent's text."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agents.ranking import recommendations_view
from interfaces.api.common import error_ref, json_content
from interfaces.web_errors import BadRequest, float_param, int_param
from interfaces.webcontext import web_context


async def recommend(request: Request) -> Response:
    """?text=...&explore=0|1&generation=N&top_k=K&at=UNIX_S&context.<name>=<value>"""
    query = request.query_params
    text = query.get("text", "")
    if not text:
        raise BadRequest("missing ?text=: the intent text to rank tools for")
    runtime = await web_context(request).runtime()
    context = {k[len("context.") :]: v for k, v in query.items() if k.startswith("context.")}
    generation = int_param(query, "generation")
    top_k = int_param(query, "top_k", 10) or 10
    if not 1 <= top_k <= 100:
        raise BadRequest(f"?top_k= must be between 1 and 100, got {top_k}")
    view = recommendations_view(
        runtime.recommender,
        runtime.learned,
        list(runtime.tools.values()),
        text,
        context,
        generation=generation,
        explore=query.get("explore", "0") == "1",
        top_k=top_k,
        at=float_param(query, "at"),
    )
    return JSONResponse(view)


ROUTES = [Route("/api/recommend", recommend, methods=["GET"])]

PATHS: dict[str, Any] = {
    "/api/recommend": {
        "get": {
            "summary": "Rank tools for an intent's text from the learned state",
            "operationId": "recommend",
            "parameters": [
                {"name": "text", "in": "query", "required": True, "schema": {"type": "string"}},
                {"name": "top_k", "in": "query", "schema": {"type": "integer", "default": 10}},
                {"name": "explore", "in": "query", "schema": {"type": "integer", "enum": [0, 1]},
                 "description": "1: Thompson draws, as the planner ranks"},
                {"name": "generation", "in": "query", "schema": {"type": "integer"}},
                {"name": "at", "in": "query", "schema": {"type": "number"},
                 "description": "Rank as of this Unix time (default: now)"},
            ],  # context.<name>=<value> adds declared context
            "responses": {
                "200": {"description": "Ranked tools, with why",
                        "content": json_content({"type": "object"})},
                "400": error_ref("Missing ?text=, or a malformed number"),
            },
        }
    }
}  # fmt: skip
