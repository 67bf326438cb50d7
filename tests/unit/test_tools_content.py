"""MCP content blocks to parts and back, and which tool arguments take parts."""

from __future__ import annotations

import base64
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import (
    AudioContent,
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
)

from models import MediaContent, ResourceContent, ResourceLinkContent
from models.tools import ErrorKind
from tools._outcomes import from_tool_result
from tools.content import (
    ContentSlot,
    content_arguments,
    content_slots,
    mcp_form,
    without_content_slots,
)
from tools.samples import sample_image, sample_wav
from tools.testing import make_spec

PNG = sample_image(20, 10)
WAV = sample_wav(0.05)
SPEC = make_spec("t", "x")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_images_audio_and_resources_are_kept_in_order_and_text_stays_in_output() -> None:
    result = CallToolResult(
        content=[
            TextContent(type="text", text="here it is"),
            ImageContent(type="image", data=b64(PNG), mime_type="image/png"),
            AudioContent(type="audio", data=b64(WAV), mime_type="audio/wav"),
            EmbeddedResource(
                type="resource",
                resource=BlobResourceContents(uri="file:///r.pdf", mime_type="application/pdf",
                                              blob=b64(b"%PDF-1.7 x")),
            ),
            ResourceLink(type="resource_link", uri="file:///big.bin", name="big.bin"),
        ]
    )  # fmt: skip
    done = from_tool_result(SPEC, result, 1.0)
    assert done.ok and done.output == "here it is"
    image, audio, resource, link = done.content
    assert isinstance(image, MediaContent) and image.data == b64(PNG)
    assert image.mime_type == "image/png"
    assert isinstance(audio, MediaContent) and audio.type == "audio"
    assert isinstance(resource, ResourceContent) and resource.resource.uri == "file:///r.pdf"
    assert isinstance(link, ResourceLinkContent) and link.name == "big.bin"


def test_an_image_only_result_is_not_empty() -> None:
    result = CallToolResult(
        content=[ImageContent(type="image", data=b64(PNG), mime_type="image/png")]
    )
    done = from_tool_result(SPEC, result, 1.0)
    assert done.ok and done.output is None and len(done.content) == 1


def test_a_result_with_an_unusable_part_fails_instead_of_dropping_it() -> None:
    result = CallToolResult(
        content=[ImageContent(type="image", data=b64(WAV), mime_type="image/png")]
    )
    done = from_tool_result(SPEC, result, 1.0)
    assert not done.ok and done.error_kind is ErrorKind.TOOL_ERROR
    assert "content block 0 (image)" in (done.error or "")
    assert "bytes are audio/wav" in (done.error or "")


async def _schema_of(fn: Any) -> dict[str, Any]:
    server: MCPServer[Any] = MCPServer("s")
    server.add_tool(fn)
    [tool] = await server.list_tools()
    return dict(tool.input_schema)


async def test_parameters_typed_as_mcp_content_are_slots() -> None:
    def tool(
        image: ImageContent,
        clips: list[AudioContent],
        extra: ImageContent | AudioContent | None = None,
        note: str = "",
        meta: dict[str, str] | None = None,
    ) -> str:
        return ""

    schema = await _schema_of(tool)
    assert content_slots(schema) == [
        ContentSlot("image", frozenset({"image"}), many=False, required=True),
        ContentSlot("clips", frozenset({"audio"}), many=True, required=True),
        ContentSlot("extra", frozenset({"image", "audio"}), many=False, required=False),
    ]
    stripped = without_content_slots(schema)
    assert set(stripped["properties"]) == {"note", "meta"} and stripped.get("required", []) == []


async def test_content_arguments_hand_each_slot_a_part_of_its_type() -> None:
    def tool(
        image: ImageContent, clips: list[AudioContent], extra: ImageContent | None = None
    ) -> str:
        return ""

    schema = await _schema_of(tool)
    first = MediaContent(type="image", mime_type="image/png", data=b64(PNG))
    second = MediaContent(type="image", mime_type="image/png", data=b64(sample_image(5, 5)))
    clip = MediaContent(type="audio", mime_type="audio/wav", data=b64(WAV))
    arguments = content_arguments(schema, [clip, first, second, clip])
    assert arguments == {
        "image": mcp_form(first),
        "clips": [mcp_form(clip), mcp_form(clip)],
        "extra": mcp_form(second),
    }
    assert arguments["image"] == {"type": "image", "mimeType": "image/png", "data": b64(PNG)}
    assert content_arguments(schema, []) == {}
    assert (
        content_arguments({"type": "object", "properties": {"q": {"type": "string"}}}, [first])
        == {}
    )
