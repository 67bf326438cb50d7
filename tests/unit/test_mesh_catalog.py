"""The registry topic folded: versions, nodes, activation, canary, rollback, history."""

from __future__ import annotations

from typing import Any

from models.events import Event
from models.registry import (
    NodeAdded,
    NodeRemoved,
    ToolCanarySet,
    ToolDeprecated,
    ToolRegistered,
    ToolRolledBack,
    ToolVersionActivated,
    ToolWithdrawn,
    registry_key,
)
from tools.mesh.catalog import RegistryState
from tools.testing import make_spec

TOOL = "units.convert"


def registered(version: str, node: str, **fields: Any) -> ToolRegistered:
    return ToolRegistered(spec=make_spec("units", "convert", version=version, **fields), node=node)


def fold(*events: Event) -> RegistryState:
    state = RegistryState()
    for event in events:
        state.apply_record(registry_key(event), event.model_dump(mode="json"))
    return state


def test_the_first_registered_version_is_active_until_another_is_activated() -> None:
    state = fold(registered("1", "a"), registered("2", "b"))
    assert [v.spec.version for v in state.versions(TOOL)] == ["1", "2"]
    assert state.active(TOOL) == "1" and state.nodes(TOOL, "2") == ["b"]
    state = fold(
        registered("1", "a"), registered("2", "b"), ToolVersionActivated(tool=TOOL, version="2")
    )
    assert state.active(TOOL) == "2"
    assert state.routing(TOOL).previous == ["1"]


def test_rollback_restores_the_previous_version_and_ends_a_canary() -> None:
    activated = ToolVersionActivated(tool=TOOL, version="2")
    back = ToolRolledBack(tool=TOOL, from_version="2", to_version="1")
    state = fold(registered("1", "a"), registered("2", "b"), activated, back)
    assert state.active(TOOL) == "1" and state.routing(TOOL).previous == []
    assert [type(e).__name__ for e in state.history(TOOL)] == [
        "ToolRegistered",
        "ToolRegistered",
        "ToolVersionActivated",
        "ToolRolledBack",
    ]
    canary = ToolCanarySet(tool=TOOL, version="2", share=0.1)
    state = fold(registered("1", "a"), registered("2", "b"), canary)
    assert state.canary(TOOL) == ("2", 0.1)
    state.apply(ToolRolledBack(tool=TOOL, from_version="2", to_version="1"))
    assert state.canary(TOOL) is None and state.active(TOOL) == "1"


def test_a_pin_wins_and_a_canary_takes_its_share() -> None:
    state = fold(
        registered("1", "a"), registered("2", "b"), ToolCanarySet(tool=TOOL, version="2", share=0.5)
    )
    chosen = [state.version_for(TOOL, f"i{n}") for n in range(400)]
    assert 0.4 < chosen.count("2") / 400 < 0.6
    assert state.version_for(TOOL, "i1", pinned="1") == "1"


def test_a_version_nobody_serves_gives_way_and_deprecated_versions_take_no_unpinned_calls() -> None:
    # A node now lists version 2 instead of 1 (its server was upgraded): 2 serves.
    state = fold(registered("1", "a"), registered("2", "a"))
    assert state.nodes(TOOL, "1") == [] and state.active(TOOL) == "2"
    state = fold(
        registered("1", "a"),
        registered("2", "b"),
        ToolVersionActivated(tool=TOOL, version="2"),
        ToolWithdrawn(tool=TOOL, version="2", node="b"),
    )
    assert state.active(TOOL) == "1"
    state = fold(registered("1", "a"), registered("2", "b"), ToolDeprecated(tool=TOOL, version="1"))
    assert state.active(TOOL) == "2"


def test_compaction_keeps_the_latest_record_per_key_and_a_tombstone_forgets() -> None:
    state = fold(registered("1", "a"), NodeAdded(node="a", server="units", endpoint="http://x"))
    assert state.node("a") is not None
    state.apply_record("node|a", NodeRemoved(node="a").model_dump(mode="json"))
    assert state.node("a") is None
    state.apply_record(registry_key(registered("1", "a")), None)
    assert state.nodes(TOOL, "1") == []


def test_registering_again_what_is_known_adds_no_history() -> None:
    state = fold(registered("1", "a"), registered("1", "a"), registered("1", "b"))
    assert len(state.history(TOOL)) == 2  # a, then b: the repeat on a is no news
    assert state.nodes(TOOL, "1") == ["a", "b"]


def test_records_that_are_not_registry_events_are_skipped() -> None:
    state = RegistryState()
    state.apply_record("x", {"type": "Nonsense"})
    assert state.tool_names() == []
