"""The worker's web port against a real worker: HTTP API, MCP gateway, A2A agent, metrics.

One worker serves every test of this module (a worker takes 10-20 s to start); each test
uses its own intents. The dashboard's browser test is in test_dashboard.py.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.client import A2ACardResolver, ClientConfig, create_client
from a2a.helpers.proto_helpers import new_data_part, new_text_part
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    TaskState,
)
from mcp import Client
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families

from interfaces.client import ToolwiseClient
from streams.topics import ensure_topics
from tests.conftest import IN_CI
from tests.integration.conftest import Pipeline, Worker, free_port, get_json, make_pipeline

pytestmark = pytest.mark.integration

TOOLS = """
[servers.testing]
transport = "stdio"
command = ["python", "-m", "tools.servers.testing"]

[servers.calculator]
transport = "stdio"
command = ["python", "-m", "tools.servers.calculator"]

[servers.calculator.tools.evaluate]
cacheable = true
"""


@dataclass
class Web:
    pipeline: Pipeline
    worker: Worker
    base: str

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, timeout=60)


async def start_web_worker(
    kafka_bootstrap: str, redis_url: str, root: Path, **overrides: Any
) -> Web:
    """A worker with the testing and calculator tools and its web port, up and serving."""
    tools = root / "tools.toml"
    tools.write_text(TOOLS)
    pipeline = make_pipeline(
        kafka_bootstrap,
        redis_url,
        root,
        tools,
        # Planning is not what these tests are about: the words model plans in microseconds,
        # and a generous budget keeps a loaded CI machine from failing intents.
        text_model="words",
        planning_budget_s=10,
        progress_interval_s=0,
        **overrides,
    )
    await ensure_topics(pipeline.settings)
    port = free_port()
    worker = pipeline.start_worker(web_port=port)
    base = f"http://127.0.0.1:{port}"
    try:
        await get_json(f"{base}/api/tools", timeout_s=120)  # up, tools connected
    except OSError:
        worker.stop()
        raise AssertionError(f"the web port never answered\n{worker.log_tail()}") from None
    return Web(pipeline, worker, base)


@pytest.fixture(scope="module")
async def web(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Web]:
    started = await start_web_worker(
        kafka_bootstrap, redis_url, tmp_path_factory.mktemp("interfaces")
    )
    yield started
    code = started.worker.stop(timeout_s=30)
    assert code == 0, started.worker.log_tail()


async def until(check: Any, timeout_s: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        await asyncio.sleep(0.3)


# --- HTTP API -------------------------------------------------------------------------------


async def test_submit_and_wait_answers_the_outcome_and_get_shows_plan_and_attempts(
    web: Web,
) -> None:
    async with web.http() as http:
        body = {"text": "echo this", "tool": "testing.echo", "arguments": {"text": "hi"}}
        response = await http.post("/api/intents", params={"wait": 60}, json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["status"] == "completed"
        assert answer["outcome"]["results"][0]["output"]["text"] == "hi"
        intent_id = answer["intent_id"]
        assert answer["links"]["self"] == f"/api/intents/{intent_id}"

        async def seen() -> Any:
            view = (await http.get(f"/api/intents/{intent_id}")).json()
            return view if view["attempts"] and view["plan"] and view["steps"] else None

        view = await until(seen, what="plan, attempt and step of the intent")
        assert view["status"] == "completed"
        assert view["intent"]["text"] == "echo this"
        assert [s["tool"] for s in view["plan"]["steps"]] == ["testing.echo"]
        assert [(a["tool"], a["attempt"], a["ok"]) for a in view["attempts"]] == [
            ("testing.echo", 1, True)
        ]
        assert view["outcome"]["type"] == "IntentCompleted"


async def test_submit_without_wait_is_accepted_and_answered_later(web: Web) -> None:
    async with web.http() as http:
        response = await http.post(
            "/api/intents", json={"text": "6 * 7", "tool": "calculator.evaluate",
                                  "arguments": {"expression": "6 * 7"}},
        )  # fmt: skip
        assert response.status_code == 202, response.text
        intent_id = response.json()["intent_id"]

        async def done() -> Any:
            view = (await http.get(f"/api/intents/{intent_id}")).json()
            return view if view["status"] == "completed" else None

        view = await until(done, what="the outcome of an intent submitted without wait")
        assert view["outcome"]["results"][0]["output"]["result"] == 42


async def test_unknown_intents_and_bad_requests_are_answered_in_json_saying_what_to_do(
    web: Web,
) -> None:
    async with web.http() as http:
        cases = [
            ("GET", "/api/intents/no-such-intent", None, None, 404, "outcomes topic"),
            ("POST", "/api/intents", None, b"{not json", 400, "not JSON"),
            ("POST", "/api/intents", {"arguments": {}}, None, 422, "text"),
            ("POST", "/api/intents", [1, 2], None, 422, "JSON object"),
            ("POST", "/api/intents?wait=soon", {"text": "x"}, None, 400, "wait"),
            ("POST", "/api/intents?wait=100000", {"text": "x"}, None, 400, "between"),
            ("GET", "/api/recommend", None, None, 400, "text"),
            ("DELETE", "/api/tools", None, None, 405, "not allowed"),
            ("GET", "/nowhere", None, None, 404, "/api/openapi.json"),
        ]
        for method, path, body, raw, status, says in cases:
            response = await http.request(method, path, json=body, content=raw)
            answer = response.json()
            assert (response.status_code, answer["status"]) == (status, status), (path, answer)
            assert says in answer["error"], (path, answer)
        details = (await http.post("/api/intents", json={"text": ""})).json()["details"]
        assert details[0]["loc"] == ["text"]


async def test_openapi_document_is_valid_and_lists_every_resource(web: Web) -> None:
    document = await get_json(f"{web.base}/api/openapi.json")
    validate(document)
    assert {
        "/api/intents",
        "/api/intents/{intent_id}",
        "/api/intents/{intent_id}/events",
        "/api/intents/{intent_id}/cancel",
        "/api/tools",
        "/api/recommend",
        "/api/stats",
        "/api/content/{ref}",
        "/api/openapi.json",
    } <= set(document["paths"])
    schema = document["components"]["schemas"]["IntentSubmitted"]
    assert schema["required"] == ["text"]


async def test_tools_lists_every_registered_tool_and_what_was_learned(web: Web) -> None:
    async with web.http() as http:
        await http.post(
            "/api/intents",
            params={"wait": 60},
            json={"text": "x", "tool": "testing.echo", "arguments": {"text": "learn me"}},
        )

        async def learned() -> Any:
            tools = {t["name"]: t for t in (await http.get("/api/tools")).json()["tools"]}
            echo = tools["testing.echo"]
            return tools if echo["learned"] and echo["learned"]["calls"] >= 1 else None

        tools = await until(learned, what="testing.echo learned")
    assert {"testing.echo", "testing.count", "testing.sleep", "calculator.evaluate"} <= set(tools)
    assert tools["testing.fail"]["learned"] is None  # registered, never ran
    echo = tools["testing.echo"]
    assert echo["input_schema"]["properties"]["text"]["type"] == "string"
    assert 0 < echo["learned"]["success"] <= 1 and echo["learned"]["traffic_share"] > 0


# --- MCP gateway ----------------------------------------------------------------------------


async def test_the_mcp_gateway_lists_and_calls_tools_forwards_progress_and_records(
    web: Web,
) -> None:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async with Client(f"{web.base}/mcp") as mcp:
        listed = {tool.name: tool for tool in (await mcp.list_tools()).tools}
        assert {"toolwise_find_tools", "toolwise_run_intent", "testing.count"} <= set(listed)
        assert listed["testing.count"].input_schema["required"] == ["steps", "delay_s"]

        result = await mcp.call_tool(
            "testing.count",
            {"steps": 4, "delay_s": 0.3},
            progress_callback=on_progress,
            meta={"toolwise/intent": "count to four slowly"},
        )
        assert not result.is_error, result.content
        assert result.structured_content == {"steps": 4}
        assert [(d, t) for d, t, _ in progress] == [(1, 4), (2, 4), (3, 4), (4, 4)]
        assert progress[0][2] == "testing.count: step 1 of 4"
        intent_id = (result.meta or {})["toolwise/intent_id"]

        found = await mcp.call_tool("toolwise_find_tools", {"text": "evaluate 2 + 2", "k": 2})
        names = [t["name"] for t in (found.structured_content or {})["tools"]]
        assert names and names[0] == "calculator.evaluate"

        ran = await mcp.call_tool("toolwise_run_intent", {"text": "calculate 2 + 40"})
        assert not ran.is_error and "42" in ran.content[0].text  # type: ignore[union-attr]

        unknown = await mcp.call_tool("nope.nothing", {})
        assert unknown.is_error

    async with web.http() as http:  # on the topics: plan, attempt, progress, outcome

        async def recorded() -> Any:
            view = (await http.get(f"/api/intents/{intent_id}")).json()
            return view if view["attempts"] and view["progress"] else None

        view = await until(recorded, what="the gateway call's events")
        assert view["intent"]["text"] == "count to four slowly"
        assert view["intent"]["context"]["interface"] == "mcp"
        assert view["attempts"][0]["tool"] == "testing.count"
        assert view["progress"][0]["progress"] == 4.0  # the latest notification

        async def learned() -> Any:
            tools = {t["name"]: t for t in (await http.get("/api/tools")).json()["tools"]}
            return tools["testing.count"]["learned"]

        assert (await until(learned, what="testing.count learned"))["calls"] >= 1


# The MCP Inspector's command line, a client written apart from the Python SDK (TypeScript).
INSPECTOR = ["npx", "-y", "@modelcontextprotocol/inspector@2.12.0", "--cli"]


async def test_a_third_party_mcp_client_lists_and_calls_through_the_gateway(web: Web) -> None:
    if shutil.which("npx") is None:
        message = "npx is not installed (apt-get install npm): no third-party MCP client"
        if IN_CI:
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)

    async def inspector(*args: str) -> Any:
        proc = await asyncio.create_subprocess_exec(
            *INSPECTOR, f"{web.base}/mcp", "--transport", "http", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        # The first run downloads the package (~100 s here).
        out, err = await asyncio.wait_for(proc.communicate(), 400)
        assert proc.returncode == 0, err.decode()[-2000:]
        return json.loads(out)

    listed = await inspector("--method", "tools/list")
    assert {"toolwise_find_tools", "testing.echo"} <= {t["name"] for t in listed["tools"]}
    called = await inspector(
        "--method", "tools/call", "--tool-name", "testing.echo", "--tool-arg", "text=from-node"
    )
    assert called["isError"] is False
    assert called["structuredContent"]["text"] == "from-node"
    assert called["_meta"]["toolwise/intent_id"]


# --- A2A ------------------------------------------------------------------------------------


def _message(text: str, data: dict[str, Any] | None = None, tool: str | None = None) -> Message:
    parts = [new_text_part(text)]
    if data is not None:
        parts.append(new_data_part(data))
    message = Message(message_id=uuid.uuid4().hex, role=Role.ROLE_USER, parts=parts)
    if tool is not None:
        message.metadata.update({"toolwise/tool": tool})
    return message


async def test_a2a_card_send_stream_and_get_task(web: Web) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        card = await A2ACardResolver(http, web.base).get_agent_card()
    skills = {skill.id: skill for skill in card.skills}
    assert {"testing.count", "calculator.evaluate"} <= set(skills)
    assert card.capabilities.streaming
    assert card.supported_interfaces[0].url == f"{web.base}/a2a"

    client = await create_client(card, client_config=ClientConfig(streaming=True))
    states: list[str] = []
    said: list[str] = []
    artifacts = []
    request = SendMessageRequest(
        message=_message("count to three", {"steps": 3, "delay_s": 0.3}, "testing.count")
    )
    async for response in client.send_message(request):
        if response.HasField("status_update"):
            status = response.status_update.status
            states.append(TaskState.Name(status.state))
            said.extend(p.text for p in status.message.parts if p.HasField("text"))
        elif response.HasField("artifact_update"):
            artifacts.append(response.artifact_update.artifact)
        elif response.HasField("task"):
            task_id = response.task.id
    assert states[-1] == "TASK_STATE_COMPLETED", said
    assert "planned: testing.count" in said
    assert "testing.count: 1/3 step 1 of 3" in said
    assert any(s.startswith("testing.count done in") for s in said)
    (artifact,) = artifacts
    text = [p.text for p in artifact.parts if p.HasField("text")]
    assert text == ['{"steps": 3}']
    data = [p.data for p in artifact.parts if p.HasField("data")]
    assert data[0].struct_value.fields["type"].string_value == "IntentCompleted"

    task = await client.get_task(GetTaskRequest(id=task_id))
    assert TaskState.Name(task.status.state) == "TASK_STATE_COMPLETED"
    assert task.artifacts[0].name == "outcome"
    async with web.http() as http:  # the task id is the intent id; the context id its session
        view = (await http.get(f"/api/intents/{task_id}")).json()
    assert view["intent"]["context"]["session"] == task.context_id
    assert view["intent"]["arguments"] == {"steps": 3, "delay_s": 0.3}
    await client.close()


async def test_a2a_cancel_stops_the_running_call_and_records_the_cancellation(web: Web) -> None:
    client = await create_client(web.base, client_config=ClientConfig(streaming=False))
    request = SendMessageRequest(
        message=_message("sleep a long time", {"seconds": 120}, "testing.sleep"),
        configuration=SendMessageConfiguration(return_immediately=True),
    )
    async for response in client.send_message(request):
        task_id = response.task.id

    async with web.http() as http:

        async def running() -> Any:
            view = (await http.get(f"/api/intents/{task_id}")).json()
            return view if view.get("plan") else None

        await until(running, what="the sleep planned")
        await asyncio.sleep(1.0)  # the call is in flight on the tool server
        task = await client.cancel_task(CancelTaskRequest(id=task_id))
        assert TaskState.Name(task.status.state) == "TASK_STATE_CANCELED"

        async def answered() -> Any:
            view = (await http.get(f"/api/intents/{task_id}")).json()
            return view if view["outcome"] else None

        view = await until(answered, timeout_s=30, what="the cancelled intent's outcome")
    assert view["status"] == "cancelled"
    assert view["outcome"]["error_kind"] == "cancelled"
    assert view["cancellation"]["requested_by"] == "a2a"
    assert [(a["tool"], a["error_kind"]) for a in view["attempts"]] == [
        ("testing.sleep", "cancelled")
    ]
    assert view["attempts"][0]["latency_ms"] < 60_000  # stopped, not slept out
    stats = await _tool_stats(web)
    assert stats["sleeps_cancelled"] >= 1  # the MCP call was cancelled on the server too
    task = await client.get_task(GetTaskRequest(id=task_id))
    assert TaskState.Name(task.status.state) == "TASK_STATE_CANCELED"
    await client.close()


async def _tool_stats(web: Web) -> dict[str, Any]:
    async with web.http() as http:
        body = {"text": "stats", "tool": "testing.stats"}
        answer = (await http.post("/api/intents", params={"wait": 60}, json=body)).json()
    output: dict[str, Any] = answer["outcome"]["results"][0]["output"]
    return output


# --- Metrics --------------------------------------------------------------------------------


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_move_with_traffic_and_parse_as_prometheus_text(web: Web) -> None:
    async with web.http() as http:
        before = _samples((await http.get("/metrics")).text)
        body = {"text": "x", "tool": "testing.echo", "arguments": {"text": "count me"}}
        for _ in range(3):
            answer = await http.post("/api/intents", params={"wait": 60}, json=body)
            assert answer.json()["status"] == "completed"
        async with ToolwiseClient(web.pipeline.settings) as kafka:
            await kafka.publish_raw("intents", b"{not json", key=b"bad-1")

        async def moved() -> Any:
            after = _samples((await http.get("/metrics")).text)
            dead = after.get(("toolwise_dead_letters_total", (("reason", "malformed_json"),)))
            return after if dead else None

        after = await until(moved, what="the dead letter counted")

    def grew(name: str, labels: dict[str, str], by: float) -> bool:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0) >= by

    assert grew("toolwise_intents_total", {}, 3)  # the unreadable record is a dead letter only
    assert grew("toolwise_outcomes_total", {"status": "completed", "error_kind": "none"}, 3)
    assert grew("toolwise_tool_attempts_total", {"tool": "testing.echo", "result": "ok"}, 3)
    assert grew("toolwise_tool_latency_seconds_count", {"tool": "testing.echo"}, 3)
    assert grew("toolwise_intent_latency_seconds_count", {}, 3)
    assert ("toolwise_worker_loop_stalls_total", ()) in after
    assert ("toolwise_worker_consumer_lag", (("topic", "intents"),)) in after
    assert not any("intent_id" in dict(labels) for _, labels in after)
