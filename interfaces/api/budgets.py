"""/api/budgets: each scope's daily limit, spend, reservations and window (`toolwise budget
show`); /api/budgets/{scope} for one scope, e.g. /api/budgets/user:ann."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from interfaces.api.common import error_ref, json_content
from interfaces.web_errors import BadRequest, NotFound
from interfaces.webcontext import web_context
from models.budget_scopes import BudgetScopeError, parse_scope


async def budgets(request: Request) -> Response:
    client = (await web_context(request).runtime()).spend.budgets
    if client is None:
        raise NotFound("budgets are off on this worker (TOOLWISE_BUDGETS_ENABLED=false)")
    return JSONResponse([status.as_dict() for status in client.statuses()])


async def budget(request: Request) -> Response:
    client = (await web_context(request).runtime()).spend.budgets
    if client is None:
        raise NotFound("budgets are off on this worker (TOOLWISE_BUDGETS_ENABLED=false)")
    try:
        scope = parse_scope(request.path_params["scope"])
    except BudgetScopeError as exc:
        raise BadRequest(str(exc)) from None
    return JSONResponse(client.status(scope).as_dict())


ROUTES = [
    Route("/api/budgets", budgets, methods=["GET"]),
    Route("/api/budgets/{scope}", budget, methods=["GET"]),
]

_STATUS = {"type": "object", "properties": {
    "scope": {"type": "string"}, "limit": {"type": ["number", "null"]},
    "spent": {"type": "number"}, "reserved": {"type": "number"},
    "remaining": {"type": ["number", "null"]}, "calls": {"type": "integer"},
    "window_start": {"type": "number"}, "window_end": {"type": "number"},
}}  # fmt: skip

PATHS: dict[str, Any] = {
    "/api/budgets": {
        "get": {
            "summary": "Every scope with a limit or spend today: limit, spent, reserved, "
                       "remaining, window",
            "operationId": "budgets",
            "responses": {
                "200": {"description": "Scopes, global first",
                        "content": json_content({"type": "array", "items": _STATUS})},
                "404": error_ref("Budgets are off"),
            },
        }
    },
    "/api/budgets/{scope}": {
        "get": {
            "summary": "One scope's budget today",
            "operationId": "budget",
            "parameters": [{"name": "scope", "in": "path", "required": True,
                            "schema": {"type": "string"},
                            "description": "global | team:T | user:U | tool:SERVER.TOOL"}],
            "responses": {
                "200": {"description": "The scope", "content": json_content(_STATUS)},
                "400": error_ref("Not a scope"),
                "404": error_ref("Budgets are off"),
            },
        }
    },
}  # fmt: skip
