"""Images and audio through a real worker: parts in, parts out, large ones by reference."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from interfaces.cli_content import fetch
from interfaces.client import ToolwiseClient, tail
from interfaces.process import PROJECT_ROOT
from models import IntentCompleted, IntentSubmitted, MediaContent
from models.content import part_from_bytes
from streams.topics import ensure_topics
from tests.integration.conftest import Pipeline, PipelineFactory, free_port
from tools.samples import sample_image, sample_wav

pytestmark = pytest.mark.integration

# Small, so that a 640 x 480 JPEG and its 128-pixel PNG thumbnail both go by reference.
INLINE_MAX = 4096

TOOLS = """
[servers.images]
transport = "stdio"
command = ["python", "-m", "tools.servers.images"]

[servers.audio]
transport = "stdio"
command = ["python", "-m", "tools.servers.audio"]

[servers.calculator]
transport = "stdio"
command = ["python", "-m", "tools.servers.calculator"]
"""


@pytest.fixture
async def media_pipeline(pipeline_factory: PipelineFactory, tmp_path: Path) -> Pipeline:
    config = tmp_path / "tools.toml"
    config.write_text(TOOLS)
    pipeline = pipeline_factory(config, content_inline_max_bytes=INLINE_MAX)
    await ensure_topics(pipeline.settings)
    pipeline.start_worker(web_port=free_port())
    return pipeline


async def http_get(url: str, timeout_s: float = 30.0) -> tuple[int, str, bytes]:
    """Status, content type and body of a GET, retrying while the server is not up yet."""

    def get() -> tuple[int, str, bytes]:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.headers["content-type"], response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers["content-type"], exc.read()

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await asyncio.to_thread(get)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def test_an_image_goes_by_reference_both_ways_and_the_cli_fetches_the_thumbnail(
    media_pipeline: Pipeline,
) -> None:
    pipeline = media_pipeline
    jpeg = sample_image(640, 480, "JPEG")
    assert len(jpeg) > INLINE_MAX
    # Sent inline, as any Kafka client may: the worker moves it to the store before planning.
    intent = IntentSubmitted(
        text="make a thumbnail of this photo",
        tool="images.thumbnail",
        content=[part_from_bytes(jpeg, "image/jpeg")],
    )
    async with ToolwiseClient(pipeline.settings) as client:
        outcome = await pipeline.run(client, intent)
    assert isinstance(outcome, IntentCompleted), outcome
    [step] = outcome.results
    assert step.output["from_width"] == 640 and step.output["width"] == 128
    [thumb] = step.content
    assert isinstance(thumb, MediaContent) and thumb.ref is not None and thumb.data is None
    assert thumb.mime_type == "image/png" and thumb.ref.size == step.output["bytes"]

    stored = await fetch(pipeline.settings, thumb.ref.uri)
    assert Image.open(io.BytesIO(stored.data)).size == (128, 96)

    port = pipeline.workers[0].web_port
    status, kind, body = await http_get(f"http://127.0.0.1:{port}/api/content/{thumb.ref.uri}")
    assert (status, kind, body) == (200, "image/png", stored.data)
    status, _, body = await http_get(f"http://127.0.0.1:{port}/api/content/{'0' * 64}")
    assert status == 404 and json.loads(body)["error"].startswith("no content with sha256")
    status, _, body = await http_get(f"http://127.0.0.1:{port}/api/content/nonsense")
    assert status == 400 and "not a content reference" in json.loads(body)["error"]

    plans = [r["value"] async for r in tail(pipeline.settings, "plans", True, 2.0)]
    [plan] = [p for p in plans if p["intent_id"] == intent.intent_id]
    planned = plan["steps"][0]["arguments"]["image"]
    assert "data" not in planned and planned["ref"]["size"] == len(jpeg)

    out = pipeline.root / "thumb.png"
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "interfaces", "fetch-content", thumb.ref.uri, "-o", str(out),
        cwd=PROJECT_ROOT, env=pipeline.env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await cli.communicate()
    assert cli.returncode == 0, err.decode()
    assert out.read_bytes() == stored.data and b"image/png" in err


async def test_the_planner_hands_an_audio_clip_to_the_audio_tool(media_pipeline: Pipeline) -> None:
    pipeline = media_pipeline
    clip = sample_wav(seconds=0.75, rate=8000, amplitude=0.25)
    intent = IntentSubmitted(
        text="what is the duration of this audio clip",
        content=[part_from_bytes(clip, "audio/wav")],
    )
    async with ToolwiseClient(pipeline.settings) as client:
        outcome = await pipeline.run(client, intent)
    assert isinstance(outcome, IntentCompleted), outcome
    assert [r.tool for r in outcome.results] == ["audio.loudness"]
    assert outcome.results[0].output["duration_s"] == 0.75
    assert outcome.results[0].output["peak_dbfs"] == pytest.approx(-12.04, abs=0.01)


async def test_a_part_that_is_not_what_it_says_is_dead_lettered(media_pipeline: Pipeline) -> None:
    pipeline = media_pipeline
    intent_id = uuid.uuid4().hex
    wav = base64.b64encode(sample_wav(0.1)).decode()
    bad: dict[str, Any] = {
        "intent_id": intent_id,
        "text": "describe this image",
        "content": [{"type": "image", "mimeType": "image/png", "data": wav}],
    }
    async with ToolwiseClient(pipeline.settings) as client:
        await client.publish_raw("intents", json.dumps(bad).encode(), key=intent_id.encode())
        # The next intent still completes: the worker went on.
        after = IntentSubmitted(text="calculate 6 * 7")
        outcome = await pipeline.run(client, after)
    assert isinstance(outcome, IntentCompleted)
    letters = [r["value"] async for r in tail(pipeline.settings, "dead-letters", True, 2.0)]
    [letter] = [v for v in letters if v["key"] == intent_id]
    assert letter["error_kind"] == "schema_violation"
    assert "declared image/png but the bytes are audio/wav" in letter["reason"]
