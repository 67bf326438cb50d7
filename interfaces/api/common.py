"""Pieces the API's resources share: reading a JSON body, OpenAPI fragments for errors."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from interfaces.web_errors import BadRequest, PayloadTooLarge


async def json_body(request: Request, max_bytes: int) -> Any:
    """The request's JSON, read up to ``max_bytes``; BadRequest says what is wrong with it."""
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(
                f"the body is over {max_bytes:,} bytes (TOOLWISE_MAX_MESSAGE_BYTES); large "
                "content goes by reference (toolwise submit --attach stores it)"
            )
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except ValueError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None


def error_ref(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "status"],
    "properties": {
        "error": {"type": "string", "description": "What went wrong and what to do."},
        "status": {"type": "integer"},
        "details": {"type": "array", "items": {"type": "object"}},
    },
}
