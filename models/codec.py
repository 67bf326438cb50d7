"""Bytes to events and back; every way a message can be unusable has a kind and a reason."""

from __future__ import annotations

import base64
import json
from typing import TypeVar

from pydantic import ValidationError

from models.events import DeadLettered, Event

E = TypeVar("E", bound=Event)


class InvalidMessage(Exception):
    """A message that cannot become an event; it goes to the dead-letter topic."""

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"{kind}: {reason}")


def decode(raw: bytes | None, model: type[E], max_bytes: int) -> E:
    """Parse ``raw`` as ``model`` or raise :class:`InvalidMessage` saying why."""
    if raw is None:
        raise InvalidMessage("empty", "message has no value (tombstone)")
    if len(raw) > max_bytes:
        raise InvalidMessage("oversized", f"value is {len(raw)} bytes; the limit is {max_bytes}")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessage("malformed_json", f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidMessage(
            "schema_violation", f"expected a JSON object, got {type(data).__name__}"
        )
    declared = data.get("type", model.__name__)
    if declared != model.__name__:
        raise InvalidMessage(
            "schema_violation", f"expected type {model.__name__}, got {declared!r}"
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidMessage("schema_violation", _summarise(exc)) from None


def _summarise(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "(root)"
        parts.append(f"{where}: {error['msg']}")
    more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "; ".join(parts) + more


def dead_letter(
    raw: bytes | None,
    *,
    kind: str,
    reason: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
) -> DeadLettered:
    value = raw or b""
    return DeadLettered(
        # Deterministic id: re-dead-lettering a redelivered message is a duplicate, not news.
        event_id=f"dlq:{topic}:{partition}:{offset}",
        reason=reason,
        error_kind=kind,
        source_topic=topic,
        partition=partition,
        offset=offset,
        key=key.decode("utf-8", "replace") if key is not None else None,
        raw_b64=base64.b64encode(value).decode(),
        raw_size=len(value),
    )
