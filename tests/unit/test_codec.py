"""Edge validation: every unusable message gets a kind and a reason."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from models import IntentSubmitted
from models.codec import DEAD_LETTER_RAW_MAX, InvalidMessage, dead_letter, decode, json_depth

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


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b'{"text": "x", "max_cost": 1e400}', "non_finite_number"),
        (b'{"text": "x", "arguments": {"a": Infinity}}', "non_finite_number"),
        (b'{"text": "x", "arguments": {"a": -Infinity}}', "non_finite_number"),
        (b'{"text": "x", "arguments": {"a": NaN}}', "non_finite_number"),
        (b'{"text": "x", "arguments": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}", "too_deep"),
        (b'{"text": "x", "arguments": {"a": ' + b"[" * 40 + b"]" * 40 + b"}}", "too_deep"),
        (b'{"text": "x", "arguments": {"a": 1' + b"0" * 5000 + b"}}", "malformed_json"),
    ],
)
def test_numbers_that_are_not_finite_and_deep_nesting_are_refused_at_the_edge(
    raw: bytes, kind: str
) -> None:
    with pytest.raises(InvalidMessage) as info:
        decode(raw, IntentSubmitted, 1_000_000)
    assert info.value.kind == kind


def test_nesting_within_the_limit_decodes() -> None:
    nested = b"[" * 20 + b"]" * 20
    intent = decode(b'{"text": "x", "arguments": {"a": ' + nested + b"}}", IntentSubmitted, 10**6)
    assert json_depth(intent.arguments) == 21


def test_a_dead_letter_of_a_huge_message_keeps_its_size_hash_and_a_prefix() -> None:
    raw = b"{" + b"x" * (8 * 1024 * 1024)
    letter = dead_letter(
        raw, kind="oversized", reason="r", topic="t", partition=0, offset=1, key=b"k"
    )
    kept = base64.b64decode(letter.raw_b64)
    assert raw.startswith(kept) and len(kept) == DEAD_LETTER_RAW_MAX
    assert letter.raw_truncated and letter.raw_size == len(raw)
    assert letter.raw_sha256 == hashlib.sha256(raw).hexdigest()
    assert len(letter.to_bytes()) < 2 * DEAD_LETTER_RAW_MAX


def test_a_small_dead_letter_keeps_every_byte() -> None:
    letter = dead_letter(b"abc", kind="k", reason="r", topic="t", partition=0, offset=1, key=None)
    assert base64.b64decode(letter.raw_b64) == b"abc" and not letter.raw_truncated
