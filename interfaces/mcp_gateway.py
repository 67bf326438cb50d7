"""/mcp: Toolwise as an MCP server (streamable HTTP), in gateway mode.

``tools/list`` answers the registered tools and two meta-tools; ``tools/call`` of a tool becomes
an intent naming it, published on Kafka and answered from its outcome, so a call through the
gateway gets Toolwise's timeouts, retries, cache and learning, and is recorded like any other.
The tool's progress notifications reach the caller (``ToolCallProgressed`` on the progress
topic, forwarded by this worker's feed). ``_meta["toolwise/intent"]`` on a call may say in words
what the agent wanted; the learner then learns the tool for those words.

- ``toolwise_find_tools(text, k)``: the learned top-k tools for a task, with their input
  schemas, so an agent's prompt holds k tools rather than the whole catalogue.
- ``toolwise_run_intent(text, arguments?)``: the planner chooses the tools and runs them.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from starlette.routing import BaseRoute

from agents.ranking import recommendations_view
from interfaces.outcome_view import mcp_result
from interfaces.webcontext import WebContext
from models import IntentCompleted, IntentFailed, IntentSubmitted, ToolCallProgressed

log = logging.getLogger(__name__)

FIND_TOOLS = "toolwise_find_tools"
RUN_INTENT = "toolwise_run_intent"
INTENT_META = "toolwise/intent"

_META_TOOLS = [
    types.Tool(
        name=FIND_TOOLS,
        description="Find the tools best suited to a task, ranked by what Toolwise has learned "
        "from past executions (fit, success, quality, cost, latency). Returns the top k with "
        "their input schemas; call them by name through this server.",
        input_schema={
            "type": "object",
            "properties": {
                "text": {"type": "string", "description": "The task, in words."},
                "k": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
            },
            "required": ["text"],
        },
    ),
    types.Tool(
        name=RUN_INTENT,
        description="Describe what you want done; Toolwise plans it over its tools (one or "
        "several steps), runs them with retries and fallbacks, and returns the results.",
        input_schema={
            "type": "object",
            "properties": {
                "text": {"type": "string", "description": "What to do, in words."},
                "arguments": {
                    "type": "object",
                    "description": "Arguments you already know (names of the tools' parameters).",
                },
            },
            "required": ["text"],
        },
    ),
]


class Gateway:
    def __init__(self, context: WebContext) -> None:
        self._context = context
        self._server: Server[Any] = Server(
            "toolwise",
            version="1",
            instructions="Toolwise runs tools for you and learns which work best. Call a tool "
            f"directly, ask {FIND_TOOLS} which tools fit a task, or let {RUN_INTENT} plan it.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        self._app = self._server.streamable_http_app(
            streamable_http_path="/mcp", host=context.settings.web_host
        )

    def routes(self) -> list[BaseRoute]:
        return list(self._app.routes)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self._server.session_manager.run():
            yield

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        runtime = await self._context.runtime()
        tools = [
            types.Tool(
                name=spec.name,
                description=spec.description,
                input_schema=spec.input_schema or {"type": "object"},
            )
            for spec in runtime.tools.values()
        ]
        return types.ListToolsResult(tools=[*_META_TOOLS, *tools])

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        arguments = dict(params.arguments or {})
        try:
            if params.name == FIND_TOOLS:
                return await self._find_tools(arguments)
            if params.name == RUN_INTENT:
                text = arguments.get("text")
                if not isinstance(text, str) or not text.strip():
                    return _error(f"{RUN_INTENT} needs 'text': what to do, in words")
                given = arguments.get("arguments") or {}
                if not isinstance(given, dict):
                    return _error("'arguments' must be an object of argument names to values")
                intent = IntentSubmitted(text=text, arguments=given, context=_context(ctx))
                return await self._run(ctx, intent)
            runtime = await self._context.runtime()
            if params.name not in runtime.tools:
                return _error(f"unknown tool {params.name!r}: tools/list names every tool")
            meta: dict[str, Any] = dict(params.meta or {})
            text = meta.get(INTENT_META) if isinstance(meta.get(INTENT_META), str) else None
            intent = IntentSubmitted(
                text=(text or params.name)[:20_000],
                tool=params.name,
                arguments=arguments,
                context=_context(ctx),
            )
            return await self._run(ctx, intent)
        except ValueError as exc:  # an intent the arguments cannot make (pydantic says why)
            return _error(f"cannot make an intent of this call: {exc}")

    async def _run(
        self, ctx: ServerRequestContext[Any], intent: IntentSubmitted
    ) -> types.CallToolResult:
        watch = self._context.watch
        wait_s = self._context.settings.interface_wait_s
        last = 0.0
        with watch.subscription(intent.intent_id) as queue:
            await self._context.submit(intent)
            async for event in watch.events(queue, intent.intent_id, wait_s):
                if isinstance(event, ToolCallProgressed) and event.progress > last:
                    # MCP asks that progress only grows; a later step's restart is skipped.
                    last = event.progress
                    message = f"{event.tool}: {event.message or ''}".rstrip(": ")
                    await ctx.session.report_progress(event.progress, event.total, message)
                elif isinstance(event, IntentCompleted | IntentFailed):
                    return types.CallToolResult.model_validate(mcp_result(event))
        return _error(
            f"no outcome within {wait_s:g} s; the intent goes on: GET "
            f"/api/intents/{intent.intent_id} (TOOLWISE_INTERFACE_WAIT_S)"
        )

    async def _find_tools(self, arguments: dict[str, Any]) -> types.CallToolResult:
        text = arguments.get("text")
        k = arguments.get("k", 5)
        if not isinstance(text, str) or not text.strip():
            return _error(f"{FIND_TOOLS} needs 'text': the task, in words")
        if not isinstance(k, int) or not 1 <= k <= 50:
            return _error("'k' must be an integer from 1 to 50")
        runtime = await self._context.runtime()
        view = recommendations_view(
            runtime.recommender,
            runtime.learned,
            list(runtime.tools.values()),
            text,
            {},
            top_k=k,
        )
        found = []
        for rec in view["recommendations"]:  # type: ignore[attr-defined]
            spec = runtime.tools[rec["tool"]]
            found.append(
                {
                    "name": spec.name,
                    "description": spec.description,
                    "input_schema": spec.input_schema,
                    "score": rec["score"],
                    "why": rec["explanation"],
                }
            )
        data = {"tools": found, "generation": view["generation"]}
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=json.dumps(data, ensure_ascii=False))],
            structured_content=data,
        )


def _context(ctx: ServerRequestContext[Any]) -> dict[str, str]:
    context = {"interface": "mcp"}
    session = ctx.session
    session_id = getattr(session, "session_id", None)
    if isinstance(session_id, str):
        context["session"] = session_id[:200]
    return context


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], is_error=True
    )
