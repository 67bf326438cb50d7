"""Claim check: large parts to the store and references in events; tools always get bytes."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from agents.content_exchange import (
    ClaimCheckPolicy,
    ContentGateway,
    check_in,
    check_in_intent,
    check_out_arguments,
)
from agents.content_store import (
    ContentMissing,
    ContentStoreUnavailable,
    ContentTooLarge,
    MemoryContentStore,
    StoredContent,
)
from models import CallResult, ContentRef, ErrorKind, IntentSubmitted, MediaContent
from models.content import ContentError, ResourceBody, ResourceContent
from tools.content import mcp_form
from tools.samples import sample_wav

KIB = 1024


def media(size: int, kind: str = "audio") -> MediaContent:
    # A WAV header and then filler: any size, and the bytes really are audio/wav.
    data = sample_wav(seconds=size / 32000 + 0.001)[:size]
    assert len(data) == size
    return MediaContent(type=kind, mime_type="audio/wav", data=base64.b64encode(data).decode())


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_parts_within_the_budget_stay_inline_and_the_rest_go_by_reference() -> None:
    store = MemoryContentStore()
    small, big, other = media(10 * KIB), media(300 * KIB), media(200 * KIB)
    parts = await check_in([small, big, other], store, ClaimCheckPolicy(inline_max_bytes=256 * KIB))
    assert parts[0] == small  # 10 KiB: inline, 246 KiB left
    assert isinstance(parts[1], MediaContent) and parts[1].data is None and parts[1].ref
    assert parts[1].ref.size == 300 * KIB and parts[1].ref.mime_type == "audio/wav"
    assert parts[2] == other  # 200 KiB still fits what is left
    stored = await store.get(parts[1].ref.sha256)
    assert base64.b64encode(stored.data).decode() == big.data


async def test_the_budget_is_shared_by_all_parts_of_one_result() -> None:
    store = MemoryContentStore()
    parts = await check_in([media(200 * KIB)] * 2, store, ClaimCheckPolicy(256 * KIB))
    assert [p.data is None for p in parts if isinstance(p, MediaContent)] == [False, True]
    assert store.puts == 1


async def test_resource_blobs_are_claim_checked_too() -> None:
    blob = base64.b64encode(b"%PDF-1.7" + b"x" * 2000).decode()
    part = ResourceContent(
        type="resource",
        resource=ResourceBody(uri="file:///a.pdf", mime_type="application/pdf", blob=blob),
    )
    store = MemoryContentStore()
    [stored] = await check_in([part], store, ClaimCheckPolicy(inline_max_bytes=1000))
    assert isinstance(stored, ResourceContent) and stored.resource.blob is None
    assert stored.resource.ref is not None and stored.resource.ref.mime_type == "application/pdf"
    [back] = (await check_out_arguments({"doc": mcp_form(stored)}, store)).values()
    body = {"uri": "file:///a.pdf", "mimeType": "application/pdf", "blob": blob}
    assert back == {"type": "resource", "resource": body}


async def test_without_a_store_a_large_part_is_a_clear_error() -> None:
    with pytest.raises(ContentError, match="no content store is configured"):
        await check_in([media(2 * KIB)], None, ClaimCheckPolicy(inline_max_bytes=KIB))


async def test_the_store_refuses_parts_above_its_limit() -> None:
    with pytest.raises(ContentTooLarge, match="TOOLWISE_CONTENT_MAX_BYTES"):
        await check_in(
            [media(4 * KIB)], MemoryContentStore(max_bytes=3 * KIB), ClaimCheckPolicy(KIB)
        )


async def test_an_intent_with_a_large_inline_part_is_planned_with_a_reference() -> None:
    store = MemoryContentStore()
    intent = IntentSubmitted(text="how loud is this", content=[media(20 * KIB)])
    checked = await check_in_intent(intent, store, ClaimCheckPolicy(inline_max_bytes=KIB))
    [part] = checked.content
    assert isinstance(part, MediaContent) and part.ref is not None and part.data is None
    assert checked.intent_id == intent.intent_id and checked.text == intent.text


async def test_references_in_arguments_become_bytes_again_in_mcp_form() -> None:
    store = MemoryContentStore()
    part = media(3 * KIB)
    [by_ref] = await check_in([part], store, ClaimCheckPolicy(inline_max_bytes=0))
    arguments = {"audio": mcp_form(by_ref), "clips": [mcp_form(by_ref)], "n": 3, "q": {"type": "x"}}
    assert "ref" in arguments["audio"] and "data" not in arguments["audio"]
    resolved = await check_out_arguments(arguments, store)
    assert resolved == {
        "audio": mcp_form(part),
        "clips": [mcp_form(part)],
        "n": 3,
        "q": {"type": "x"},
    }


async def test_an_expired_reference_says_so() -> None:
    clock = Clock()
    store = MemoryContentStore(ttl_s=60, clock=clock)
    [by_ref] = await check_in([media(3 * KIB)], store, ClaimCheckPolicy(inline_max_bytes=0))
    clock.now = 61
    with pytest.raises(
        ContentMissing, match=r"expired .*TOOLWISE_CONTENT_TTL_S.*submit the file again"
    ):
        await check_out_arguments({"audio": mcp_form(by_ref)}, store)


class Recorder:
    def __init__(self, result: CallResult) -> None:
        self.result = result
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, tool: str, arguments: dict[str, Any], timeout_s: float) -> CallResult:
        self.seen.append(arguments)
        return self.result


async def test_the_gateway_gives_the_tool_bytes_and_stores_what_it_returns() -> None:
    store = MemoryContentStore()
    sent, returned = media(2 * KIB), media(8 * KIB)
    [by_ref] = await check_in([sent], store, ClaimCheckPolicy(inline_max_bytes=0))
    tool = Recorder(CallResult(ok=True, output="ok", content=[returned]))
    gateway = ContentGateway(tool, store, ClaimCheckPolicy(inline_max_bytes=4 * KIB))
    result = await gateway("audio.x", {"audio": mcp_form(by_ref)}, 5.0)
    assert tool.seen == [{"audio": mcp_form(sent)}]
    [part] = result.content
    assert result.ok and isinstance(part, MediaContent) and part.ref is not None
    assert (await store.get(part.ref.sha256)).data == base64.b64decode(returned.data or "")


async def test_the_gateway_turns_content_failures_into_results() -> None:
    clock = Clock()
    store = MemoryContentStore(ttl_s=1, clock=clock)
    [by_ref] = await check_in([media(2 * KIB)], store, ClaimCheckPolicy(inline_max_bytes=0))
    clock.now = 5
    tool = Recorder(CallResult(ok=True))
    gateway = ContentGateway(tool, store, ClaimCheckPolicy())
    expired = await gateway("audio.x", {"audio": mcp_form(by_ref)}, 5.0)
    assert expired.error_kind is ErrorKind.INVALID_ARGUMENTS and "expired" in (expired.error or "")
    assert tool.seen == []  # the tool never ran

    class Down:
        async def put(self, data: bytes, mime_type: str) -> ContentRef:
            raise ContentStoreUnavailable("redis down")

        async def get(self, sha256: str) -> StoredContent:
            raise ContentStoreUnavailable("redis down")

        async def aclose(self) -> None:
            return None

    big = Recorder(CallResult(ok=True, content=[media(4 * KIB)], cost=0.5))
    down = await ContentGateway(big, Down(), ClaimCheckPolicy(KIB))("audio.x", {}, 5.0)
    assert down.error_kind is ErrorKind.CONNECTION and down.error_kind.retryable
    assert down.cost == 0.5  # the tool ran: what it charged is still counted
    huge = Recorder(CallResult(ok=True, content=[media(4 * KIB)]))
    limit = ContentGateway(huge, MemoryContentStore(max_bytes=KIB), ClaimCheckPolicy(KIB))
    refused = await limit("audio.x", {}, 5.0)
    assert refused.error_kind is ErrorKind.TOOL_ERROR and "limit" in (refused.error or "")
