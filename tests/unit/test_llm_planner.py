"""The LLM planner against a local HTTP server that speaks the chat-completions API.

Every bad answer (malformed JSON, unknown tools, wrong argument types, timeouts, 429s)
must fall back to the built-in planner with the reason recorded on the plan.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from mcp.types import ImageContent

from agents.llm_client import HttpChatClient, retry_after_s
from agents.llm_planner import LLM_STRATEGY, LlmPlanner, LlmPolicy
from agents.llm_prompt import SYSTEM_PROMPT, function_names
from agents.plan_builder import keyword_ranker
from agents.planners import Planned, builtin_steps
from models import ErrorKind, ExecutionRecorded, IntentSubmitted, RetryPolicy, ToolSpec
from models.content import part_from_bytes
from models.planning import PLANNER_TOOL
from tests.llm_server import Reply, ScriptedChatServer, completion, scripted_chat_server
from tools.content import mcp_form
from tools.samples import sample_image

CALC = ToolSpec(
    name="calculator.evaluate",
    server="calculator",
    tool="evaluate",
    description="Evaluate an arithmetic expression.",
    input_schema={
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
    patterns=(r"(?P<expression>[-+*/().\d\s^%]*\d[-+*/().\d\s^%]*)",),
    keywords=("calculate", "compute"),
    read_only=True,  # the planner may choose it unnamed
    open_world=False,
)
UNITS = ToolSpec(
    name="units.convert",
    server="units",
    tool="convert",
    description="Convert a value between units of measure.",
    input_schema={
        "type": "object",
        "properties": {
            "value": {"type": "number"},
            "from_unit": {"type": "string"},
            "to_unit": {"type": "string"},
        },
        "required": ["value", "from_unit", "to_unit"],
    },
    patterns=(
        r"(?P<value>-?\d+(?:\.\d+)?)\s*(?P<from_unit>[a-zA-Z]+)\s+to\s+(?P<to_unit>[a-zA-Z]+)",
    ),
    keywords=("convert",),
    read_only=True,  # the planner may choose it unnamed
    open_world=False,
)
IMAGES = ToolSpec(
    name="images.metadata",
    server="images",
    tool="metadata",
    description="Width, height and format of an image.",
    input_schema={
        "type": "object",
        "properties": {"image": ImageContent.model_json_schema(), "detail": {"type": "boolean"}},
        "required": ["image"],
    },
    keywords=("image", "size"),
    read_only=True,  # the planner may choose it unnamed
    open_world=False,
)
TOOLS = {t.name: t for t in (CALC, UNITS, IMAGES)}
CONVERT = IntentSubmitted(intent_id="i1", text="convert 5 km to mi")
FAST_RETRY = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.05)


class Harness:
    def __init__(self, server: ScriptedChatServer, **policy: Any) -> None:
        self.server = server
        self.records: list[ExecutionRecorded] = []
        self.sleeps: list[float] = []
        fields: dict[str, Any] = {
            "model": "test-model",
            "top_k": 2,
            "timeout_s": 5.0,
            "retry": FAST_RETRY,
            "prompt_price_per_1k": 0.5,
            "completion_price_per_1k": 2.0,
            **policy,
        }
        self.planner = LlmPlanner(
            HttpChatClient(server.base_url, "sk-test"),
            TOOLS,
            keyword_ranker,
            LlmPolicy(**fields),
            "builtin-keyword",
            record=self.records.append,
            sleep=self._sleep,
        )

    async def plan(self, intent: IntentSubmitted) -> Planned:
        return await self.planner.plan(intent, builtin_steps(TOOLS, keyword_ranker, RetryPolicy()))

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[Any] = []

    def start(*replies: Reply) -> ScriptedChatServer:
        context = scripted_chat_server(*replies)
        servers.append(context)
        return context.__enter__()

    yield start
    for context in servers:
        context.__exit__(None, None, None)


@pytest.fixture
async def closing() -> AsyncIterator[list[Harness]]:
    made: list[Harness] = []
    yield made
    for harness in made:
        await harness.planner.aclose()


def harness(closing: list[Harness], server: ScriptedChatServer, **policy: Any) -> Harness:
    made = Harness(server, **policy)
    closing.append(made)
    return made


async def test_a_valid_answer_becomes_the_plan_with_its_tokens_as_cost(
    serve: Any, closing: list[Harness]
) -> None:
    server = serve(completion(("units_convert", {"value": 5, "from_unit": "km", "to_unit": "mi"})))
    h = harness(closing, server)
    planned = await h.plan(CONVERT)

    assert planned.strategy == LLM_STRATEGY
    [step] = planned.steps
    assert step.tool == "units.convert" and step.step_id == "i1:0"
    assert step.arguments == {"value": 5, "from_unit": "km", "to_unit": "mi"}
    record = planned.record
    assert record is not None and record.planner == "llm" and record.fallback_reason is None
    assert (record.prompt_tokens, record.completion_tokens, record.usage_reported) == (
        120,
        18,
        True,
    )
    assert record.cost == pytest.approx((120 * 0.5 + 18 * 2.0) / 1000)
    assert record.attempts == 1 and record.model == "test-model"

    [request] = server.requests
    assert request["model"] == "test-model" and request["tool_choice"] == "required"
    assert request["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert "convert 5 km to mi" in request["messages"][1]["content"]
    offered = [t["function"]["name"] for t in request["tools"]]
    assert len(offered) == 2 and "units_convert" in offered  # only the top k
    names = function_names(list(TOOLS.values()))
    assert record.tools_offered == [names[o] for o in offered]
    assert server.headers[0]["Authorization"] == "Bearer sk-test"

    [execution] = h.records
    assert execution.tool == PLANNER_TOOL and execution.tool_version == "test-model"
    assert execution.ok and execution.cost == pytest.approx(record.cost)
    assert execution.intent_text == ""  # learning must not tie the intent's words to it


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(body="{not json"), "the response body is not JSON"),
        (completion(("units_convert", '{"value": 5, "from_unit": ')), "malformed JSON in the arg"),
        (completion(("weather_get", {"city": "Paris"})), "unknown tool 'weather_get'"),
        (
            completion(("units_convert", {"value": "five", "from_unit": "km", "to_unit": "mi"})),
            "arguments for units.convert do not match its schema: value: 'five' is not of type",
        ),
        (completion(("units_convert", {"value": 5})), "'from_unit' is a required property"),
        (completion(("units_convert", [5, "km"])), "are a list, not an object"),
        (completion(content="5 km is 3.1 miles."), "answered without calling a tool: '5 km is"),
        (Reply(body={"object": "chat.completion"}), "malformed response: no choices"),
        (Reply(401, {"error": {"message": "bad key"}}), "check TOOLWISE_LLM_API_KEY"),
        (Reply(404, {"error": "no such route"}), "check TOOLWISE_LLM_BASE_URL"),
    ],
)
async def test_an_unusable_answer_falls_back_to_the_builtin_plan_with_the_reason(
    serve: Any, closing: list[Harness], reply: Reply, reason: str
) -> None:
    server = serve(reply)
    h = harness(closing, server)
    planned = await h.plan(CONVERT)
    assert planned.strategy == "builtin-keyword"
    [step] = planned.steps  # the built-in planner's
    assert step.tool == "units.convert" and step.arguments["value"] == 5.0
    assert planned.record is not None and planned.record.planner == "builtin"
    assert reason in (planned.record.fallback_reason or "")
    assert len(server.requests) == 1  # none of these is retried
    [execution] = h.records
    assert not execution.ok and execution.error_kind is ErrorKind.TOOL_ERROR


async def test_an_answer_that_fails_validation_still_counts_its_tokens(
    serve: Any, closing: list[Harness]
) -> None:
    h = harness(closing, serve(completion(("weather_get", {}), usage=(300, 12))))
    planned = await h.plan(CONVERT)
    assert planned.record is not None and planned.record.prompt_tokens == 300
    assert planned.record.cost > 0 and h.records[0].cost == planned.record.cost


async def test_timeouts_are_retried_then_fall_back(serve: Any, closing: list[Harness]) -> None:
    server = serve(Reply(body={}, delay_s=1.0))
    h = harness(
        closing, server, timeout_s=0.2, retry=FAST_RETRY.model_copy(update={"max_attempts": 2})
    )
    planned = await h.plan(CONVERT)
    assert planned.record is not None
    assert "no response from" in (planned.record.fallback_reason or "")
    assert "within 0.2 s" in (planned.record.fallback_reason or "")
    assert [r.error_kind for r in h.records] == [ErrorKind.TIMEOUT, ErrorKind.TIMEOUT]
    assert len(h.sleeps) == 1 and 0 <= h.sleeps[0] <= 0.01  # full jitter, first cap 0.01 s
    assert h.records[0].backoff_s == h.sleeps[0] and planned.steps[0].tool == "units.convert"


async def test_a_429_waits_as_long_as_retry_after_says(serve: Any, closing: list[Harness]) -> None:
    good = completion(("units_convert", {"value": 5, "from_unit": "km", "to_unit": "mi"}))
    server = serve(Reply(429, {"error": "slow down"}, {"Retry-After": "2"}), good)
    h = harness(closing, server, deadline_s=10.0)
    planned = await h.plan(CONVERT)
    assert planned.strategy == LLM_STRATEGY and len(server.requests) == 2
    assert h.sleeps == [2.0]  # longer than the jittered backoff (at most 0.01 s)
    assert [r.error_kind for r in h.records] == [ErrorKind.TRANSIENT, None]
    assert "rate limited" in (h.records[0].error or "")
    assert planned.record is not None and planned.record.attempts == 2


async def test_a_429_asking_to_wait_past_the_deadline_falls_back_at_once(
    serve: Any, closing: list[Harness]
) -> None:
    server = serve(Reply(429, {"error": "quota"}, {"Retry-After": "120"}))
    h = harness(closing, server, deadline_s=5.0)
    started = time.monotonic()
    planned = await h.plan(CONVERT)
    assert time.monotonic() - started < 2.0 and h.sleeps == [] and len(server.requests) == 1
    assert planned.record is not None
    assert "past the planning deadline" in (planned.record.fallback_reason or "")


async def test_server_errors_are_retried(serve: Any, closing: list[Harness]) -> None:
    good = completion(("calculator_evaluate", {"expression": "2*21"}))
    server = serve(Reply(503, {"error": "overloaded"}), good)
    h = harness(closing, server)
    planned = await h.plan(IntentSubmitted(text="calculate 2*21"))
    assert planned.strategy == LLM_STRATEGY and planned.steps[0].tool == "calculator.evaluate"
    assert len(server.requests) == 2


async def test_the_deadline_bounds_all_attempts(serve: Any, closing: list[Harness]) -> None:
    server = serve(Reply(body={}, delay_s=2.0))
    h = harness(closing, server, timeout_s=5.0, deadline_s=0.3)
    started = time.monotonic()
    planned = await h.plan(CONVERT)
    assert time.monotonic() - started < 1.5
    assert planned.record is not None
    assert "within the 0.3 s deadline" in (planned.record.fallback_reason or "")
    assert h.records[0].error_kind is ErrorKind.TIMEOUT


async def test_a_server_without_usage_reports_costs_nothing(
    serve: Any, closing: list[Harness]
) -> None:
    reply = completion(
        ("units_convert", {"value": 5, "from_unit": "km", "to_unit": "mi"}), usage=None
    )
    h = harness(closing, serve(reply))
    planned = await h.plan(CONVERT)
    assert planned.record is not None and not planned.record.usage_reported
    assert planned.record.cost == 0.0 and planned.strategy == LLM_STRATEGY


async def test_an_intent_that_names_its_tool_is_not_sent_to_the_model(
    serve: Any, closing: list[Harness]
) -> None:
    server = serve()
    h = harness(closing, server)
    intent = IntentSubmitted(text="x", tool="calculator.evaluate", arguments={"expression": "1"})
    planned = await h.plan(intent)
    assert server.requests == [] and planned.record is None
    assert planned.steps[0].tool == "calculator.evaluate"


async def test_the_model_never_sees_bytes_and_the_tool_still_gets_the_image(
    serve: Any, closing: list[Harness]
) -> None:
    image = part_from_bytes(sample_image(40, 30), "image/png")
    server = serve(completion(("images_metadata", {"detail": True})))
    h = harness(closing, server)
    intent = IntentSubmitted(text="what size is this image", content=[image])
    planned = await h.plan(intent)
    assert planned.strategy == LLM_STRATEGY
    assert planned.steps[0].arguments == {"detail": True, "image": mcp_form(image)}
    [request] = server.requests
    [images] = [t for t in request["tools"] if t["function"]["name"] == "images_metadata"]
    assert set(images["function"]["parameters"]["properties"]) == {"detail"}
    assert "image (image/png," in request["messages"][1]["content"]
    assert image.data is not None and image.data[:40] not in str(request)


async def test_the_intents_own_arguments_win_over_the_models(
    serve: Any, closing: list[Harness]
) -> None:
    reply = completion(("units_convert", {"value": 50, "from_unit": "km", "to_unit": "mi"}))
    h = harness(closing, serve(reply))
    intent = IntentSubmitted(text="convert 5 km to mi", arguments={"value": 5})
    planned = await h.plan(intent)
    assert planned.steps[0].arguments["value"] == 5


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_s("3") == 3.0 and retry_after_s(" 0.5 ") == 0.5
    assert retry_after_s(None) is None and retry_after_s("soon") is None
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_s(date, now=now) == pytest.approx(30.0)
    assert retry_after_s(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


def test_function_names_are_what_openai_accepts_and_unique() -> None:
    a = ToolSpec(name="a.b", server="a", tool="b")
    b = ToolSpec(name="a_b.x", server="a_b", tool="x")
    c = ToolSpec(name="a.b" + "x" * 100, server="a", tool="b" + "x" * 100)
    names = function_names([a, b, c, ToolSpec(name="a-b", server="a-b", tool="")])
    assert list(names.values()) == ["a.b", "a_b.x", c.name, "a-b"]
    assert all(len(n) <= 64 and n.replace("_", "").replace("-", "").isalnum() for n in names)


def test_the_llm_strategy_needs_a_server_and_takes_its_policy_from_settings() -> None:
    from pydantic import ValidationError

    from agents.llm_planner import llm_planner
    from streams.settings import Settings

    with pytest.raises(ValidationError, match="needs TOOLWISE_LLM_BASE_URL"):
        Settings(planner_strategy="llm")
    settings = Settings(
        planner_strategy="llm",
        llm_base_url="http://127.0.0.1:9/v1",
        llm_api_key="sk-secret",
        llm_model="qwen2.5:7b",
        llm_timeout_s=3,
        recommend_top_k=4,
        llm_prompt_price_per_1k=0,
    )
    assert "sk-secret" not in repr(settings)
    planner = llm_planner(settings, TOOLS, keyword_ranker, "learned", lambda _r: None)
    assert isinstance(planner.client, HttpChatClient)
    assert planner.client.base_url == "http://127.0.0.1:9/v1/"
    assert (planner.policy.model, planner.policy.top_k, planner.policy.timeout_s) == (
        "qwen2.5:7b", 4, 3.0,
    )  # fmt: skip
    assert planner.policy.retry == settings.retry and planner.policy.prompt_price_per_1k == 0
    assert planner.policy.max_steps == 8 and planner.fallback_strategy == "learned"


async def test_the_sentence_model_runs_off_the_event_loop(
    serve: Any, closing: list[Harness]
) -> None:
    import threading

    threads: list[tuple[int, list[str]]] = []

    def embed(texts: list[str]) -> None:
        threads.append((threading.get_ident(), texts))

    h = harness(closing, serve(completion(("calculator_evaluate", {"expression": "1+1"}))))
    h.planner.embed = embed
    await h.plan(IntentSubmitted(text="calculate 1+1"))
    [(thread, texts)] = threads
    assert texts == ["calculate 1+1"] and thread != threading.get_ident()


async def test_only_admitted_tools_are_offered(serve: Any, closing: list[Harness]) -> None:
    server = serve(completion(("units_convert", {"value": 5, "from_unit": "km", "to_unit": "mi"})))
    h = harness(closing, server, top_k=3)
    h.planner.admit = lambda spec: spec.name != "calculator.evaluate"
    planned = await h.plan(CONVERT)
    offered = {t["function"]["name"] for t in server.requests[0]["tools"]}
    assert "calculator_evaluate" not in offered and "units_convert" in offered
    assert planned.record is not None and "calculator.evaluate" not in planned.record.tools_offered
