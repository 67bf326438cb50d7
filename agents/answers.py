"""Answers to a submitter whose intent cannot be served: one IntentFailed, keyed by intent id."""

from __future__ import annotations

import json
from typing import Any

from agents.outcome_assembly import failure_outcome
from models.ids import MAX_ID_LENGTH
from streams.topics import outcomes_topic


def salvage_intent_id(event: Any) -> str | None:
    """The intent id of a record that did not decode: its JSON's ``intent_id``, else its key.

    Every Toolwise topic that concerns one intent is keyed by its id, so the key is the
    submitter's intent id even when the value is unreadable.
    """
    try:
        data = json.loads(event.value) if event.value else None
    except (ValueError, RecursionError):
        data = None
    found = data.get("intent_id") if isinstance(data, dict) else None
    if isinstance(found, str) and _usable(found):
        return found
    key = event.key.decode("utf-8", "replace") if event.key else ""
    return key if _usable(key) else None


def _usable(intent_id: str) -> bool:
    """An id an outcome can carry: 1-200 characters of encodable text. JSON's "\\ud800" decodes
    to a lone surrogate, which no event may hold (building the answer failed)."""
    if not 0 < len(intent_id) <= MAX_ID_LENGTH:
        return False
    try:
        intent_id.encode()
    except UnicodeEncodeError:
        return False
    return True


async def send_failure(intent_id: str, kind: str, reason: str) -> None:
    """Publish the intent's IntentFailed (id ``outcome:<intent id>``, like any outcome)."""
    failed = failure_outcome(intent_id, kind, reason)
    await outcomes_topic.send(key=intent_id.encode(), value=failed.to_bytes())


async def answer_unreadable(event: Any, kind: str, reason: str) -> None:
    """Answer for a record of an intent that could not be read or handled at all."""
    intent_id = salvage_intent_id(event)
    if intent_id is not None:  # else nothing says who is waiting: the dead letter is all
        await send_failure(intent_id, kind, reason)
