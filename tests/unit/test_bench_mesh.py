"""The mesh bench's outage arithmetic: downtime within the load window, both nodes down."""

from __future__ import annotations

from typing import Any

import pytest

from bench.mesh import both_down, clipped, down_within, status_changes


def test_downtime_is_counted_within_the_window_only() -> None:
    outages = [(0.0, 2.0), (5.0, 9.0), (20.0, 30.0)]
    assert down_within(outages, 1.0, 25.0) == pytest.approx(1.0 + 4.0 + 5.0)
    assert clipped(outages, 1.0, 25.0) == [(1.0, 2.0), (5.0, 9.0), (20.0, 25.0)]
    assert clipped(outages, 10.0, 15.0) == []


def test_both_down_is_the_overlap_of_the_two_nodes_outages() -> None:
    a = [(0.0, 4.0), (10.0, 12.0)]
    b = [(3.0, 11.0)]
    assert both_down(a, b) == pytest.approx(1.0 + 1.0)
    assert both_down(b, a) == pytest.approx(2.0)
    assert both_down(a, []) == 0.0


def test_status_changes_are_counted_per_node_and_transition() -> None:
    def changed(node: str, before: str | None, after: str) -> dict[str, object]:
        value = {"type": "NodeStatusChanged", "node": node, "before": before, "after": after}
        return {"value": {**value, "reason": "slow" if after == "degraded" else ""}}

    records: list[dict[str, Any]] = [
        changed("sim@h:1", None, "online"),
        {"value": {"type": "ToolRegistered", "node": "sim@h:1"}},
        changed("sim@h:1", "online", "degraded"),
        changed("sim@h:1", "degraded", "online"),
        changed("sim@h:1", "online", "degraded"),
        changed("sim@h:2", "online", "offline"),
    ]
    assert status_changes(records, {"sim@h:1": "a"}) == {
        "a": {"None->online": 1, "degraded->online": 1, "online->degraded": 2},
        "sim@h:2": {"online->offline": 1},
        "degraded_because": {"a: slow": 2},
    }
