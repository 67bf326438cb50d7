"""MCP content blocks to content parts and back, and which tool arguments take parts.

A tool takes a part through an argument whose schema is MCP's own shape for it: an
object whose ``type`` is the constant ``"image"``, ``"audio"`` or ``"resource"`` (what
``MCPServer`` derives from a parameter typed ``mcp.types.ImageContent``), any union of
those, or an array of them. Such an argument receives the intent's parts in MCP form.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mcp.types import (
    AudioContent,
    ContentBlock,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
)
from pydantic import TypeAdapter, ValidationError

from models.content import ContentError, ContentPart

__all__ = [
    "CONTENT_KINDS",
    "ContentSlot",
    "content_arguments",
    "content_slots",
    "mcp_form",
    "parts_from_mcp",
    "without_content_slots",
]

CONTENT_KINDS = frozenset({"image", "audio", "resource", "resource_link"})
_PART: TypeAdapter[ContentPart] = TypeAdapter(ContentPart)


def parts_from_mcp(blocks: Iterable[ContentBlock]) -> list[ContentPart]:
    """The non-text blocks of a tool result, in order, as content parts.

    Raises ContentError naming the block when one is not valid (bad base64, a MIME type
    that does not match the block's type or its bytes).
    """
    parts: list[ContentPart] = []
    for index, block in enumerate(blocks):
        if isinstance(block, TextContent):
            continue
        if not isinstance(block, ImageContent | AudioContent | EmbeddedResource | ResourceLink):
            raise ContentError(f"content block {index}: unknown type {type(block).__name__}")
        try:
            parts.append(_PART.validate_python(block.model_dump(by_alias=True, exclude_none=True)))
        except ValidationError as exc:
            reason = "; ".join(e["msg"] for e in exc.errors()[:3])
            raise ContentError(f"content block {index} ({block.type}): {reason}") from None
    return parts


def mcp_form(part: ContentPart) -> dict[str, Any]:
    """The part as MCP JSON (camelCase, no empty fields): what a tool's argument receives."""
    return part.model_dump(mode="json", by_alias=True, exclude_none=True)


@dataclass(frozen=True)
class ContentSlot:
    """A tool argument that takes content parts: which kinds, and one part or a list."""

    name: str
    kinds: frozenset[str]
    many: bool
    required: bool


def _resolve(root: Mapping[str, Any], schema: Any, depth: int = 0) -> Mapping[str, Any]:
    """Follow a local ``$ref`` ('#/$defs/X'); anything else comes back as it is."""
    if not isinstance(schema, Mapping):
        return {}
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/") or depth > 8:
        return schema
    target: Any = root
    for key in ref[2:].split("/"):
        target = target.get(key) if isinstance(target, Mapping) else None
    return _resolve(root, target, depth + 1)


def _kinds(root: Mapping[str, Any], schema: Any) -> frozenset[str]:
    """The part types an object schema accepts: its ``type`` property's const or enum."""
    resolved = _resolve(root, schema)
    branches = resolved.get("anyOf") or resolved.get("oneOf")
    if isinstance(branches, list):
        return frozenset().union(*(_kinds(root, branch) for branch in branches))
    properties = resolved.get("properties")
    if resolved.get("type") not in (None, "object") or not isinstance(properties, Mapping):
        return frozenset()
    tag = _resolve(root, properties.get("type"))
    values = [tag["const"]] if "const" in tag else tag.get("enum", [])
    return frozenset(v for v in values if isinstance(v, str) and v in CONTENT_KINDS)


def content_slots(schema: Mapping[str, Any]) -> list[ContentSlot]:
    """The arguments of an input schema that take content parts, in the schema's order."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return []
    required = set(schema.get("required") or [])
    slots = []
    for name, prop in properties.items():
        resolved = _resolve(schema, prop)
        many = resolved.get("type") == "array"
        # Optional[ImageContent] is anyOf [ImageContent, null]: _kinds unions the branches.
        kinds = _kinds(schema, resolved.get("items") if many else resolved)
        if kinds:
            slots.append(ContentSlot(name, kinds, many, name in required))
    return slots


def content_arguments(schema: Mapping[str, Any], parts: Sequence[ContentPart]) -> dict[str, Any]:
    """Arguments that hand ``parts`` to the tool: each slot, in order, takes the first unused
    part of a type it accepts (a list slot takes all of them). Parts travel in MCP form;
    one stored by reference keeps its ``ref`` until the executor fetches the bytes."""
    unused = list(parts)
    arguments: dict[str, Any] = {}
    for slot in content_slots(schema):
        fitting = [p for p in unused if p.type in slot.kinds]
        if not fitting:
            continue
        taken = fitting if slot.many else fitting[:1]
        unused = [p for p in unused if all(p is not t for t in taken)]
        forms = [mcp_form(p) for p in taken]
        arguments[slot.name] = forms if slot.many else forms[0]
    return arguments


def without_content_slots(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema less its content arguments: what a planner that sees no bytes fills."""
    slots = {slot.name for slot in content_slots(schema)}
    if not slots:
        return dict(schema)
    out = dict(schema)
    out["properties"] = {k: v for k, v in schema["properties"].items() if k not in slots}
    if "required" in schema:
        out["required"] = [name for name in schema["required"] if name not in slots]
    return out
