"""Bytes to events and back; every way a message can be unusable has a kind and a reason."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from typing import Any, TypeVar

from pydantic import ValidationError

from models.events import DeadLettered, Event
from models.ids import derived_id

E = TypeVar("E", bound=Event)

# Nesting deeper than this is no intent any agent sends; it only costs recursion (a JSON
# nested thousands deep raised RecursionError in an agent).
MAX_JSON_DEPTH = 32
# A dead letter carries the raw value only up to this size, and its hash and size always:
# the letter must fit on the dead-letter topic, however large the message that failed
# (an 8 MB message's letter did not fit, so the dead letter itself was lost).
DEAD_LETTER_RAW_MAX = 64 * 1024


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
        data = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessage("malformed_json", f"not JSON: {exc}") from None
    except _NotFinite as exc:
        raise InvalidMessage("non_finite_number", str(exc)) from None
    except RecursionError:
        raise InvalidMessage("too_deep", "JSON nested too deep to parse") from None
    except ValueError as exc:  # an integer literal longer than Python converts (4,300 digits)
        raise InvalidMessage("malformed_json", f"not usable JSON: {exc}") from None
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise InvalidMessage(
            "too_deep", f"JSON nested {depth} levels deep; the limit is {MAX_JSON_DEPTH}"
        )
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


class _NotFinite(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotFinite(f"{name} is not a number JSON allows; send finite numbers only")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(f"{text[:40]} is too large for a 64-bit float; send finite numbers only")
    return value


def json_depth(value: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0, ``[]`` is 1), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


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
    kept = value[:DEAD_LETTER_RAW_MAX]
    return DeadLettered(
        # Deterministic id: re-dead-lettering a redelivered message is a duplicate, not news.
        event_id=derived_id("dlq", topic, str(partition), str(offset)),
        reason=reason[:4000],
        error_kind=kind,
        source_topic=topic,
        partition=partition,
        offset=offset,
        key=key[:1000].decode("utf-8", "replace") if key is not None else None,
        raw_b64=base64.b64encode(kept).decode(),
        raw_size=len(value),
        raw_sha256=hashlib.sha256(value).hexdigest(),
        raw_truncated=len(kept) < len(value),
    )
