"""Toolwise as an A2A agent (the official ``a2a-sdk``): card, send, stream, get, cancel.

The card (at the SDK's well-known path) lists the registered tools as skills, with examples
from recent intents each served well. A message becomes an ``IntentSubmitted``: its text parts
the text, its data parts the arguments, its file parts content, the A2A context id
``context["session"]``; the task id is the intent id. Metadata ``toolwise/tool`` (the
message's or the request's) names the tool to run, skipping planning. While the intent runs
the task's status says what happened (planned, each tool call and its progress); the outcome
becomes the task's artifact (text, the outcome as data, media as file parts). Cancelling the
task publishes a ``CancellationRequested``: the intent's running calls stop, the rest never
start, and its outcome records the cancellation.
"""

from __future__ import annotations

import base64
import logging
from collections import OrderedDict
from typing import Any

from a2a.helpers.proto_helpers import (
    get_data_parts,
    new_data_part,
    new_raw_part,
    new_task,
    new_text_part,
    new_url_part,
)
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskStore, TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    HTTPAuthSecurityScheme,
    ListTasksRequest,
    ListTasksResponse,
    Part,
    SecurityRequirement,
    SecurityScheme,
    Task,
    TaskState,
)
from a2a.utils.constants import PROTOCOL_VERSION_CURRENT, TransportProtocol
from google.protobuf import json_format
from starlette.routing import BaseRoute

from interfaces.outcome_view import parts_of, summary
from interfaces.webcontext import WebContext
from models import (
    ContentPart,
    IntentCompleted,
    IntentFailed,
    IntentSubmitted,
    MediaContent,
    PlanCreated,
    StepResult,
    ToolCallCompleted,
    ToolCallProgressed,
)
from models.content import ContentError, part_from_bytes

log = logging.getLogger(__name__)

RPC_PATH = "/a2a"
# Message metadata naming the tool to run (skips planning), as IntentSubmitted.tool does.
TOOL_METADATA = "toolwise/tool"

# Tasks kept for tasks/get after they end. A task is a few KB; 10,000 is tens of MB at most,
# and far more than a caller polls at once.
MAX_TASKS = 10_000


class BoundedTaskStore(TaskStore):
    """The SDK's in-memory store, forgetting the oldest tasks beyond ``max_tasks``."""

    def __init__(self, max_tasks: int = MAX_TASKS) -> None:
        self._store = InMemoryTaskStore()
        self._order: OrderedDict[str, ServerCallContext] = OrderedDict()
        self._max = max_tasks

    async def save(self, task: Task, context: ServerCallContext) -> None:
        await self._store.save(task, context)
        self._order[task.id] = context
        self._order.move_to_end(task.id)
        while len(self._order) > self._max:
            old, old_context = self._order.popitem(last=False)
            await self._store.delete(old, old_context)

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        return await self._store.get(task_id, context)

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        return await self._store.list(params, context)

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        self._order.pop(task_id, None)
        await self._store.delete(task_id, context)


class ToolwiseExecutor(AgentExecutor):
    def __init__(self, context: WebContext) -> None:
        self._context = context

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id, context_id = context.task_id or "", context.context_id or ""
        message = context.message
        if context.current_task is None:
            history = [message] if message is not None else []
            task = new_task(task_id, context_id, TaskState.TASK_STATE_SUBMITTED, history=history)
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task_id, context_id)
        try:
            intent = intent_of(context, task_id, context_id)
        except (ValueError, ContentError) as exc:
            await updater.reject(updater.new_agent_message([new_text_part(str(exc))]))
            return
        watch = self._context.watch
        wait_s = self._context.settings.interface_wait_s
        with watch.subscription(intent.intent_id) as queue:
            await self._context.submit(intent)
            await updater.start_work(_say(updater, f"submitted as intent {intent.intent_id}"))
            reported: set[str] = set()  # step ids whose tool call has had its status
            async for event in watch.events(queue, intent.intent_id, wait_s):
                if isinstance(event, IntentCompleted | IntentFailed):
                    # Step results travel on another topic than outcomes and may come later
                    # (or not at all, for a redelivered plan): the outcome has them too.
                    for step in event.results:
                        if step.step_id not in reported:
                            await updater.start_work(_say(updater, _step_text(step)))
                    await self._finish(updater, event)
                    return
                if isinstance(event, ToolCallCompleted):
                    reported.add(event.call_id)
                said = _status_text(event)
                if said is not None:
                    await updater.start_work(_say(updater, said))
        await updater.failed(
            _say(updater, f"no outcome within {wait_s:g} s; GET /api/intents/{intent.intent_id}")
        )

    async def _finish(self, updater: TaskUpdater, outcome: IntentCompleted | IntentFailed) -> None:
        parts = [
            new_text_part(summary(outcome)),
            new_data_part(
                outcome.model_dump(mode="json", exclude={"results": {"__all__": {"content"}}})
            ),
        ]
        parts.extend(self._file_part(part) for part in parts_of(outcome))
        await updater.add_artifact(parts, name="outcome")
        if isinstance(outcome, IntentCompleted):
            await updater.complete()
        elif outcome.error_kind == "cancelled":
            pass  # the task was cancelled: cancel() has said so
        else:
            await updater.failed(_say(updater, f"{outcome.error_kind}: {outcome.reason}"))

    def _file_part(self, part: ContentPart) -> Part:
        if isinstance(part, MediaContent):
            if part.data is not None:
                return new_raw_part(base64.b64decode(part.data), part.mime_type)
            if part.ref is not None:
                url = f"{public_url(self._context)}/api/content/{part.ref.uri}"
                return new_url_part(url, part.mime_type)
        return new_data_part(part.model_dump(mode="json", by_alias=True, exclude_none=True))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id = context.task_id or ""
        await self._context.cancel(task_id, "the A2A task was cancelled", "a2a")
        updater = TaskUpdater(event_queue, task_id, context.context_id or "")
        await updater.cancel(
            _say(updater, "cancelled: running tool calls stop, others never start")
        )


def intent_of(context: RequestContext, intent_id: str, context_id: str) -> IntentSubmitted:
    """The intent a message asks for; ValueError says what the message lacks."""
    message = context.message
    if message is None:
        raise ValueError("the request has no message")
    text = "\n".join(p.text for p in message.parts if p.HasField("text")).strip()
    if not text:
        raise ValueError("send a text part saying what to do (data parts are its arguments)")
    arguments: dict[str, Any] = {}
    for data in get_data_parts(list(message.parts)):
        if not isinstance(data, dict):
            raise ValueError("a data part must be an object of argument names to values")
        arguments.update({k: _whole(v) for k, v in data.items()})
    content = [
        part_from_bytes(p.raw, p.media_type or "application/octet-stream")
        for p in message.parts
        if p.HasField("raw")
    ]
    metadata = {**json_format.MessageToDict(message.metadata), **context.metadata}
    tool = metadata.get(TOOL_METADATA) or None
    if tool is not None and not isinstance(tool, str):
        raise ValueError(f"metadata {TOOL_METADATA!r} must name a tool ('server.tool')")
    return IntentSubmitted(
        intent_id=intent_id,
        text=text,
        arguments=arguments,
        content=content,
        tool=tool,
        context={"session": context_id[:200], "interface": "a2a"},
    )


def _whole(value: Any) -> Any:
    # A2A data parts are protobuf Values: every number is a double (4 arrives as 4.0).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


def _status_text(event: object) -> str | None:
    if isinstance(event, PlanCreated):
        return "planned: " + ", ".join(step.tool for step in event.steps)
    if isinstance(event, ToolCallProgressed):
        total = f"/{event.total:g}" if event.total is not None else ""
        note = f" {event.message}" if event.message else ""
        return f"{event.tool}: {event.progress:g}{total}{note}"
    if isinstance(event, ToolCallCompleted):
        return _step_text(event)
    return None


def _step_text(step: ToolCallCompleted | StepResult) -> str:
    if step.ok:
        return f"{step.tool} done in {step.latency_ms:.0f} ms"
    return f"{step.tool} failed ({step.error_kind}): {step.error}"


def _say(updater: TaskUpdater, text: str) -> Any:
    return updater.new_agent_message([new_text_part(text)])


def public_url(context: WebContext) -> str:
    settings = context.settings
    return settings.public_url or f"http://{settings.web_host}:{settings.web_port}"


def agent_card(context: WebContext) -> AgentCard:
    """The card as it stands now (tools and examples change as the worker learns)."""
    card = AgentCard(
        name="Toolwise",
        description="Turns requests into tool calls over MCP tools, choosing the tools by what "
        "it has learned from every past execution. Send what you want done in words; data "
        "parts are arguments, file parts content.",
        version="1",
        supported_interfaces=[
            AgentInterface(
                url=public_url(context) + RPC_PATH,
                protocol_binding=TransportProtocol.JSONRPC.value,
                protocol_version=PROTOCOL_VERSION_CURRENT,
            )
        ],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain", "application/json", "image/*", "audio/*"],
        default_output_modes=["text/plain", "application/json", "image/*", "audio/*"],
    )
    if context.settings.web_token is not None:
        card.security_schemes["bearer"].CopyFrom(
            SecurityScheme(http_auth_security_scheme=HTTPAuthSecurityScheme(scheme="Bearer"))
        )
        requirement = SecurityRequirement()
        requirement.schemes["bearer"]  # a proto map: reading a key adds it (no scopes)
        card.security_requirements.append(requirement)
    return card


async def _with_skills(context: WebContext, card: AgentCard) -> AgentCard:
    runtime = await context.runtime()
    examples = context.feed.examples.of if context.feed is not None else (lambda _t: [])
    current = AgentCard()
    current.CopyFrom(card)
    for spec in runtime.tools.values():
        current.skills.append(
            AgentSkill(
                id=spec.name,
                name=spec.name,
                description=spec.description or spec.name,
                tags=[spec.server],
                examples=examples(spec.name),
            )
        )
    return current


def routes(context: WebContext) -> list[BaseRoute]:
    card = agent_card(context)
    handler = DefaultRequestHandler(
        agent_executor=ToolwiseExecutor(context),
        task_store=BoundedTaskStore(),
        agent_card=card,
    )

    async def modify(base: AgentCard) -> AgentCard:
        return await _with_skills(context, base)

    return [
        *create_agent_card_routes(card, card_modifier=modify),
        *create_jsonrpc_routes(handler, RPC_PATH),
    ]
