"""Node health from probes and calls: hysteresis between ONLINE, DEGRADED and OFFLINE."""

from __future__ import annotations

from models.registry import NodeProbed, NodeStatus
from models.tools import ErrorKind
from tools.mesh.health import NodeHealth, Observation, observe, probe_due
from tools.mesh.policy import MeshPolicy

POLICY = MeshPolicy(
    offline_after_failures=3,
    online_after_successes=2,
    degraded_latency_ms=100.0,
    degraded_failure_rate=0.2,
    latency_alpha=0.5,
    failure_alpha=0.1,
)


def run(health: NodeHealth, outcomes: list[tuple[bool, float | None]]) -> list[NodeStatus]:
    """The statuses after each outcome, observed 1 s apart after the last one folded."""
    statuses = []
    for at, (ok, latency) in enumerate(outcomes, start=int(health.updated_at) + 1):
        health = observe(
            health, Observation(ok, latency, float(at), None if ok else "refused"), POLICY
        )
        statuses.append(health.status)
    return statuses


def test_a_node_goes_offline_only_after_consecutive_failures() -> None:
    statuses = run(
        NodeHealth(), [(False, None), (True, 5.0), (False, None), (False, None), (False, None)]
    )
    assert statuses == [
        NodeStatus.ONLINE,
        NodeStatus.ONLINE,
        NodeStatus.ONLINE,
        NodeStatus.DEGRADED,  # 3 failures of 5 pass the failure-rate threshold first
        NodeStatus.OFFLINE,
    ]


def test_an_offline_node_needs_consecutive_successes_to_come_back_and_comes_back_online() -> None:
    offline = NodeHealth()
    for at in range(3):
        offline = observe(offline, Observation(False, None, float(at), "refused"), POLICY)
    assert offline.status is NodeStatus.OFFLINE and offline.last_error == "refused"
    # One success between failures is not enough (flapping), two in a row are; the failures
    # that took it down do not keep it DEGRADED afterwards.
    statuses = run(offline, [(True, 5.0), (False, None), (True, 5.0), (True, 5.0)])
    assert statuses == [
        NodeStatus.OFFLINE,
        NodeStatus.OFFLINE,
        NodeStatus.OFFLINE,
        NodeStatus.ONLINE,
    ]


def test_a_slow_node_is_degraded_and_recovers_only_well_below_the_threshold() -> None:
    health = NodeHealth()
    statuses = run(health, [(True, 50.0), (True, 300.0), (True, 90.0), (True, 80.0), (True, 60.0)])
    # EWMA (alpha 0.5): 50, 175, 132.5, 106, 83 -- DEGRADED above 100 ms, ONLINE again only
    # below 80 ms (recovery_ratio 0.8): 83 ms is between, so it stays DEGRADED.
    assert statuses == [
        NodeStatus.ONLINE,
        NodeStatus.DEGRADED,
        NodeStatus.DEGRADED,
        NodeStatus.DEGRADED,
        NodeStatus.DEGRADED,
    ]
    final = run(
        health,
        [(True, 50.0), (True, 300.0), (True, 90.0), (True, 80.0), (True, 60.0), (True, 40.0)],
    )
    assert final[-1] is NodeStatus.ONLINE  # 61.5 ms


def test_timeouts_count_as_latency_refused_connections_do_not() -> None:
    timeout = NodeProbed(node="n", ok=False, latency_ms=2000.0, error_kind=ErrorKind.TIMEOUT)
    refused = NodeProbed(node="n", ok=False, latency_ms=1.0, error_kind=ErrorKind.CONNECTION)
    assert Observation.of(timeout).latency_ms == 2000.0
    assert Observation.of(refused).latency_ms is None
    slow = observe(NodeHealth(), Observation.of(timeout), POLICY)
    assert slow.status is NodeStatus.DEGRADED and slow.latency_ms == 2000.0


def test_fast_probes_do_not_hide_slow_calls() -> None:
    health = NodeHealth()
    for at in range(3):
        health = observe(health, Observation(True, 400.0, float(at)), POLICY)  # calls
    for at in range(3, 20):
        health = observe(health, Observation(True, 2.0, float(at), probe=True), POLICY)
    assert health.status is NodeStatus.DEGRADED
    assert health.latency_ewma_ms is not None and health.latency_ewma_ms > 300
    assert health.latency_ms == health.latency_ewma_ms
    assert health.probe_latency_ewma_ms == 2.0


def test_health_survives_the_table_as_json() -> None:
    health = observe(NodeHealth(), Observation(False, None, 1.0, "boom"), POLICY)
    assert NodeHealth.from_record(health.to_record()) == health
    assert NodeHealth.from_record(None) == NodeHealth()


def test_offline_nodes_are_due_for_a_probe_more_often_than_the_others() -> None:
    policy = MeshPolicy(probe_interval_s=2.0, offline_probe_interval_s=0.5)
    assert probe_due(NodeStatus.ONLINE, None, 0.0, policy)  # never probed
    assert probe_due(None, None, 0.0, policy)
    assert not probe_due(NodeStatus.ONLINE, 10.0, 10.5, policy)
    assert not probe_due(NodeStatus.DEGRADED, 10.0, 11.5, policy)
    assert probe_due(NodeStatus.ONLINE, 10.0, 11.8, policy)  # a tick a little early still counts
    assert probe_due(NodeStatus.OFFLINE, 10.0, 10.5, policy)
    assert not probe_due(NodeStatus.OFFLINE, 10.0, 10.2, policy)
    # An "offline" interval longer than the regular one is not a reason to probe less often.
    slow = MeshPolicy(probe_interval_s=1.0, offline_probe_interval_s=3.0)
    assert probe_due(NodeStatus.OFFLINE, 10.0, 11.0, slow)


def test_a_success_that_arrives_after_later_failures_does_not_break_their_run() -> None:
    # Two failures at 10 and 11 s, then a success measured at 9.5 s that reached the table
    # late, then a third failure: three failures in a row, so OFFLINE.
    health = NodeHealth(updated_at=9.0)
    for at in (10.0, 11.0):
        health = observe(health, Observation(False, None, at, "refused"), POLICY)
    health = observe(health, Observation(True, 5.0, 9.5), POLICY)
    assert health.consecutive_failures == 2 and health.updated_at == 11.0
    assert health.latency_ewma_ms == 5.0 and health.observations == 3  # its latency counts
    health = observe(health, Observation(False, None, 12.0, "refused"), POLICY)
    assert health.status is NodeStatus.OFFLINE
    # Nor does a late success count towards coming back.
    health = observe(health, Observation(True, 5.0, 11.5), POLICY)
    health = observe(health, Observation(True, 5.0, 13.0), POLICY)
    assert health.status is NodeStatus.OFFLINE and health.consecutive_successes == 1
