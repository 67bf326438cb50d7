"""A node's health from its probes and calls: ONLINE / DEGRADED / OFFLINE with hysteresis.

Pure: ``observe(health, observation, policy)`` returns the next state. The node table
(``track-node-health``) folds every NodeProbed into it; what it concludes is the status the
executor routes by.

* OFFLINE after ``offline_after_failures`` consecutive failures (probes or calls that could
  not reach the node, timed out, or were refused as overloaded), and back only after
  ``online_after_successes`` consecutive successes.
* DEGRADED when a latency EWMA or the failure-rate EWMA passes its threshold, and ONLINE
  again only once all are below ``recovery_ratio`` of their thresholds.

An observation measured before the newest one folded (it arrived late) feeds the EWMAs only.

Calls and probes keep separate latency EWMAs: a tool listing and a tool's work take different
times, and mixing them would make a node's latency depend on how often it is probed. Calls'
latency is what routing weighs; the probes' stands in until a call has been measured.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from models.registry import NodeProbed, NodeStatus
from models.tools import ErrorKind
from tools.mesh.policy import MeshPolicy

# What says a node is unwell: it could not be reached, did not answer in time, or said it is
# overloaded. A tool's own error (bad input, a permanent failure) comes from a working node.
NODE_FAILURES = frozenset({ErrorKind.CONNECTION, ErrorKind.TIMEOUT, ErrorKind.TRANSIENT})


@dataclass(frozen=True)
class Observation:
    """One probe or call: did the node work, and how long it took (None: no latency sample,
    e.g. a refused connection, which says nothing about the node's speed)."""

    ok: bool
    latency_ms: float | None
    at: float
    error: str | None = None
    probe: bool = False  # a health check, not a real call

    @classmethod
    def of(cls, probe: NodeProbed) -> Observation:
        # A timeout is a latency sample (at least this slow); a refused connection is not.
        sampled = probe.ok or probe.error_kind is ErrorKind.TIMEOUT
        return cls(
            ok=probe.ok,
            latency_ms=probe.latency_ms if sampled else None,
            at=probe.occurred_at,
            error=None if probe.ok else (probe.error or str(probe.error_kind or "failed")),
            probe=probe.source == "probe",
        )


@dataclass(frozen=True)
class NodeHealth:
    """What the node table keeps per node."""

    status: NodeStatus = NodeStatus.ONLINE
    latency_ewma_ms: float | None = None  # of calls
    probe_latency_ewma_ms: float | None = None  # of probes
    failure_rate: float = 0.0
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    observations: int = 0
    last_error: str | None = None
    last_ok_at: float | None = None
    updated_at: float = 0.0
    reason: str = ""

    @property
    def latency_ms(self) -> float | None:
        """What a call to the node takes: the calls' EWMA, else the probes'."""
        return (
            self.latency_ewma_ms if self.latency_ewma_ms is not None else self.probe_latency_ewma_ms
        )

    def to_record(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value}

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> NodeHealth:
        if not record:
            return cls()
        fields = {k: v for k, v in record.items() if k in cls.__dataclass_fields__}
        fields["status"] = NodeStatus(fields.get("status", NodeStatus.ONLINE))
        return cls(**fields)


def observe(health: NodeHealth, seen: Observation, policy: MeshPolicy) -> NodeHealth:
    """The node's health after one more probe or call."""
    failures = 0 if seen.ok else health.consecutive_failures + 1
    successes = health.consecutive_successes + 1 if seen.ok else 0
    rate = health.failure_rate + policy.failure_alpha * (
        (0.0 if seen.ok else 1.0) - health.failure_rate
    )
    calls, probes = health.latency_ewma_ms, health.probe_latency_ewma_ms
    if seen.latency_ms is not None:
        if seen.probe:
            probes = _ewma(probes, seen.latency_ms, policy.latency_alpha)
        else:
            calls = _ewma(calls, seen.latency_ms, policy.latency_alpha)
    if seen.at < health.updated_at:
        # Measured before an outcome already folded in: calls' signals and probes reach the
        # table by different producer paths, so a success from just before a crash can land
        # after the crash's first failures. It counts in the EWMAs, but says nothing about the
        # node now: it must not break a run of failures (measured: such a success held crashed
        # nodes DEGRADED instead of OFFLINE) nor start a run of successes.
        return replace(
            health,
            latency_ewma_ms=calls,
            probe_latency_ewma_ms=probes,
            failure_rate=rate,
            observations=health.observations + 1,
            last_ok_at=max(health.last_ok_at or seen.at, seen.at) if seen.ok else health.last_ok_at,
        )
    after = replace(
        health,
        latency_ewma_ms=calls,
        probe_latency_ewma_ms=probes,
        failure_rate=rate,
        consecutive_failures=failures,
        consecutive_successes=successes,
        observations=health.observations + 1,
        last_error=health.last_error if seen.ok else seen.error,
        last_ok_at=seen.at if seen.ok else health.last_ok_at,
        updated_at=seen.at,
    )
    if not seen.ok and failures >= policy.offline_after_failures:
        reason = f"{failures} failures in a row, the last: {seen.error}"
        return replace(after, status=NodeStatus.OFFLINE, reason=reason)
    if health.status is NodeStatus.OFFLINE:
        if successes < policy.online_after_successes:
            return after
        # Back: the failures that made it OFFLINE are history, and must not hold it DEGRADED.
        after = replace(after, failure_rate=0.0)
        return _judged(after, NodeStatus.ONLINE, policy, f"{successes} successes in a row")
    return _judged(after, health.status, policy, "")


def probe_due(
    status: NodeStatus | None, last_probed: float | None, now: float, policy: MeshPolicy
) -> bool:
    """Is a node due for a probe now? OFFLINE ones every ``offline_probe_interval_s``, the
    others every ``probe_interval_s``. The probe timer ticks at the shorter of the two, so a
    node counts as due half a tick early: a tick a few ms early must not skip a round."""
    tick = min(policy.probe_interval_s, policy.offline_probe_interval_s)
    interval = tick if status is NodeStatus.OFFLINE else policy.probe_interval_s
    return last_probed is None or now - last_probed >= interval - tick / 2


def _ewma(current: float | None, sample: float, alpha: float) -> float:
    return sample if current is None else current + alpha * (sample - current)


def _judged(health: NodeHealth, current: NodeStatus, policy: MeshPolicy, why: str) -> NodeHealth:
    latency = max(health.latency_ewma_ms or 0.0, health.probe_latency_ewma_ms or 0.0)
    slow = latency > policy.degraded_latency_ms
    failing = health.failure_rate > policy.degraded_failure_rate
    if slow or failing:
        reasons = []
        if slow:
            reasons.append(f"latency EWMA {latency:.0f} ms > {policy.degraded_latency_ms:g} ms")
        if failing:
            reasons.append(
                f"failure rate {health.failure_rate:.2f} > {policy.degraded_failure_rate:g}"
            )
        return replace(health, status=NodeStatus.DEGRADED, reason="; ".join(reasons))
    if current is NodeStatus.DEGRADED:
        recovered = (
            latency <= policy.degraded_latency_ms * policy.recovery_ratio
            and health.failure_rate <= policy.degraded_failure_rate * policy.recovery_ratio
        )
        if not recovered:
            return health  # between the thresholds: stays DEGRADED (hysteresis)
        why = f"latency EWMA {latency:.0f} ms, failure rate {health.failure_rate:.2f}"
    if current is not NodeStatus.ONLINE or why:
        return replace(health, status=NodeStatus.ONLINE, reason=why or health.reason)
    return health
