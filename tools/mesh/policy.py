"""MeshPolicy: how nodes are probed, judged, broken and chosen; every default says why."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MeshPolicy(BaseModel):
    """Node health, circuit breaking and node choice (``TOOLWISE_MESH__<FIELD>``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    probe_interval_s: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="How often the leader worker probes every shared node (an MCP tool listing). "
        "With offline_after_failures=3 a dead node nobody calls is OFFLINE within about 6 s.",
    )
    probe_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="A probe slower than this fails: a tool listing is one small JSON answer, "
        "so 2 s is far beyond a healthy server and still below a human's patience.",
    )
    offline_after_failures: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Consecutive failed probes or calls that make a node OFFLINE: one lost "
        "packet or restart blip is not an outage.",
    )
    online_after_successes: int = Field(
        default=2,
        ge=1,
        le=100,
        description="Consecutive successes an OFFLINE node needs to take traffic again, so a "
        "node flapping between up and down is not handed calls at every up.",
    )
    latency_alpha: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Weight of the newest latency in the EWMA: 0.2 follows a change within "
        "about 10 observations and smooths single outliers.",
    )
    failure_alpha: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Weight of the newest outcome in the failure-rate EWMA (0 or 1 each): "
        "0.1 is about the last 20 observations.",
    )
    degraded_latency_ms: float = Field(
        default=1000.0,
        gt=0,
        description="A node whose latency EWMA passes this is DEGRADED (slow).",
    )
    degraded_failure_rate: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="A node whose failure-rate EWMA passes this is DEGRADED (failing some calls).",
    )
    recovery_ratio: float = Field(
        default=0.8,
        gt=0,
        lt=1,
        description="Hysteresis: a DEGRADED node is ONLINE again only once both EWMAs are below "
        "this share of their thresholds, so a node near a threshold does not flap.",
    )
    status_stale_after_s: float = Field(
        default=30.0,
        gt=0,
        description="A node status older than this is ignored (nobody probes it: the leader "
        "is gone or does not know the node), so an OFFLINE mark cannot outlive its evidence; "
        "the local circuit breaker still protects calls.",
    )
    breaker_failures: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Consecutive failed calls from this worker that open a node's circuit: "
        "as many as make it OFFLINE, but seen at once, without waiting for the node table.",
    )
    breaker_cooldown_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="How long an open circuit refuses calls before one trial call "
        "(half-open); 5 s is a typical server restart here.",
    )
    node_wait_s: float = Field(
        default=5.0,
        ge=0,
        le=3600,
        description="How long a call waits, within its attempt's timeout, for a node of its "
        "tool to become usable when none is (all OFFLINE or their circuits open) before it "
        "fails with no_healthy_node: a crashed node restarted by its supervisor is back in a "
        "few seconds (process start plus a probe), and failing at once would spend the step's "
        "attempts in under a second, long before any restart. 0: fail at once.",
    )
    offline_probe_interval_s: float = Field(
        default=0.5,
        gt=0,
        le=3600,
        description="How often the leader probes a node that is OFFLINE (at most "
        "probe_interval_s): a refused connection costs a millisecond, and every second an "
        "OFFLINE node goes unnoticed after its restart is a second it takes no calls.",
    )
    degraded_weight: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Traffic weight of a DEGRADED node relative to an ONLINE one of the same "
        "latency: it keeps some calls, so its recovery is seen, but a tenth of its share.",
    )
    latency_floor_ms: float = Field(
        default=1.0,
        gt=0,
        description="Latencies below this count as this in node weights (1/latency): 0.2 ms "
        "and 0.4 ms nodes are equally fast for any caller going through Kafka.",
    )
