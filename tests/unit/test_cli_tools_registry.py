"""`toolwise tools ...`: what each change publishes, what it refuses, and what `list` shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interfaces.cli_tools import (
    Refused,
    configured_registry,
    history_rows,
    plan_activate,
    plan_canary,
    plan_deprecate,
    plan_rollback,
    tool_rows,
)
from models.events import Event
from models.registry import (
    NodeAdded,
    ToolCanarySet,
    ToolRegistered,
    ToolRolledBack,
    ToolVersionActivated,
    registry_key,
)
from streams.settings import Settings
from tools.mesh.catalog import RegistryState
from tools.testing import make_spec

TOOL = "units.convert"


def fold(*events: Event) -> RegistryState:
    state = RegistryState()
    for event in events:
        state.apply_record(registry_key(event), event.model_dump(mode="json"))
    return state


def two_versions(*more: Event) -> RegistryState:
    return fold(
        NodeAdded(node="a", server="units", endpoint="http://a/mcp", shared=True),
        NodeAdded(node="b", server="units-v2", endpoint="http://b/mcp", shared=True),
        ToolRegistered(spec=make_spec("units", "convert", version="1"), node="a"),
        ToolRegistered(spec=make_spec("units", "convert", version="2"), node="b"),
        *more,
    )


def test_activate_names_what_is_registered_when_the_tool_or_version_is_unknown() -> None:
    state = two_versions()
    with pytest.raises(Refused, match=r"no tool 'units.nope'.*registered: units.convert"):
        plan_activate(state, "units.nope", "1")
    with pytest.raises(Refused, match=r"no version '3'; registered: 1, 2"):
        plan_activate(state, TOOL, "3")
    # The first registered version is active by default; activating it makes that explicit.
    explicit = plan_activate(state, TOOL, "1")
    assert isinstance(explicit, ToolVersionActivated)
    assert plan_activate(fold(*_events(two_versions(explicit))), TOOL, "1") is None  # no change
    event = plan_activate(state, TOOL, "2")
    assert isinstance(event, ToolVersionActivated)
    assert (event.version, event.previous) == ("2", "1")


def test_canary_share_is_checked_and_never_the_active_version() -> None:
    state = two_versions()
    with pytest.raises(Refused, match="between 0 and 1"):
        plan_canary(state, TOOL, "2", 10.0)
    with pytest.raises(Refused, match="is the active version"):
        plan_canary(state, TOOL, "1", 0.1)
    event = plan_canary(state, TOOL, "2", 0.1)
    assert isinstance(event, ToolCanarySet) and event.share == 0.1


def test_rollback_ends_a_canary_first_then_returns_to_the_previous_version() -> None:
    with pytest.raises(Refused, match="nothing to roll back to"):
        plan_rollback(two_versions(), TOOL)
    canary = plan_rollback(two_versions(ToolCanarySet(tool=TOOL, version="2", share=0.1)), TOOL)
    assert isinstance(canary, ToolRolledBack)
    assert (canary.from_version, canary.to_version) == ("2", "1")
    activated = two_versions(ToolVersionActivated(tool=TOOL, version="2", previous="1"))
    back = plan_rollback(activated, TOOL)
    assert isinstance(back, ToolRolledBack)
    assert (back.from_version, back.to_version) == ("2", "1")
    after = fold(*_events(activated), back)
    assert after.active(TOOL) == "1"


def _events(state: RegistryState) -> list[Event]:
    return [
        NodeAdded(node="a", server="units", endpoint="http://a/mcp", shared=True),
        NodeAdded(node="b", server="units-v2", endpoint="http://b/mcp", shared=True),
        *state.history(TOOL),
    ]


def test_list_rows_show_each_versions_role_and_its_nodes_health() -> None:
    state = two_versions(ToolCanarySet(tool=TOOL, version="2", share=0.25))
    health: dict[str, Any] = {"b": {"status": "degraded", "latency_ewma_ms": 812.0}}
    [row] = tool_rows(state, health, None)
    assert row["active"] == "1" and row["canary"] == {"version": "2", "share": 0.25}
    v1, v2 = row["versions"]
    assert (v1["state"], v2["state"]) == ("active", "canary 25%")
    assert v1["nodes"][0]["status"] is None  # never probed yet
    assert (v2["nodes"][0]["status"], v2["nodes"][0]["latency_ewma_ms"]) == ("degraded", 812.0)
    deprecated = tool_rows(fold(*_events(state), plan_deprecate(state, TOOL, "2")), health, None)[
        0
    ]["versions"][1]
    assert deprecated["state"] == "deprecated"


def test_history_rows_give_each_registration_its_version() -> None:
    state = two_versions(ToolVersionActivated(tool=TOOL, version="2", previous="1"))
    rows = history_rows(state, TOOL)
    assert [(r["type"], r.get("version")) for r in rows] == [
        ("ToolRegistered", "1"),
        ("ToolRegistered", "2"),
        ("ToolVersionActivated", "2"),
    ]
    assert "spec" not in rows[0]


async def test_without_a_registry_list_shows_what_the_configured_servers_list(
    tmp_path: Path,
) -> None:
    config = tmp_path / "tools.toml"
    config.write_text(
        '[servers.sim]\ntransport = "inprocess"\n'
        'factory = "tools.servers.simulated:build_server"\n'
        'kwargs = { tools = [{ name = "only", median_ms = 0 }] }\n'
        '[servers.sim.tools.only]\nversion = "7"\n'
    )
    state = await configured_registry(Settings(tools_config=config))
    [row] = tool_rows(state, {}, None)
    assert row["tool"] == "sim.only" and row["active"] == "7"
    assert [n["node"] for n in row["versions"][0]["nodes"]] == ["sim"]
