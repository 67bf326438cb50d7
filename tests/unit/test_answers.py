"""Whom an unreadable record's answer names: its intent id when usable, else its key."""

from __future__ import annotations

from types import SimpleNamespace

from agents.answers import salvage_intent_id
from agents.outcome_assembly import failure_outcome


def record(value: bytes | None, key: bytes | None = b"the-key") -> SimpleNamespace:
    return SimpleNamespace(value=value, key=key)


def test_the_intent_id_in_the_value_comes_first() -> None:
    assert salvage_intent_id(record(b'{"intent_id": "i-1", "text": 5}')) == "i-1"


def test_without_a_usable_intent_id_the_key_names_the_submitter() -> None:
    assert salvage_intent_id(record(b"not json")) == "the-key"
    assert salvage_intent_id(record(b'{"intent_id": 12}')) == "the-key"
    assert salvage_intent_id(record(b'{"intent_id": "' + b"x" * 201 + b'"}')) == "the-key"
    assert salvage_intent_id(record(b'{"intent_id": ""}', key=None)) is None


def test_an_intent_id_with_a_lone_surrogate_falls_back_to_the_key() -> None:
    # Valid JSON whose id no event can carry: the answer used to fail to build, so the
    # submitter got none although the record's key names them.
    found = salvage_intent_id(record(b'{"intent_id": "i-\\ud800"}'))
    assert found == "the-key"
    assert failure_outcome(found, "schema_violation", "r").intent_id == "the-key"
