"""An outcome as the MCP gateway and the A2A agent hand it back: text, data and media parts."""

from __future__ import annotations

import json
from typing import Any

from models import ContentPart, IntentCompleted, IntentFailed, MediaContent
from tools.content import mcp_form

Outcome = IntentCompleted | IntentFailed


def output_text(output: Any) -> str:
    """A step's output as text: strings as they are, anything else as JSON."""
    if isinstance(output, str):
        return output
    return json.dumps(output, ensure_ascii=False, default=str)


def summary(outcome: Outcome) -> str:
    """One line per step, or the failure's reason."""
    if isinstance(outcome, IntentFailed):
        return f"failed ({outcome.error_kind}): {outcome.reason}"
    lines = [f"{r.tool}: {output_text(r.output)}" for r in outcome.results]
    return "\n".join(lines) if len(lines) != 1 else output_text(outcome.results[0].output)


def parts_of(outcome: Outcome) -> list[ContentPart]:
    return [part for result in outcome.results for part in result.content]


def mcp_block(part: ContentPart) -> dict[str, Any]:
    """MCP content block: inline parts as they are; a stored part as a link to fetch it."""
    if isinstance(part, MediaContent) and part.data is None and part.ref is not None:
        return {
            "type": "resource_link",
            "uri": part.ref.uri,
            "name": f"{part.type} ({part.ref.size:,} bytes)",
            "mimeType": part.mime_type,
            "size": part.ref.size,
            "description": "Stored content: GET /api/content/<uri> on the worker, or "
            "`toolwise fetch-content <uri>`",
        }
    return mcp_form(part)


def mcp_result(outcome: Outcome) -> dict[str, Any]:
    """The CallToolResult (JSON) of a gateway call answered by ``outcome``."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": summary(outcome)}]
    blocks.extend(mcp_block(part) for part in parts_of(outcome))
    result: dict[str, Any] = {
        "content": blocks,
        "isError": isinstance(outcome, IntentFailed),
        "_meta": {
            "toolwise/intent_id": outcome.intent_id,
            "toolwise/attempts": outcome.attempts,
            "toolwise/cost": outcome.cost,
            "toolwise/latency_ms": round(outcome.latency_ms, 1),
        },
    }
    if isinstance(outcome, IntentCompleted) and len(outcome.results) == 1:
        output = outcome.results[0].output
        if isinstance(output, dict):
            result["structuredContent"] = output
    return result
