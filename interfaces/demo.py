"""`toolwise demo`: start a worker, publish example intents, print outcomes and the dashboard."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from agents.content_exchange import ClaimCheckPolicy, check_in
from interfaces.cli_content import content_store
from interfaces.client import Outcome, OutcomeTimeout, ToolwiseClient, WorkerExited, tail
from interfaces.process import spawn_worker, stop_process
from models import ContentPart, IntentCompleted, IntentSubmitted, MediaContent
from models.content import part_from_bytes
from services import tansu
from streams.settings import Settings
from streams.topics import ensure_topics
from tools.samples import sample_image, sample_wav

EXAMPLES: list[dict[str, Any]] = [
    {"text": "calculate (17 + 25) * 3 / 2"},
    {"text": "convert 42 km to miles"},
    {"text": "convert 98.6 fahrenheit to celsius and then calculate 2 ** 10"},
    {"text": "find documentation about retries with exponential backoff and jitter"},
    {"text": "what is sqrt(2) * 10"},
    {"text": "convert 3 parsecs to lightyears"},  # the units tool refuses: the outcome says why
    {"text": "anything", "tool": "nowhere.missing"},  # unknown tool: dead-lettered and failed
]
MALFORMED = b'{"text": "this message is cut sho'


async def _media_examples(settings: Settings) -> list[dict[str, Any]]:
    """Intents with an image or an audio clip; parts past the inline budget (the photo,
    the clip) go to the content store first, as `toolwise submit --attach` does."""
    photo = sample_image(1600, 1200, "JPEG", grain=0.08)  # ~460 KB, like a phone photo
    drawing = sample_image(320, 200, "PNG")
    clip = sample_wav(seconds=3.0, rate=44_100, amplitude=0.3, channels=2)  # ~530 KB
    policy = ClaimCheckPolicy(settings.content_inline_max_bytes)
    store = content_store(settings)
    try:
        parts = [
            await check_in([part_from_bytes(data, mime)], store, policy)
            for data, mime in ((photo, "image/jpeg"), (drawing, "image/png"), (clip, "audio/wav"))
        ]
    finally:
        await store.aclose()
    return [
        # max_side 1024: a 1.5 MB PNG comes back, by reference (toolwise fetch-content).
        {"text": "make a thumbnail of this photo", "content": parts[0],
         "arguments": {"max_side": 1024}},
        {"text": "what are the dimensions of this picture", "content": parts[1]},
        {"text": "how loud is this audio clip", "content": parts[2]},
    ]  # fmt: skip


def run_demo(settings: Settings, keep_running: bool = False) -> int:
    return asyncio.run(_demo(settings, keep_running))


async def _demo(settings: Settings, keep_running: bool) -> int:
    print(f"broker {settings.broker}, topics '{settings.topic_prefix}-*'")
    try:
        await ensure_topics(settings, timeout_s=15)
    except Exception as exc:
        print(
            f"cannot reach Kafka at {settings.bootstrap_servers}: {exc!r}\n"
            "start it with 'toolwise services start' (or 'make services')",
            file=sys.stderr,
        )
        return 1
    worker = _start_worker(settings)

    def alive() -> bool:
        return worker.poll() is None

    try:
        async with ToolwiseClient(settings) as client:
            print("waiting for the worker to join (first outcome) ...")
            first = IntentSubmitted(text="calculate 1 + 1")
            await client.run(first, timeout_s=120, alive=alive)
            examples = EXAMPLES + await _media_examples(settings)
            intents = [IntentSubmitted(**example) for example in examples]
            started = time.monotonic()
            for intent in intents:
                await client.submit(intent)
            await client.publish_raw("intents", MALFORMED, key=b"malformed")
            outcomes = await client.wait_for([i.intent_id for i in intents], 120, alive)
            elapsed = time.monotonic() - started
        _print_outcomes(intents, outcomes, elapsed)
        await _print_dead_letters(settings)
        _print_dashboard(settings)
        if keep_running:
            print("worker running; Ctrl-C to stop")
            while worker.poll() is None:  # noqa: ASYNC110 (polling a child process)
                await asyncio.sleep(1)
        return 0
    except (OutcomeTimeout, WorkerExited) as exc:
        print(f"{exc}\nworker log: {_log_path(settings)}", file=sys.stderr)
        return 1
    finally:
        stop_process(worker)


def _log_path(settings: Settings) -> Path:
    return settings.state_dir / "logs" / "demo-worker.log"


def _start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    log = _log_path(settings)
    print(f"starting a worker (log: {log})")
    env = None
    if tansu.status(settings).running:
        # Tansu reports wrong end offsets after batched produces, on which Faust's RocksDB
        # store crashes at a restart: the fallback broker gets the in-memory store.
        env = {**os.environ, "TOOLWISE_STORE": "memory://"}
    return spawn_worker(env, log, loglevel="warn")


def _print_outcomes(
    intents: list[IntentSubmitted], outcomes: dict[str, Outcome], elapsed: float
) -> None:
    print(f"\n{len(intents)} intents, all answered in {elapsed:.2f} s\n")
    for intent in intents:
        outcome = outcomes[intent.intent_id]
        mark = "ok  " if isinstance(outcome, IntentCompleted) else "FAIL"
        print(f"{mark} {intent.text if not intent.tool else intent.tool + ' (explicit)'}")
        if isinstance(outcome, IntentCompleted):
            for r in outcome.results:
                print(
                    f"       {r.tool}: {json.dumps(r.output)[:100]}  "
                    f"[{r.attempts} attempt(s), {r.latency_ms:.1f} ms, cost {r.cost:g}]"
                )
                for part in r.content:
                    print(f"         + {_describe_part(part)}")
        else:
            print(f"       {outcome.error_kind}: {outcome.reason[:140]}")


def _describe_part(part: ContentPart) -> str:
    if isinstance(part, MediaContent) and part.ref is not None:
        return (
            f"{part.type} {part.mime_type}, {part.size:,} bytes by reference: "
            f"toolwise fetch-content {part.ref.uri} -o out"
        )
    if isinstance(part, MediaContent):
        return f"{part.type} {part.mime_type}, {part.size:,} bytes inline"
    return f"{part.type} {part.model_dump_json()[:100]}"


async def _print_dead_letters(settings: Settings) -> None:
    print("\ndead letters (newest last):")
    letters = [r async for r in tail(settings, "dead-letters", from_beginning=True, until_end=True)]
    for record in letters[-3:]:
        value = record["value"]
        print(
            f"  {value['error_kind']}: {value['reason'][:100]} "
            f"(from {value['source_topic']}[{value['partition']}]@{value['offset']})"
        )


def _print_dashboard(settings: Settings) -> None:
    url = f"http://127.0.0.1:{settings.web_port}"
    print(f"\ndashboard: {url}/dashboard   API: {url}/api/openapi.json   metrics: {url}/metrics")
    print(f"MCP: {url}/mcp   A2A card: {url}/.well-known/agent-card.json")
    try:
        with urllib.request.urlopen(f"{url}/api/stats", timeout=5) as response:
            stats = json.load(response)
        for name, tool in stats["tools"].items():
            print(
                f"  {name:28} attempts {tool['attempts']:4}  success {tool['success_rate']}  "
                f"p50 {tool['latency_p50_ms']} ms"
            )
        text = "convert 10 miles to km"
        query = urllib.parse.urlencode({"text": text})
        with urllib.request.urlopen(f"{url}/api/recommend?{query}", timeout=5) as response:
            view = json.load(response)
        print(f"\nlearned ranking for {text!r} (generation {view['generation']}):")
        for rec in view["recommendations"][:3]:
            print(f"  {rec['tool']:28} score {rec['score']:.3f}  {rec['explanation'][:90]}")
    except OSError as exc:
        print(f"  (dashboard not reachable: {exc})")
