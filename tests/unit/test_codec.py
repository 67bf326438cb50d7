"""Edge validation: every unusable message gets a kind and a reason."""

from __future__ import annotations

import base64
import json

import pytest

from models import IntentSubmitted
from models.codec import InvalidMessage, dead_letter, decode

LIMIT = 1000


def kind_of(raw: bytes | None) -> str:
    with pytest.raises(InvalidMessage) as info:
        decode(raw, IntentSubmitted, LIMIT)
    return info.value.kind


def test_minimal_intent_from_any_client_decodes() -> None:
    intent = decode(b'{"text": "calculate 1+1"}', IntentSubmitted, LIMIT)
    assert intent.text == "calculate 1+1" and intent.intent_id and intent.schema_version == 1


def test_unknown_fields_are_ignored_so_newer_clients_still_work() -> None:
    assert decode(b'{"text": "x", "future": 1}', IntentSubmitted, LIMIT).text == "x"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"{not json", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b"[1, 2]", "schema_violation"),
        (b'{"text": ""}', "schema_violation"),
        (b'{"arguments": {}}', "schema_violation"),
        (b'{"type": "PlanCreated", "text": "x"}', "schema_violation"),
        (None, "empty"),
        (json.dumps({"text": "x" * 2000}).encode(), "oversized"),
    ],
)
def test_each_bad_message_has_its_kind(raw: bytes | None, kind: str) -> None:
    assert kind_of(raw) == kind


def test_schema_violation_reason_names_the_field() -> None:
    with pytest.raises(InvalidMessage) as info:
        decode(b'{"text": "x", "max_cost": -1}', IntentSubmitted, LIMIT)
    assert "max_cost" in info.value.reason


def test_dead_letter_keeps_the_raw_bytes_and_the_source_position() -> None:
    raw = b"\x00garbage\xff"
    letter = dead_letter(
        raw, kind="malformed_json", reason="r", topic="t", partition=2, offset=9, key=b"k"
    )
    assert base64.b64decode(letter.raw_b64) == raw
    assert (letter.source_topic, letter.partition, letter.offset, letter.key) == ("t", 2, 9, "k")
    assert letter.event_id == "dlq:t:2:9"
