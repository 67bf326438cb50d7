"""Hostile and unlucky input on a real worker: every record ends in its effect, a dead letter or an
answer, and no record stops the worker."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from interfaces.client import ToolwiseClient, tail
from interfaces.process import spawn_worker
from models import IntentCompleted, IntentFailed, IntentSubmitted
from tests.integration.conftest import Pipeline, PipelineFactory, free_port, get_json

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parent / "data"


def raw_intent(intent_id: str, body: str) -> tuple[str, bytes]:
    return intent_id, ('{"intent_id": "' + intent_id + '", ' + body + "}").encode()


async def test_short_valid_hostile_inputs_are_answered_and_the_worker_keeps_serving(
    running_pipeline: Pipeline,
) -> None:
    pipeline = running_pipeline
    settings = pipeline.settings
    run = uuid.uuid4().hex[:8]
    longest = (run + "L" * 200)[:200]
    good = [
        IntentSubmitted(intent_id=longest, text="calculate 1 + 2"),
        IntentSubmitted(
            intent_id=longest[:-1] + "N",
            text="t",
            tool="calculator.evaluate",
            arguments={"expression": "2 * 3"},
        ),
    ]
    deep = "[" * 5000 + "]" * 5000
    hostile: dict[str, tuple[bytes, str]] = {}
    for name, body, kind in [
        ("huge-number", '"text": "x", "max_cost": 1e400', "non_finite_number"),
        ("infinity", '"text": "x", "arguments": {"a": Infinity}', "non_finite_number"),
        ("deep", f'"text": "x", "arguments": {{"a": {deep}}}', "too_deep"),
        (
            "overflowing-backoff",
            '"text": "x", "policy": {"multiplier": 1e300, "max_attempts": 20}',
            "schema_violation",
        ),
        ("oversized", '"text": "x", "arguments": {"blob": "' + "a" * 6_000_000 + '"}', "oversized"),
        (
            "many-requests",
            '"text": "' + " and ".join(f"add {n}" for n in range(1111)) + '"',
            "too_many_steps",
        ),
        (
            "large-arguments",
            '"text": "t", "tool": "testing.echo", "arguments": {"text": "' + "b" * 300_000 + '"}',
            "arguments_too_large",
        ),
    ]:
        intent_id, raw = raw_intent(f"{run}-{name}", body)
        hostile[intent_id] = (raw, kind)

    async with ToolwiseClient(settings) as client:
        for raw, _kind in hostile.values():
            key = json.loads(raw[: raw.index(b",")] + b"}")["intent_id"]
            await client.publish_raw("intents", raw, key=key.encode())
        for intent in good:
            await client.submit(intent)
        ids = [*hostile, *(i.intent_id for i in good)]
        outcomes = await pipeline.outcomes(client, ids)
        after = await pipeline.run(client, IntentSubmitted(text="calculate 40 + 2"))

    for intent in good:
        assert isinstance(outcomes[intent.intent_id], IntentCompleted), outcomes[intent.intent_id]
    for intent_id, (_raw, kind) in hostile.items():
        outcome = outcomes[intent_id]
        assert isinstance(outcome, IntentFailed), outcome
        assert outcome.error_kind == kind, (intent_id, outcome.reason)
    assert isinstance(after, IntentCompleted) and after.results[0].output["result"] == 42
    assert all(w.proc.poll() is None for w in pipeline.workers), pipeline.logs()

    letters = [
        r["value"]
        async for r in tail(settings, "dead-letters", from_beginning=True, idle_timeout_s=3.0)
    ]
    by_key = {letter["key"]: letter for letter in letters}
    for intent_id, (raw, kind) in hostile.items():
        letter = by_key[intent_id]
        assert letter["error_kind"] == kind and letter["reason"]
        assert letter["raw_size"] == len(raw)
    big = by_key[f"{run}-oversized"]
    assert big["raw_truncated"] and len(big["raw_b64"]) < 100_000 and big["raw_sha256"]


async def test_a_record_that_kills_the_worker_is_set_aside_after_two_deaths(
    pipeline_factory: PipelineFactory,
) -> None:
    pipeline = pipeline_factory(tools_config=DATA / "tools-crash.toml")
    from streams.topics import ensure_topics

    await ensure_topics(pipeline.settings)
    intent = IntentSubmitted(text="x", tool="crash.kill_worker", arguments={"text": "boom"})
    env = {**pipeline.env, "TOOLWISE_DATADIR": str(pipeline.root / "data")}
    log = pipeline.root / "worker.log"
    async with ToolwiseClient(pipeline.settings) as client:
        await client.submit(intent)
        for death in (1, 2):
            worker = spawn_worker(env, log, loglevel="info")
            code = await asyncio.to_thread(worker.wait, 180)
            assert code == -signal.SIGKILL, f"death {death}: exit {code}\n{log.read_text()[-3000:]}"
        worker = spawn_worker(env, log, loglevel="info")
        try:
            outcome = await client.wait_for([intent.intent_id], 180, alive=lambda: True)
            echoed = await client.run(
                IntentSubmitted(text="x", tool="crash.echo", arguments={"text": "still here"}),
                timeout_s=120,
            )
        finally:
            worker.terminate()
            await asyncio.to_thread(worker.wait, 60)
    failed = outcome[intent.intent_id]
    assert isinstance(failed, IntentFailed), failed
    assert failed.error_kind == "processing_error" and "crash_loop" in failed.reason
    assert isinstance(echoed, IntentCompleted)
    assert echoed.results[0].output == {"result": "still here"}


async def test_a_worker_refuses_topics_with_the_wrong_partition_count(
    pipeline_factory: PipelineFactory,
) -> None:
    pipeline = pipeline_factory()
    settings = pipeline.settings
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:  # what a broker's auto-creation did for a client that published first
        await admin.create_topics([NewTopic(settings.topic_name("intents"), 1, 1)])
    finally:
        await admin.close()
    log = pipeline.root / "worker.log"
    worker = spawn_worker(pipeline.env, log, loglevel="info")
    code = await asyncio.to_thread(worker.wait, 120)
    text = log.read_text()
    assert code == 2, text[-2000:]
    assert f"{settings.topic_name('intents')}: 1 partitions, expected 2" in text
    assert "--delete" in text


async def test_a_stopping_worker_exits_within_its_timeout_with_a_tool_call_in_flight(
    pipeline_factory: PipelineFactory,
) -> None:
    pipeline = pipeline_factory(shutdown_timeout_s=10)
    from streams.topics import ensure_topics

    await ensure_topics(pipeline.settings)
    worker = pipeline.start_worker()
    async with ToolwiseClient(pipeline.settings) as client:
        ready = await pipeline.run(client, IntentSubmitted(text="calculate 1 + 1"))
        assert isinstance(ready, IntentCompleted)
        await client.submit(
            IntentSubmitted(
                text="x",
                tool="testing.sleep",
                arguments={"seconds": 120},
                policy={"timeout_s": 600, "max_attempts": 1},  # type: ignore[arg-type]
            )
        )
        await asyncio.sleep(3)  # the call is in flight
    started = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.to_thread(worker.proc.wait, 60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running 60 s after SIGTERM\n{worker.log_tail()}")
    assert time.monotonic() - started < 10 + 5, worker.log_tail()


def http_get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_the_web_port_serves_no_stored_state_and_answers_errors_in_json(
    pipeline_factory: PipelineFactory,
) -> None:
    pipeline = pipeline_factory()
    from streams.topics import ensure_topics

    await ensure_topics(pipeline.settings)
    port = free_port()
    pipeline.start_worker(web_port=port)
    base = f"http://127.0.0.1:{port}"
    async with ToolwiseClient(pipeline.settings) as client:
        intent = IntentSubmitted(text="calculate 6 * 7")
        assert isinstance(await pipeline.run(client, intent), IntentCompleted)
    await get_json(f"{base}/api/stats")  # up
    for path, status in [
        (f"/table/planned-intents/{intent.intent_id}/", 404),
        ("/router/x/", 404),
        ("/nowhere", 404),
        ("/api/recommend", 400),
        ("/api/recommend?text=x&generation=abc", 400),
        ("/api/recommend?text=x&top_k=many", 400),
    ]:
        code, body = await asyncio.to_thread(http_get, base + path)
        assert (code, body["status"]) == (status, status), (path, body)
        assert isinstance(body["error"], str) and body["error"]
        assert "calculator" not in json.dumps(body)  # nothing of the stored plan


async def test_an_intent_that_cannot_be_planned_within_the_budget_fails_with_planning_timeout(
    pipeline_factory: PipelineFactory,
) -> None:
    pipeline = pipeline_factory(planning_budget_s=0.001)
    from streams.topics import ensure_topics

    await ensure_topics(pipeline.settings)
    pipeline.start_worker()
    async with ToolwiseClient(pipeline.settings) as client:
        planned = await pipeline.run(client, IntentSubmitted(text="calculate 1 + 1"))
        named = await pipeline.run(
            client,
            IntentSubmitted(text="x", tool="calculator.evaluate", arguments={"expression": "2"}),
        )
    assert isinstance(planned, IntentFailed) and planned.error_kind == "planning_timeout"
    assert "budget" in planned.reason
    assert isinstance(named, IntentCompleted)  # naming the tool skips the ranking
