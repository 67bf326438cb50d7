"""Content parts on the wire: MCP's JSON form, and clear refusals of what is not what it says."""

from __future__ import annotations

import base64
import json

import pytest
from pydantic import ValidationError

from models import IntentSubmitted, MediaContent
from models.codec import InvalidMessage, decode
from models.content import (
    ContentError,
    ContentRef,
    content_uri,
    part_from_bytes,
    reference_for,
    sha256_of_reference,
    sniff_mime,
)
from tools.samples import sample_image, sample_wav

PNG = sample_image(32, 24)
WAV = sample_wav(0.1)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_an_inline_image_travels_in_mcp_form() -> None:
    part = MediaContent(type="image", mime_type="image/png", data=b64(PNG))
    wire = json.loads(part.model_dump_json(exclude_none=True))
    assert wire == {"type": "image", "mimeType": "image/png", "data": b64(PNG)}
    assert MediaContent.model_validate(wire) == part
    assert part.size == len(PNG)


def test_intents_carry_parts_that_any_client_can_write() -> None:
    raw = json.dumps(
        {
            "text": "how long is this clip",
            "content": [{"type": "audio", "mimeType": "audio/wav", "data": b64(WAV)}],
        }
    ).encode()
    intent = decode(raw, IntentSubmitted, 1_000_000)
    [part] = intent.content
    assert isinstance(part, MediaContent) and part.type == "audio" and part.size == len(WAV)


@pytest.mark.parametrize(
    ("part", "reason"),
    [
        ({"type": "image", "mimeType": "audio/wav", "data": b64(WAV)}, "needs an image/* MIME"),
        ({"type": "image", "mimeType": "image/png", "data": b64(WAV)}, "bytes are audio/wav"),
        ({"type": "image", "mimeType": "image/jpeg", "data": b64(PNG)}, "bytes are image/png"),
        ({"type": "image", "mimeType": "image/png", "data": "not base64!"}, "not valid base64"),
        ({"type": "image", "mimeType": "png", "data": b64(PNG)}, "is not a MIME type"),
        ({"type": "image", "mimeType": "image/png"}, "exactly one of 'data' or 'ref'"),
        ({"type": "video", "mimeType": "video/mp4", "data": ""}, "does not match any of the"),
    ],
)
def test_a_wrongly_typed_part_is_dead_lettered_with_the_reason(
    part: dict[str, str], reason: str
) -> None:
    raw = json.dumps({"text": "look at this", "content": [part]}).encode()
    with pytest.raises(InvalidMessage) as info:
        decode(raw, IntentSubmitted, 1_000_000)
    assert info.value.kind == "schema_violation"
    assert reason in info.value.reason


def test_common_mime_aliases_are_not_mismatches() -> None:
    jpeg = sample_image(16, 16, "JPEG")
    assert MediaContent(type="image", mime_type="image/jpg", data=b64(jpeg)).size == len(jpeg)
    assert MediaContent(type="audio", mime_type="audio/x-wav", data=b64(WAV)).type == "audio"


def test_unknown_formats_are_taken_on_trust() -> None:
    assert sniff_mime(b"\x00\x01 not a known signature") is None
    part = part_from_bytes(b"\x00\x01\x02", "image/x-custom")
    assert isinstance(part, MediaContent) and part.type == "image"


def test_part_from_bytes_picks_the_part_type_and_refuses_a_wrong_mime() -> None:
    assert part_from_bytes(PNG, "image/png").type == "image"
    assert part_from_bytes(WAV, "audio/wav").type == "audio"
    resource = part_from_bytes(b"%PDF-1.4 ...", "application/pdf", uri="file:///a.pdf")
    assert resource.type == "resource"
    with pytest.raises(ContentError, match="declared image/png but the bytes are audio/wav"):
        part_from_bytes(WAV, "image/png", uri="clip.wav")


def test_references_name_their_bytes() -> None:
    ref = reference_for(PNG, "image/png")
    assert ref.size == len(PNG) and ref.uri == content_uri(ref.sha256)
    assert sha256_of_reference(ref.uri) == ref.sha256
    assert sha256_of_reference(ref.sha256.upper()) == ref.sha256
    with pytest.raises(ContentError, match="expected 'toolwise-content:sha256:"):
        sha256_of_reference("s3://bucket/key")
    with pytest.raises(ValidationError, match="does not name sha256"):
        ContentRef(uri=content_uri("0" * 64), mime_type="image/png", size=1, sha256="1" * 64)
    by_ref = MediaContent(type="image", mime_type="image/png", ref=ref)
    assert by_ref.size == len(PNG) and by_ref.data is None
