"""A third-party MCP server that returns images and resources: the reference "everything" server.

Started with ``npx -y @modelcontextprotocol/server-everything`` (the Makefile installs npm
on a fresh machine). Skipped where npx or the package cannot be had, except under
CI=true, where that fails the run instead.
"""

from __future__ import annotations

import base64
import io
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageFile

from agents.content_exchange import ClaimCheckPolicy, ContentGateway
from agents.content_store import MemoryContentStore
from interfaces.client import ToolwiseClient
from models import IntentCompleted, IntentSubmitted, MediaContent, ResourceContent
from models.content import ResourceLinkContent
from streams.topics import ensure_topics
from tests.conftest import IN_CI
from tests.integration.conftest import PipelineFactory
from tools.config import StdioServerConfig
from tools.exceptions import ServerStartError
from tools.registry import ToolRegistry, build_client

pytestmark = pytest.mark.integration

COMMAND = ["npx", "-y", "@modelcontextprotocol/server-everything"]
# The first start downloads the package from the npm registry; later ones take ~1 s.
CONNECT_TIMEOUT_S = 180.0

TOOLS = f"""
[servers.everything]
transport = "stdio"
command = {COMMAND!r}
connect_timeout_s = {CONNECT_TIMEOUT_S}
""".replace("'", '"')


def _png(data: bytes, monkeypatch: pytest.MonkeyPatch) -> Image.Image:
    # The server's MCP logo carries a wrong CRC in its (ancillary) colour-profile chunk,
    # which Pillow refuses unless told to skip ancillary CRCs, as browsers do.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    return Image.open(io.BytesIO(data))


def _unavailable(reason: str) -> None:
    message = f"the MCP 'everything' server is not available: {reason}"
    if IN_CI:
        pytest.fail(f"CI=true and {message} (make install-system installs npm)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
async def everything() -> AsyncIterator[ToolRegistry]:
    if shutil.which("npx") is None:
        _unavailable("npx is not installed (apt-get install npm)")
    server = StdioServerConfig(
        transport="stdio", command=COMMAND, connect_timeout_s=CONNECT_TIMEOUT_S
    )
    registry = ToolRegistry({"everything": build_client("everything", server)})
    try:
        await registry.start()
    except ServerStartError as exc:
        _unavailable(str(exc))
    yield registry
    await registry.aclose()


async def test_the_tiny_image_comes_back_as_an_image(
    everything: ToolRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = await everything.call("everything.get-tiny-image", {}, timeout_s=30)
    assert result.ok, result.error
    [image] = result.content
    assert isinstance(image, MediaContent) and image.mime_type == "image/png"
    assert image.data is not None
    png = _png(base64.b64decode(image.data), monkeypatch)
    assert png.format == "PNG" and png.size == (20, 20)
    assert isinstance(result.output, list) and result.output  # its text blocks, unchanged


async def test_its_image_goes_by_reference_through_the_gateway(
    everything: ToolRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryContentStore()
    gateway = ContentGateway(everything.call, store, ClaimCheckPolicy(inline_max_bytes=100))
    result = await gateway("everything.get-tiny-image", {}, 30)
    [image] = result.content
    assert isinstance(image, MediaContent) and image.ref is not None and image.data is None
    stored = await store.get(image.ref.sha256)
    assert _png(stored.data, monkeypatch).size == (20, 20)


async def test_embedded_blob_resources_and_resource_links_are_kept(
    everything: ToolRegistry,
) -> None:
    blob = await everything.call(
        "everything.get-resource-reference", {"resourceType": "Blob", "resourceId": 2}, 30
    )
    assert blob.ok, blob.error
    [resource] = [p for p in blob.content if isinstance(p, ResourceContent)]
    assert resource.resource.blob is not None and resource.resource.uri
    links = await everything.call("everything.get-resource-links", {"count": 2}, 30)
    assert links.ok, links.error
    kept = [p for p in links.content if isinstance(p, ResourceLinkContent)]
    assert len(kept) == 2 and all(link.uri for link in kept)


async def test_the_tiny_image_through_a_real_worker(
    everything: ToolRegistry, pipeline_factory: PipelineFactory, tmp_path: Path
) -> None:
    config = tmp_path / "tools.toml"
    config.write_text(TOOLS)
    pipeline = pipeline_factory(config)
    await ensure_topics(pipeline.settings)
    pipeline.start_worker()
    intent = IntentSubmitted(text="show me the tiny image", tool="everything.get-tiny-image")
    async with ToolwiseClient(pipeline.settings) as client:
        outcome: Any = await pipeline.run(client, intent, timeout_s=CONNECT_TIMEOUT_S)
    assert isinstance(outcome, IntentCompleted), outcome
    [image] = outcome.results[0].content
    assert isinstance(image, MediaContent) and image.mime_type == "image/png"
    assert image.data is not None and base64.b64decode(image.data).startswith(b"\x89PNG")
