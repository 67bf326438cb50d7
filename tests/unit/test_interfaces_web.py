"""The web port's pieces without a broker: token, errors, the API over a fake producer, the
intent index, live stats, metrics' labels, and what MCP and A2A make of intents and outcomes."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from a2a.helpers.proto_helpers import new_data_part, new_raw_part, new_text_part
from a2a.server.agent_execution import RequestContext
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import Message, Role, SendMessageRequest
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr, ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from interfaces import api
from interfaces.a2a_agent import intent_of
from interfaces.api.openapi import document
from interfaces.auth import BearerAuth
from interfaces.livestats import LiveStats, SeriesPolicy
from interfaces.metrics import BoundedLabel, Metrics
from interfaces.outcome_view import mcp_result
from interfaces.watch import IndexPolicy, IntentWatch
from interfaces.web_errors import EXCEPTION_HANDLERS, BadRequest, NotFound, Unprocessable
from interfaces.webcontext import WebContext
from models import (
    DeadLettered,
    ExecutionRecorded,
    IntentCompleted,
    IntentFailed,
    IntentSubmitted,
    MediaContent,
    PlanCreated,
    PlanStep,
    StepResult,
    ToolCallProgressed,
)
from models.content import reference_for
from streams.settings import Settings


def completed(intent_id: str, output: Any = "ok", **fields: Any) -> IntentCompleted:
    step = StepResult(step_id=f"{intent_id}:0", tool="t.a", ok=True, output=output)
    return IntentCompleted(
        event_id=f"outcome:{intent_id}", intent_id=intent_id, results=[step], **fields
    )


# --- settings and token ---------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "toolwise.example"])
def test_a_web_port_open_beyond_loopback_needs_a_token(host: str) -> None:
    with pytest.raises(ValidationError, match="TOOLWISE_WEB_TOKEN"):
        Settings(web_host=host)
    assert Settings(web_host=host, web_token=SecretStr("s3cret")).web_host == host
    Settings(web_host=host, web_enabled=False)  # no port, nothing to protect


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_token(host: str) -> None:
    assert Settings(web_host=host).web_token is None


def _guarded(token: str | None) -> Starlette:
    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [Route("/api/x", ok), Route("/dashboard", ok)]
    return Starlette(routes=routes, middleware=[Middleware(BearerAuth, token=token)])


async def test_the_token_is_required_as_a_bearer_header_or_the_dashboards_cookie() -> None:
    transport = httpx.ASGITransport(app=_guarded("s3cret"))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        refused = await http.get("/api/x")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "Authorization: Bearer" in refused.json()["error"]
        assert (
            await http.get("/api/x", headers={"Authorization": "Bearer nope"})
        ).status_code == 401
        ok = await http.get("/api/x", headers={"Authorization": "Bearer s3cret"})
        assert ok.text == "ok"
        assert (await http.get("/dashboard?token=nope")).status_code == 401
        login = await http.get("/dashboard?token=s3cret")
        assert login.status_code == 303 and "HttpOnly" in login.headers["set-cookie"]
        assert (await http.get("/api/x")).text == "ok"  # the client kept the cookie
    transport = httpx.ASGITransport(app=_guarded(None))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/api/x")).text == "ok"


# --- errors ---------------------------------------------------------------------------------


async def test_every_error_is_json_with_a_status() -> None:
    async def bad(request: Request) -> Response:
        raise BadRequest("change ?x=")

    async def missing(request: Request) -> Response:
        raise NotFound("look in the topic")

    async def invalid(request: Request) -> Response:
        raise Unprocessable("text is required", [{"loc": ["text"]}])

    async def broken(request: Request) -> Response:
        raise RuntimeError("secret internals")

    app = Starlette(
        routes=[Route("/bad", bad), Route("/missing", missing), Route("/invalid", invalid),
                Route("/broken", broken)],
        exception_handlers=EXCEPTION_HANDLERS,
    )  # fmt: skip
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        for path, method, status, says in [
            ("/bad", "GET", 400, "change ?x="),
            ("/missing", "GET", 404, "look in the topic"),
            ("/invalid", "GET", 422, "text is required"),
            ("/broken", "GET", 500, "worker's log"),
            ("/nowhere", "GET", 404, "/api/openapi.json"),
            ("/bad", "POST", 405, "POST is not allowed"),
        ]:
            response = await http.request(method, path)
            body = response.json()
            assert (response.status_code, body["status"]) == (status, status), path
            assert says in body["error"], body
            assert "secret internals" not in response.text
        assert (await http.get("/invalid")).json()["details"] == [{"loc": ["text"]}]


# --- the API over a fake producer -----------------------------------------------------------


def _api(publish: Any, watch: IntentWatch) -> Starlette:
    app = Starlette(routes=api.routes(), exception_handlers=EXCEPTION_HANDLERS)
    app.state.toolwise = WebContext(Settings(), publish, watch, LiveStats())
    return app


async def test_post_waits_for_the_outcome_the_feed_brings_and_get_shows_it() -> None:
    watch = IntentWatch()
    published: list[tuple[str, bytes]] = []

    async def publish(suffix: str, key: bytes, value: bytes) -> None:
        published.append((suffix, value))
        intent = IntentSubmitted.model_validate_json(value)

        async def worker() -> None:  # what the pipeline and the feed would do
            await asyncio.sleep(0.05)
            watch.observe(intent, len(value))
            watch.observe(completed(intent.intent_id, {"n": 42}), 100)

        asyncio.get_running_loop().create_task(worker())

    transport = httpx.ASGITransport(app=_api(publish, watch))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        answer = await http.post("/api/intents?wait=5", json={"text": "do", "intent_id": "i-1"})
        assert answer.status_code == 200
        assert answer.json()["outcome"]["results"][0]["output"] == {"n": 42}
        assert published[0][0] == "intents"
        view = (await http.get("/api/intents/i-1")).json()
        assert (view["status"], view["intent"]["text"]) == ("completed", "do")

        async def never(suffix: str, key: bytes, value: bytes) -> None:
            return None

    transport = httpx.ASGITransport(app=_api(never, IntentWatch()))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        started = time.monotonic()
        late = await http.post("/api/intents?wait=0.3", json={"text": "do"})
        assert late.status_code == 202 and late.json()["status"] == "submitted"
        assert time.monotonic() - started < 3


async def test_cancel_publishes_a_cancellation_unless_the_intent_is_answered() -> None:
    watch = IntentWatch()
    watch.observe(completed("done"), 10)
    published: list[tuple[str, bytes, bytes]] = []

    async def publish(suffix: str, key: bytes, value: bytes) -> None:
        published.append((suffix, key, value))

    transport = httpx.ASGITransport(app=_api(publish, watch))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.post("/api/intents/done/cancel")).json()["cancelled"] is False
        answer = await http.post("/api/intents/running/cancel?reason=too+slow")
        assert answer.status_code == 202
    ((suffix, key, value),) = published
    assert (suffix, key) == ("cancellations", b"running")
    assert json.loads(value)["reason"] == "too slow"


def test_the_openapi_document_is_valid_with_and_without_a_token() -> None:
    validate(document(Settings()))
    secured = document(Settings(web_token=SecretStr("x")))
    validate(secured)
    assert secured["security"] == [{"bearer": []}]


# --- the intent index -----------------------------------------------------------------------


def test_the_index_folds_an_intents_events_and_forgets_the_oldest() -> None:
    watch = IntentWatch(IndexPolicy(max_intents=3, max_bytes=1000))
    step = PlanStep(step_id="a:0", index=0, tool="t.a")
    watch.observe(IntentSubmitted(intent_id="a", text="first"), 10)
    watch.observe(PlanCreated(intent_id="a", steps=[step]), 10)
    record = watch.observe(
        ToolCallProgressed(intent_id="a", call_id="a:0", tool="t.a", progress=1, total=2), 10
    )
    assert record.status() == "running"
    watch.observe(completed("a"), 10)
    watch.observe(completed("a", "again"), 10)  # a re-sent outcome does not replace the first
    view = watch.get("a").view()  # type: ignore[union-attr]
    assert (view["status"], view["outcome"]["results"][0]["output"]) == ("completed", "ok")
    for name in "bcd":
        watch.observe(IntentSubmitted(intent_id=name, text=name), 10)
    assert watch.get("a") is None and len(watch) == 3  # over max_intents
    watch.observe(IntentSubmitted(intent_id="big", text="x"), 995)  # 1,025 > max_bytes
    assert [r.intent_id for r in watch.recent(10)] == ["big"]


async def test_a_waiter_gets_events_until_the_outcome_and_an_early_outcome_at_once() -> None:
    watch = IntentWatch(IndexPolicy(waiter_queue=2))

    def progress(n: int) -> ToolCallProgressed:
        return ToolCallProgressed(intent_id="i", call_id="c", tool="t", progress=n)

    with watch.subscription("i") as queue:
        waiting = watch.events(queue, "i", 1.0)
        watch.observe(progress(0), 10)
        first = await anext(waiting)  # the waiter is in, the outcome not known yet
        for n in range(1, 6):  # more progress than a slow waiter's queue holds
            watch.observe(progress(n), 10)
        watch.observe(IntentFailed(intent_id="i", reason="no"), 10)
        rest = [e async for e in waiting]
    assert isinstance(first, ToolCallProgressed)
    assert isinstance(rest[-1], IntentFailed)  # the outcome always gets through
    assert await watch.outcome("i", 0.01) == rest[-1]  # known already: no wait
    assert await watch.outcome("unknown", 0.05) is None


# --- live stats -----------------------------------------------------------------------------


def test_live_stats_chart_outcomes_by_event_time_with_percentiles() -> None:
    stats = LiveStats(SeriesPolicy(bucket_s=5, window_s=60, rate_window_s=10))
    now = time.time()
    for n in range(100):
        stats.on_outcome(
            completed(f"i{n}", latency_ms=float(n + 1), occurred_at=now - 2, cost=0.01)
        )
    stats.on_outcome(IntentFailed(intent_id="f", reason="x", occurred_at=now - 30))
    stats.on_outcome(completed("old", occurred_at=now - 3600))  # counted, not charted
    stats.on_dead_letter(
        DeadLettered(reason="bad", error_kind="malformed_json", source_topic="t",
                     partition=0, offset=7, raw_b64="", raw_size=3)
    )  # fmt: skip
    view = stats.snapshot(now)
    assert view["outcomes"] == {"IntentCompleted": 101, "IntentFailed": 1}
    assert len(view["series"]) == 12
    last = [p for p in view["series"] if p["completed"]][-1]
    assert (last["completed"], last["p50_ms"], last["p99_ms"]) == (100, 50.5, 99.0)
    assert view["success_rate"] == round(100 / 101, 4)
    assert view["intents_per_s"] == 10.0  # 100 outcomes in the last 10 s
    assert view["spend"]["window"] == 1.0
    assert view["recent_dead_letters"][0]["source"] == "t[0]@7"


# --- metrics --------------------------------------------------------------------------------


def test_labels_are_bounded_and_records_before_the_start_are_not_counted() -> None:
    label = BoundedLabel(limit=2)
    assert [label(v) for v in ["a", "b", "c", "a", "", "x y", None]] == [
        "a", "b", "other", "a", "none", "other", "none"
    ]  # fmt: skip
    metrics = Metrics(started=1000.0)
    record = ExecutionRecorded(
        intent_id="i", call_id="c", tool="t.a", attempt=2, ok=True, started_at=0, latency_ms=5
    )
    metrics.observe(record, published_at=999.0)
    metrics.observe(record, published_at=1001.0)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for s in family.samples
    }
    assert samples[("toolwise_tool_attempts_total", (("result", "ok"), ("tool", "t.a")))] == 1
    assert samples[("toolwise_tool_retries_total", (("tool", "t.a"),))] == 1


# --- what MCP and A2A make of outcomes and messages -----------------------------------------


def test_an_outcome_as_an_mcp_result() -> None:
    ref = reference_for(b"not a png", "image/png")
    image = MediaContent(type="image", mimeType="image/png", ref=ref)
    outcome = completed("i", {"x": 1}).model_copy(
        update={"results": [StepResult(step_id="i:0", tool="t", ok=True, output={"x": 1},
                                       content=[image])]}
    )  # fmt: skip
    result = mcp_result(outcome)
    assert result["structuredContent"] == {"x": 1} and result["isError"] is False
    assert result["content"][0] == {"type": "text", "text": '{"x": 1}'}
    assert result["content"][1]["type"] == "resource_link"
    assert result["content"][1]["uri"] == ref.uri
    failed = mcp_result(IntentFailed(intent_id="i", reason="boom", error_kind="timeout"))
    assert failed["isError"] and "timeout" in failed["content"][0]["text"]


def test_an_a2a_message_becomes_an_intent() -> None:
    parts = [
        new_text_part("resize this"),
        new_data_part({"max_side": 64, "nested": {"n": 2.0, "f": 0.5}}),
        new_raw_part(b"\x89PNG\r\n\x1a\n" + b"0" * 20, "image/png"),
    ]
    message = Message(message_id=uuid.uuid4().hex, role=Role.ROLE_USER, parts=parts)
    message.metadata.update({"toolwise/tool": "images.thumbnail"})
    context = RequestContext(ServerCallContext(), SendMessageRequest(message=message))
    intent = intent_of(context, "task-1", "ctx-1")
    assert (intent.intent_id, intent.text, intent.tool) == ("task-1", "resize this",
                                                            "images.thumbnail")  # fmt: skip
    assert intent.arguments == {"max_side": 64, "nested": {"n": 2, "f": 0.5}}
    assert intent.context == {"session": "ctx-1", "interface": "a2a"}
    assert intent.content[0].mime_type == "image/png"  # type: ignore[union-attr]
    empty = Message(message_id="m", role=Role.ROLE_USER, parts=[new_data_part({"a": 1})])
    with pytest.raises(ValueError, match="text part"):
        intent_of(RequestContext(ServerCallContext(), SendMessageRequest(message=empty)), "t", "c")
