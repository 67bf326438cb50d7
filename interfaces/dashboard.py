"""The worker's web port: /dashboard, /api/stats, /api/recommend, /api/plan, /api/content/REF."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from agents.content_store import ContentMissing, ContentStoreUnavailable
from agents.model_thread import in_planner_thread
from agents.plan_builder import explain_plan, ranked_texts
from agents.plan_view import plan_view
from agents.ranking import recommendations_view
from agents.runtime import get_runtime
from interfaces import web_errors
from interfaces.livestats import LiveStats
from interfaces.plan_query import PlanQueryError, intent_from_query
from interfaces.web_errors import BadRequest, float_param, int_param
from models import DeadLettered, Event, ExecutionRecorded, IntentCompleted, IntentFailed
from models.content import ContentError, sha256_of_reference
from streams.app import app, settings
from streams.topics import dead_letters_topic, executions_topic, outcomes_topic

log = logging.getLogger(__name__)
stats = LiveStats()
web_errors.install(app)

_watched = app.topic(
    outcomes_topic.get_topic_name(),
    dead_letters_topic.get_topic_name(),
    executions_topic.get_topic_name(),
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
)


@app.agent(_watched, name="watch-streams")
async def watch_streams(stream: Any) -> None:
    outcomes = outcomes_topic.get_topic_name()
    models: dict[str, type[Event]] = {
        outcomes: IntentCompleted,
        dead_letters_topic.get_topic_name(): DeadLettered,
        executions_topic.get_topic_name(): ExecutionRecorded,
    }
    async for event in stream.events():
        topic = event.message.topic
        model = models[topic]
        if topic == outcomes and b'"IntentFailed"' in (event.value or b""):
            model = IntentFailed
        try:
            value = model.model_validate_json(event.value)
        except ValueError:
            continue  # the dashboard only watches; producers own validation
        try:
            if isinstance(value, IntentCompleted | IntentFailed):
                stats.on_outcome(value, time.time())
            elif isinstance(value, DeadLettered):
                stats.on_dead_letter(value)
            elif isinstance(value, ExecutionRecorded):
                stats.on_execution(value)
        except Exception:  # an observer's bug must not stop the worker
            log.exception("the dashboard could not count %s", topic)


@app.page("/api/stats")
async def api_stats(web: Any, request: Any) -> Any:
    return web.json(stats.snapshot(time.time()))


@app.page("/api/recommend")
async def api_recommend(web: Any, request: Any) -> Any:
    """?text=...&explore=0|1&generation=N&top_k=K&at=UNIX_S&context.<name>=<value>"""
    query = request.query
    text = query.get("text", "")
    if not text:
        raise BadRequest("missing ?text=: the intent text to rank tools for")
    runtime = await get_runtime(settings)
    context = {k[len("context.") :]: v for k, v in query.items() if k.startswith("context.")}
    generation = int_param(query, "generation")
    view = recommendations_view(
        runtime.recommender,
        runtime.learned,
        list(runtime.tools.values()),
        text,
        context,
        generation=generation,
        explore=query.get("explore", "0") == "1",
        top_k=int_param(query, "top_k", 10) or 10,
        at=float_param(query, "at"),
    )
    return web.json(view)


@app.page("/api/content/{ref}")
async def api_content(web: Any, request: Any, ref: str) -> Any:
    """The bytes of a content reference ('toolwise-content:sha256:<hex>' or the sha256)."""
    try:
        sha256 = sha256_of_reference(ref)
    except ContentError as exc:
        raise BadRequest(str(exc)) from None
    runtime = await get_runtime(settings)
    if runtime.content is None:
        return _error(web, 503, "no content store configured (TOOLWISE_REDIS_URL)")
    try:
        stored = await runtime.content.get(sha256)
    except ContentStoreUnavailable as exc:
        return _error(web, 503, str(exc))
    except ContentMissing as exc:
        return _error(web, 404, str(exc))
    return web.bytes(stored.data, content_type=stored.mime_type)


def _error(web: Any, status: int, message: str) -> Any:
    return web.json({"error": message, "status": status}, status=status)


@app.page("/api/plan")
async def api_plan(web: Any, request: Any) -> Any:
    """?text=...&tool=...&arguments=<JSON object>&context.<name>=<value>

    The plan the planner would make now, and why, without running any tool.
    """
    try:
        intent = intent_from_query(request.query)
    except PlanQueryError as exc:
        raise BadRequest(str(exc)) from None
    runtime = await get_runtime(settings)
    encoder = runtime.recommender.encoder
    if encoder is not None and intent.tool is None:
        # As the planning agent does: the sentence model runs off the event loop.
        await in_planner_thread(encoder.embed, ranked_texts(intent.text))
    explained = explain_plan(
        intent, runtime.tools, runtime.rank, settings.retry, max_steps=settings.max_steps
    )
    return web.json(plan_view(intent, explained, runtime.strategy))


@app.page("/dashboard")
async def dashboard(web: Any, request: Any) -> Any:
    return web.html(_PAGE)


_PAGE = (Path(__file__).with_name("dashboard.html")).read_text()
