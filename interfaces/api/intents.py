"""/api/intents: submit an intent (and wait for its outcome), read one, follow one, cancel one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from interfaces.api.common import error_ref, json_body, json_content
from interfaces.watch import IntentEvent
from interfaces.web_errors import NotFound, Unprocessable, bounded_float_param
from interfaces.webcontext import WebContext, web_context
from models import IntentCompleted, IntentFailed, IntentSubmitted


async def submit(request: Request) -> Response:
    """POST /api/intents?wait=SECONDS"""
    context = web_context(request)
    settings = context.settings
    wait = bounded_float_param(request.query_params, "wait", 0.0, 0.0, settings.interface_wait_s)
    intent = _intent(await json_body(request, settings.max_message_bytes))
    links = {"self": f"/api/intents/{intent.intent_id}"}
    if wait <= 0:
        await context.submit(intent)
        return JSONResponse(
            {"intent_id": intent.intent_id, "status": "submitted", "links": links}, 202
        )
    with context.watch.subscription(intent.intent_id) as queue:
        await context.submit(intent)
        outcome = None
        async for event in context.watch.events(queue, intent.intent_id, wait):
            if isinstance(event, IntentCompleted | IntentFailed):
                outcome = event
    if outcome is None:
        record = context.watch.get(intent.intent_id)
        status = record.status() if record is not None else "submitted"
        body = {"intent_id": intent.intent_id, "status": status, "links": links}
        return JSONResponse(body, 202)
    return JSONResponse(
        {
            "intent_id": intent.intent_id,
            "status": "completed" if isinstance(outcome, IntentCompleted) else "failed",
            "outcome": outcome.model_dump(mode="json"),
            "links": links,
        }
    )


def _intent(data: Any) -> IntentSubmitted:
    if not isinstance(data, dict):
        raise Unprocessable(
            "the body must be a JSON object: an IntentSubmitted, e.g. "
            '{"text": "convert 3 km to miles"}'
        )
    try:
        return IntentSubmitted.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        details = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        raise Unprocessable(
            f"not a valid IntentSubmitted ({problems}); only 'text' is required "
            "(see /api/openapi.json)",
            details,
        ) from None


async def get_intent(request: Request) -> Response:
    """GET /api/intents/{intent_id}"""
    context = web_context(request)
    intent_id = request.path_params["intent_id"]
    record = context.watch.get(intent_id)
    if record is None:
        raise _unknown(context, intent_id)
    return JSONResponse(record.view())


async def follow_intent(request: Request) -> Response:
    """GET /api/intents/{intent_id}/events: server-sent events until the outcome."""
    context = web_context(request)
    intent_id = request.path_params["intent_id"]
    wait = bounded_float_param(
        request.query_params,
        "wait",
        context.settings.interface_wait_s,
        0.0,
        context.settings.interface_wait_s,
    )

    async def events() -> AsyncIterator[dict[str, str]]:
        with context.watch.subscription(intent_id) as queue:
            record = context.watch.get(intent_id)
            if record is not None:
                yield {"event": "state", "data": json.dumps(record.view())}
            async for event in context.watch.events(queue, intent_id, wait):
                yield _sse(event)

    return EventSourceResponse(events(), ping=15)


def _sse(event: IntentEvent) -> dict[str, str]:
    return {"event": event.type, "data": event.model_dump_json()}


async def cancel_intent(request: Request) -> Response:
    """POST /api/intents/{intent_id}/cancel"""
    context = web_context(request)
    intent_id = request.path_params["intent_id"]
    reason = request.query_params.get("reason", "cancelled through the HTTP API")
    record = context.watch.get(intent_id)
    if record is not None and record.outcome is not None:
        return JSONResponse({"intent_id": intent_id, "status": record.status(), "cancelled": False})
    await context.cancel(intent_id, reason, "api")
    return JSONResponse({"intent_id": intent_id, "status": "cancelling", "cancelled": True}, 202)


def _unknown(context: WebContext, intent_id: str) -> NotFound:
    return NotFound(
        f"intent {intent_id!r} is not among the {len(context.watch):,} recent intents this "
        f"worker holds (TOOLWISE_INTENT_INDEX_SIZE, and {context.settings.feed_lookback_s:g} s "
        "read back at start); every outcome stays on the outcomes topic: toolwise tail "
        "outcomes --from-beginning"
    )


ROUTES = [
    Route("/api/intents", submit, methods=["POST"]),
    Route("/api/intents/{intent_id:str}", get_intent, methods=["GET"]),
    Route("/api/intents/{intent_id:str}/events", follow_intent, methods=["GET"]),
    Route("/api/intents/{intent_id:str}/cancel", cancel_intent, methods=["POST"]),
]

_ID = {"name": "intent_id", "in": "path", "required": True, "schema": {"type": "string"}}
_RESULT = {
    "type": "object",
    "required": ["intent_id", "status", "links"],
    "properties": {
        "intent_id": {"type": "string"},
        "status": {
            "type": "string",
            "enum": [
                "submitted",
                "planned",
                "running",
                "cancelling",
                "completed",
                "failed",
                "cancelled",
            ],
        },
        "outcome": {
            "oneOf": [
                {"$ref": "#/components/schemas/IntentCompleted"},
                {"$ref": "#/components/schemas/IntentFailed"},
            ]
        },
        "links": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

PATHS: dict[str, Any] = {
    "/api/intents": {
        "post": {
            "summary": "Submit an intent; with ?wait=, answer with its outcome",
            "operationId": "submitIntent",
            "parameters": [
                {
                    "name": "wait",
                    "in": "query",
                    "description": "Seconds to wait for the outcome (0: answer at once, 202). "
                    "Not answered in time: 202 with the intent's status so far.",
                    "schema": {"type": "number", "minimum": 0, "default": 0},
                }
            ],
            "requestBody": {
                "required": True,
                "content": json_content({"$ref": "#/components/schemas/IntentSubmitted"}),
            },
            "responses": {
                "200": {"description": "The outcome arrived", "content": json_content(_RESULT)},
                "202": {
                    "description": "Submitted; not answered yet",
                    "content": json_content(_RESULT),
                },
                "400": error_ref("Not JSON, or a bad ?wait="),
                "413": error_ref("The body is larger than TOOLWISE_MAX_MESSAGE_BYTES"),
                "422": error_ref("Not a valid IntentSubmitted (details name each field)"),
            },
        }
    },
    "/api/intents/{intent_id}": {
        "get": {
            "summary": "The intent, its plan, every attempt, progress and its outcome",
            "operationId": "getIntent",
            "parameters": [_ID],
            "responses": {
                "200": {
                    "description": "A recent intent",
                    "content": json_content({"type": "object"}),
                },
                "404": error_ref("Not among the recent intents this worker holds"),
            },
        }
    },
    "/api/intents/{intent_id}/events": {
        "get": {
            "summary": "Server-sent events of the intent until its outcome",
            "description": "First a 'state' event (what is known so far), then each event "
            "(PlanCreated, ToolCallProgressed, ExecutionRecorded, ToolCallCompleted, ...) as "
            "it happens; the stream ends with IntentCompleted or IntentFailed.",
            "operationId": "followIntent",
            "parameters": [_ID],
            "responses": {
                "200": {
                    "description": "text/event-stream",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/api/intents/{intent_id}/cancel": {
        "post": {
            "summary": "Cancel the intent: running calls stop, the rest never start",
            "operationId": "cancelIntent",
            "parameters": [
                _ID,
                {"name": "reason", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {
                    "description": "Already answered: nothing to cancel",
                    "content": json_content({"type": "object"}),
                },
                "202": {
                    "description": "Cancellation published",
                    "content": json_content({"type": "object"}),
                },
            },
        }
    },
}

SCHEMA_MODELS = (IntentSubmitted, IntentCompleted, IntentFailed)
