"""The bundled image and audio tools, in process, through the real MCP client."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from PIL import Image

from models import MediaContent
from models.tools import ErrorKind, ToolSpec
from tools.client import McpToolClient
from tools.content import content_slots
from tools.samples import sample_image, sample_wav
from tools.servers import audio, images


def part(kind: str, mime: str, data: bytes) -> dict[str, Any]:
    return {"type": kind, "mimeType": mime, "data": base64.b64encode(data).decode()}


@pytest.fixture
async def media() -> AsyncIterator[tuple[dict[str, McpToolClient], dict[str, ToolSpec]]]:
    clients = {
        "images": McpToolClient("images", images.build_server()),
        "audio": McpToolClient("audio", audio.build_server()),
    }
    specs = {s.name: s for c in clients.values() for s in await c.list_tools()}
    yield clients, specs
    for client in clients.values():
        await client.aclose()


async def call(media: Any, tool: str, **arguments: Any) -> Any:
    clients, specs = media
    spec = specs[tool]
    return await clients[spec.server].call(spec, arguments, timeout_s=10)


async def test_both_servers_are_read_only_closed_world() -> None:
    for server in (images.build_server(), audio.build_server()):
        for tool in await server.list_tools():
            assert tool.annotations is not None
            assert tool.annotations.read_only_hint is True
            assert tool.annotations.open_world_hint is False
            assert content_slots(dict(tool.input_schema))


FORMATS = [
    ("PNG", "image/png"),
    ("JPEG", "image/jpeg"),
    ("GIF", "image/gif"),
    ("WEBP", "image/webp"),
]


@pytest.mark.parametrize(("fmt", "mime"), FORMATS)
async def test_metadata_reads_each_format(media: Any, fmt: str, mime: str) -> None:
    data = sample_image(320, 200, fmt)
    result = await call(media, "images.metadata", image=part("image", mime, data))
    assert result.ok, result.error
    assert result.output["format"] == fmt and result.output["mime_type"] == mime
    assert (result.output["width"], result.output["height"]) == (320, 200)
    assert result.output["bytes"] == len(data)


async def test_thumbnail_returns_a_png_part_keeping_the_aspect(media: Any) -> None:
    jpeg = sample_image(640, 480, "JPEG")
    result = await call(
        media, "images.thumbnail", image=part("image", "image/jpeg", jpeg), max_side=64
    )
    assert result.ok, result.error
    [thumb] = result.content
    assert isinstance(thumb, MediaContent) and thumb.mime_type == "image/png"
    assert thumb.data is not None
    decoded = Image.open(io.BytesIO(base64.b64decode(thumb.data)))
    assert decoded.size == (64, 48) and decoded.format == "PNG"
    assert result.output == {"width": 64, "height": 48, "from_width": 640, "from_height": 480,
                             "bytes": thumb.size}  # fmt: skip


async def test_the_image_tool_refuses_what_is_not_an_image(media: Any) -> None:
    result = await call(media, "images.metadata", image=part("image", "image/png", b"hello"))
    assert result.error_kind is ErrorKind.TOOL_ERROR
    assert "not an image Pillow can read" in (result.error or "")


async def test_the_image_tool_refuses_to_decode_a_pixel_bomb(media: Any) -> None:
    bomb = Image.new("1", (10_000, 6_000))  # 60 M pixels, a few KB as PNG
    out = io.BytesIO()
    bomb.save(out, "PNG")
    result = await call(media, "images.metadata", image=part("image", "image/png", out.getvalue()))
    assert result.error_kind is ErrorKind.TOOL_ERROR and "too large to decode" in (
        result.error or ""
    )


@pytest.mark.parametrize("width", [1, 2, 3, 4])
async def test_loudness_of_a_tone_at_each_sample_width(media: Any, width: int) -> None:
    data = sample_wav(seconds=1.5, rate=8000, amplitude=0.5, channels=2, sample_width=width)
    result = await call(media, "audio.loudness", audio=part("audio", "audio/wav", data))
    assert result.ok, result.error
    out = result.output
    assert out["duration_s"] == 1.5 and out["sample_rate"] == 8000 and out["channels"] == 2
    assert out["sample_width_bits"] == 8 * width
    # A sine of amplitude 0.5: RMS 0.5/sqrt(2) = -9.03 dBFS, peak 0.5 = -6.02 dBFS.
    tolerance = 0.1 if width == 1 else 0.01
    assert out["rms_dbfs"] == pytest.approx(-9.03, abs=tolerance)
    assert out["peak_dbfs"] == pytest.approx(-6.02, abs=tolerance)
    assert out["channel_rms_dbfs"] == [pytest.approx(-9.03, abs=tolerance)] * 2


async def test_a_silent_clip_has_no_level(media: Any) -> None:
    data = sample_wav(seconds=0.25, amplitude=0.0)
    result = await call(media, "audio.loudness", audio=part("audio", "audio/wav", data))
    assert result.ok and result.output["rms_dbfs"] is None and result.output["duration_s"] == 0.25


async def test_the_audio_tool_refuses_what_is_not_a_wav(media: Any) -> None:
    result = await call(media, "audio.loudness", audio=part("audio", "audio/wav", b"RIFFxxxx"))
    assert result.error_kind is ErrorKind.TOOL_ERROR
    assert "not a PCM WAV file" in (result.error or "")


async def test_an_argument_that_is_not_a_part_is_refused_before_the_call(media: Any) -> None:
    result = await call(media, "images.metadata", image="/tmp/photo.png")
    assert result.error_kind is ErrorKind.INVALID_ARGUMENTS
