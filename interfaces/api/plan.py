"""/api/plan: the plan the planner would make now for an intent, and why, with nothing run."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agents.model_thread import embed_ahead
from agents.plan_builder import explain_plan
from agents.plan_view import plan_view
from interfaces.api.common import error_ref, json_content
from interfaces.plan_query import PlanQueryError, intent_from_query
from interfaces.web_errors import BadRequest
from interfaces.webcontext import web_context


async def plan(request: Request) -> Response:
    """?text=...&tool=...&arguments=<JSON object>&context.<name>=<value>"""
    try:
        intent = intent_from_query(request.query_params)
    except PlanQueryError as exc:
        raise BadRequest(str(exc)) from None
    context = web_context(request)
    runtime = await context.runtime()
    encoder = runtime.recommender.encoder
    settings = context.settings
    if encoder is not None:
        # As the planning agent does: the sentence model runs off the event loop, within the
        # planning budget, and not at all for an intent refused for its number of requests.
        try:
            await embed_ahead(encoder, intent, settings.max_steps, settings.planning_budget_s)
        except TimeoutError:
            return JSONResponse(
                {
                    "text": intent.text,
                    "error": {
                        "kind": "planning_timeout",
                        "reason": "embedding the intent's texts took longer than the "
                        f"planning budget of {settings.planning_budget_s:g} s",
                        "missing": {},
                    },
                },
                status_code=503,
            )
    explained = explain_plan(
        intent, runtime.tools, runtime.rank, settings.retry, max_steps=settings.max_steps
    )
    return JSONResponse(plan_view(intent, explained, runtime.strategy))


ROUTES = [Route("/api/plan", plan, methods=["GET"])]

PATHS: dict[str, Any] = {
    "/api/plan": {
        "get": {
            "summary": "The plan for an intent and every candidate's verdict, nothing run",
            "operationId": "plan",
            "parameters": [
                {"name": "text", "in": "query", "required": True, "schema": {"type": "string"}},
                {"name": "tool", "in": "query", "schema": {"type": "string"},
                 "description": "A tool named by the intent"},
                {"name": "arguments", "in": "query", "schema": {"type": "string"},
                 "description": "The intent's arguments, a JSON object"},
            ],  # context.<name>=<value> adds declared context
            "responses": {
                "200": {"description": "Steps, fallbacks and each candidate's verdict; "
                                       "'error' says why no plan could be made",
                        "content": json_content({"type": "object"})},
                "400": error_ref("Missing ?text=, or arguments that are not a JSON object"),
                "503": {"description": "Planning took longer than its budget (error.kind "
                                       "'planning_timeout'); try again",
                        "content": json_content({"type": "object"})},
            },
        }
    }
}  # fmt: skip
