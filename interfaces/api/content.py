"""/api/content/REF: the bytes of stored content (an image or clip that went by reference)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agents.content_store import ContentMissing, ContentStoreUnavailable
from interfaces.api.common import error_ref
from interfaces.web_errors import BadRequest, NotFound, error_response
from interfaces.webcontext import web_context
from models.content import ContentError, sha256_of_reference


async def content(request: Request) -> Response:
    """The bytes of a content reference ('toolwise-content:sha256:<hex>' or the sha256)."""
    try:
        sha256 = sha256_of_reference(request.path_params["ref"])
    except ContentError as exc:
        raise BadRequest(str(exc)) from None
    runtime = await web_context(request).runtime()
    if runtime.content is None:
        return error_response(503, "no content store configured (TOOLWISE_REDIS_URL)")
    try:
        stored = await runtime.content.get(sha256)
    except ContentStoreUnavailable as exc:
        return error_response(503, str(exc))
    except ContentMissing as exc:
        raise NotFound(str(exc)) from None
    return Response(stored.data, media_type=stored.mime_type)


ROUTES = [Route("/api/content/{ref:str}", content, methods=["GET"])]

PATHS: dict[str, Any] = {
    "/api/content/{ref}": {
        "get": {
            "summary": "The bytes of a content reference",
            "operationId": "getContent",
            "parameters": [
                {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"},
                 "description": "'toolwise-content:sha256:<hex>' or the bare sha256"},
            ],
            "responses": {
                "200": {"description": "The bytes, with their media type",
                        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
                "400": error_ref("Not a content reference"),
                "404": error_ref("Expired or never stored"),
                "503": error_ref("No content store, or Redis is down"),
            },
        }
    }
}  # fmt: skip
