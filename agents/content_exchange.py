"""Claim check around tool calls: large parts out to the content store, referenced bytes back in.

Events stay small: the parts of one result (or one intent) keep at most
``ClaimCheckPolicy.inline_max_bytes`` inline between them, in order; every later part
that would go past it is stored and replaced by a reference. A tool never sees a
reference: the gateway fetches the bytes and hands the part over in MCP form.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from agents.content_store import ContentStore, ContentStoreUnavailable, ContentTooLarge
from agents.step_runner import CallFn
from models import CallResult, ErrorKind, IntentSubmitted
from models.content import (
    ContentError,
    ContentPart,
    ContentRef,
    MediaContent,
    ResourceContent,
    decode_base64,
)
from tools.content import CONTENT_KINDS, mcp_form

__all__ = [
    "ClaimCheckPolicy",
    "ContentGateway",
    "check_in",
    "check_in_intent",
    "check_out_arguments",
]

_PART: TypeAdapter[ContentPart] = TypeAdapter(ContentPart)


@dataclass(frozen=True)
class ClaimCheckPolicy:
    """When bytes travel inline and when by reference."""

    inline_max_bytes: int = 256 * 1024
    """Bytes kept inline per result or intent, all parts together. 256 KiB is ~342 KiB as
    base64, which leaves room for the rest of an event in the default 1 MB message."""


def _inline(part: ContentPart) -> bytes | None:
    if isinstance(part, MediaContent) and part.data is not None:
        return decode_base64(part.data, f"{part.type} data")
    if isinstance(part, ResourceContent) and part.resource.blob is not None:
        return decode_base64(part.resource.blob, "resource blob")
    return None


def _mime(part: MediaContent | ResourceContent) -> str:
    if isinstance(part, MediaContent):
        return part.mime_type
    return part.resource.mime_type or "application/octet-stream"


def _referenced(part: MediaContent | ResourceContent, ref: ContentRef) -> ContentPart:
    if isinstance(part, MediaContent):
        return part.model_copy(update={"data": None, "ref": ref})
    body = part.resource.model_copy(update={"blob": None, "ref": ref})
    return part.model_copy(update={"resource": body})


def _with_bytes(part: MediaContent | ResourceContent, data: str) -> ContentPart:
    if isinstance(part, MediaContent):
        return part.model_copy(update={"data": data, "ref": None})
    body = part.resource.model_copy(update={"blob": data, "ref": None})
    return part.model_copy(update={"resource": body})


async def check_in(
    parts: Sequence[ContentPart], store: ContentStore | None, policy: ClaimCheckPolicy
) -> list[ContentPart]:
    """``parts`` with every part past the inline budget stored and replaced by its reference.

    Raises ContentTooLarge above the store's limit, ContentStoreUnavailable when it cannot
    be reached, and ContentError when a part must be stored and there is no store.
    """
    left = policy.inline_max_bytes
    out: list[ContentPart] = []
    for part in parts:
        raw = _inline(part)
        if raw is None or len(raw) <= left:
            left -= len(raw or b"")
            out.append(part)
            continue
        assert isinstance(part, MediaContent | ResourceContent)
        if store is None:
            raise ContentError(
                f"a {len(raw):,}-byte part is above the inline limit of "
                f"{policy.inline_max_bytes:,} bytes and no content store is configured "
                "(set TOOLWISE_REDIS_URL)"
            )
        out.append(_referenced(part, await store.put(raw, _mime(part))))
    return out


async def check_in_intent(
    intent: IntentSubmitted, store: ContentStore | None, policy: ClaimCheckPolicy
) -> IntentSubmitted:
    """The intent with its large inline parts stored, so plans and tool calls carry references.

    A client that claim-checks its own parts (``toolwise submit --attach``) makes this a no-op.
    """
    if not intent.content:
        return intent
    content = await check_in(intent.content, store, policy)
    return intent.model_copy(update={"content": content})


def _ref_of(part: ContentPart) -> ContentRef | None:
    if isinstance(part, MediaContent):
        return part.ref
    if isinstance(part, ResourceContent):
        return part.resource.ref
    return None


async def _check_out(value: Any, store: ContentStore | None) -> Any:
    if isinstance(value, list):
        return [await _check_out(item, store) for item in value]
    if not isinstance(value, Mapping) or value.get("type") not in CONTENT_KINDS:
        return value
    try:
        part = _PART.validate_python(value)
    except ValidationError:
        return value  # not a part after all: the tool's schema judges it
    ref = _ref_of(part)
    if ref is None:
        return value
    if store is None:
        raise ContentError(f"{ref.uri} is a reference but no content store is configured")
    stored = await store.get(ref.sha256)
    assert isinstance(part, MediaContent | ResourceContent)
    return mcp_form(_with_bytes(part, base64.b64encode(stored.data).decode()))


async def check_out_arguments(
    arguments: Mapping[str, Any], store: ContentStore | None
) -> dict[str, Any]:
    """The arguments with every referenced part's bytes fetched back in (MCP form).

    Raises ContentMissing for an expired reference and ContentStoreUnavailable.
    """
    return {name: await _check_out(value, store) for name, value in arguments.items()}


@dataclass
class ContentGateway:
    """A CallFn around another: referenced bytes in before the call, large parts out after.

    Failures come back as results, as from any tool call: an expired reference is
    ``invalid_arguments`` (the request, not the tool, is at fault), an unreachable store
    ``connection`` (retried), a part above the store's limit ``tool_error``.
    """

    call: CallFn
    store: ContentStore | None
    policy: ClaimCheckPolicy

    async def __call__(self, tool: str, arguments: dict[str, Any], timeout_s: float) -> CallResult:
        try:
            arguments = await check_out_arguments(arguments, self.store)
        except ContentStoreUnavailable as exc:
            return _failed(ErrorKind.CONNECTION, tool, exc)
        except ContentError as exc:
            return _failed(ErrorKind.INVALID_ARGUMENTS, tool, exc)
        result = await self.call(tool, arguments, timeout_s)
        if not result.content:
            return result
        try:
            content = await check_in(result.content, self.store, self.policy)
        except ContentStoreUnavailable as exc:
            return _failed(ErrorKind.CONNECTION, tool, exc, result.cost)
        except (ContentTooLarge, ContentError) as exc:
            return _failed(ErrorKind.TOOL_ERROR, tool, exc, result.cost)
        return result.model_copy(update={"content": content})


def _failed(kind: ErrorKind, tool: str, exc: Exception, cost: float = 0.0) -> CallResult:
    return CallResult(ok=False, error_kind=kind, error=f"{tool}: {exc}", cost=cost)
