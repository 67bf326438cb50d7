"""/dashboard: one page, live over server-sent events (/dashboard/events), no CDN.

The page draws its charts as SVG itself. Each event is a whole snapshot: the charts' series,
the tools' leaderboard from the learned state, recent dead letters, the live tail of intents,
and this worker's health. A snapshot goes out within ``_TICK_S`` of any record the feed reads,
and at least every ``_IDLE_S`` (the charts move on while nothing happens).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from interfaces.api.tools import leaderboard, tools_view
from interfaces.metrics import consumer_lag
from interfaces.outcome_view import output_text
from interfaces.watch import IntentRecord
from interfaces.webcontext import WebContext, web_context

# A quarter second: "within a second of events" with room to spare, and at most four
# snapshots a second per open page however busy the topics are.
_TICK_S = 0.25
_IDLE_S = 2.0
_TAIL = 25

_PAGE = (Path(__file__).with_name("dashboard.html")).read_text()


async def page(request: Request) -> Response:
    return HTMLResponse(_PAGE)


async def events(request: Request) -> Response:
    context = web_context(request)

    async def stream() -> AsyncIterator[dict[str, str]]:
        seen = -1
        sent_at = 0.0
        while True:
            version = context.feed.version if context.feed is not None else 0
            now = time.monotonic()
            if version != seen or now - sent_at >= _IDLE_S:
                seen, sent_at = version, now
                yield {"event": "snapshot", "data": json.dumps(await snapshot(context))}
            await asyncio.sleep(_TICK_S)

    return EventSourceResponse(stream(), ping=15)


async def snapshot(context: WebContext) -> dict[str, Any]:
    from streams.app import app, loop_monitor

    now = time.time()
    view = context.stats.snapshot(now)
    runtime = await context.runtime()
    rows = tools_view(list(runtime.tools.values()), runtime.learned.state())
    lag = loop_monitor.lag
    return {
        **view,
        "now": now,
        "leaderboard": leaderboard(rows),
        "tools_registered": len(rows),
        "tail": [_tail_row(record) for record in context.watch.recent(_TAIL)],
        "health": {
            "loop_lag_ms": round(lag.last_lag_s * 1000, 1),
            "loop_lag_max_ms": round(lag.max_lag_s * 1000, 1),
            "loop_stalls": lag.stalls,
            "consumer_lag": consumer_lag(app),
            "feed_records": context.feed.version if context.feed is not None else 0,
            "intents_held": len(context.watch),
        },
        "budgets": None,  # filled in once budgets exist
    }


def _tail_row(record: IntentRecord) -> dict[str, Any]:
    text = ""
    if record.intent is not None:
        text = record.intent["text"]
    elif record.plan is not None:
        text = record.plan.get("intent_text", "")
    tools: list[str] = []
    if record.plan is not None:
        tools = [step["tool"] for step in record.plan["steps"]]
    detail = ""
    latency = None
    outcome = record.outcome
    if outcome is not None:
        latency = round(outcome.get("latency_ms", 0.0), 1) or None  # 0: never planned
        if outcome["type"] == "IntentFailed":
            detail = outcome["reason"]
        else:
            detail = "; ".join(output_text(r["output"]) for r in outcome["results"])
        tools = [r["tool"] for r in outcome["results"]] or tools
    progress = None
    if record.progress and outcome is None:
        latest = max(record.progress.values(), key=lambda p: p["occurred_at"])
        total = latest.get("total")
        progress = {
            "tool": latest["tool"],
            "fraction": latest["progress"] / total if total else None,
            "message": latest.get("message") or "",
        }
    return {
        "intent_id": record.intent_id,
        "text": text[:160],
        "status": record.status(),
        "tools": tools,
        "latency_ms": latency,
        "progress": progress,
        "detail": detail[:200],
        "at": record.first_seen,
    }


def routes() -> list[Route]:
    return [
        Route("/dashboard", page, methods=["GET"]),
        Route("/dashboard/events", events, methods=["GET"]),
    ]
