"""/api/openapi.json: the OpenAPI 3.1 document of every resource in ``interfaces.api``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from interfaces.api.common import ERROR_SCHEMA, json_content
from interfaces.webcontext import web_context
from streams.settings import Settings


def document(settings: Settings) -> dict[str, Any]:
    from interfaces.api import resources  # this module is one of them

    paths: dict[str, Any] = {}
    models: list[type[BaseModel]] = []
    for module in resources():
        paths.update(module.PATHS)
        models.extend(getattr(module, "SCHEMA_MODELS", ()))
    _, defs = models_json_schema(
        [(model, "validation") for model in dict.fromkeys(models)],
        ref_template="#/components/schemas/{model}",
    )
    schemas = {**defs.get("$defs", {}), "Error": ERROR_SCHEMA}
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Toolwise",
            "version": "1",
            "description": "Submit intents, read their outcomes, list and rank tools. Errors "
            "are JSON: {error, status}. The same port serves MCP at /mcp, an A2A agent "
            "(card at /.well-known/agent-card.json), /metrics and /dashboard.",
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas},
    }
    if settings.web_token is not None:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc


async def openapi(request: Request) -> Response:
    return JSONResponse(document(web_context(request).settings))


ROUTES = [Route("/api/openapi.json", openapi, methods=["GET"])]

PATHS: dict[str, Any] = {
    "/api/openapi.json": {
        "get": {
            "summary": "This document",
            "operationId": "openapi",
            "responses": {"200": {"description": "OpenAPI 3.1",
                                  "content": json_content({"type": "object"})}},
        }
    }
}  # fmt: skip
