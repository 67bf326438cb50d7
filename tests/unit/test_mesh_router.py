"""The router over test double nodes: versions, failover, no_healthy_node, circuit breaking."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from models.registry import NodeProbed, ToolRegistered, ToolVersionActivated, registry_key
from models.tools import CallResult, ErrorKind, ToolSpec
from tools.mesh.catalog import RegistryState
from tools.mesh.health import NodeHealth
from tools.mesh.policy import MeshPolicy
from tools.mesh.router import MeshRouter
from tools.registry import Node, ToolRegistry
from tools.testing import HandlerToolClient, make_spec

TOOL = "sim.echo"
OK = CallResult(ok=True, output="hi", latency_ms=3.0)
# Refused: the call never left, so another node may take it whatever the tool does.
LOST = CallResult(ok=False, error_kind=ErrorKind.CONNECTION, error="refused", sent=False)
TIMED_OUT = CallResult(ok=False, error_kind=ErrorKind.TIMEOUT, error="no answer in 5 s")
BROKEN = CallResult(ok=False, error_kind=ErrorKind.TOOL_ERROR, error="no")


class Clock:
    """Both of the router's clocks, and its sleep, which only moves them on."""

    def __init__(self) -> None:
        self.now = 100.0
        self.on_sleep: Callable[[float], None] = lambda _now: None

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.on_sleep(self.now)


class Node_:
    """A node double: answers from a script, counts calls."""

    def __init__(self, name: str, version: str = "1", answer: CallResult = OK) -> None:
        self.answer = answer
        self.calls = 0
        spec = make_spec("sim", "echo", version=version, input_schema={"type": "object"})
        self.spec = spec

        async def handler(
            spec: ToolSpec, arguments: dict[str, Any], timeout_s: float
        ) -> CallResult:
            self.calls += 1
            return self.answer

        self.client = HandlerToolClient(handler, [spec])
        self.node = Node(name, "sim", "sim", f"http://{name}", shared=True)


async def mesh(
    *nodes: Node_, health: dict[str, Any] | None = None, activate: str | None = None
) -> tuple[MeshRouter, list[NodeProbed], Clock]:
    registry = ToolRegistry(
        {n.node.id: n.client for n in nodes}, nodes={n.node.id: n.node for n in nodes}
    )
    await registry.start()
    catalog = RegistryState()
    for n in nodes:
        event = ToolRegistered(spec=n.spec, node=n.node.id)
        catalog.apply_record(registry_key(event), event.model_dump(mode="json"))
    if activate:
        catalog.apply(ToolVersionActivated(tool=TOOL, version=activate))
    emitted: list[NodeProbed] = []
    clock = Clock()
    router = MeshRouter(
        registry,
        catalog,
        health if health is not None else {},
        MeshPolicy(breaker_failures=2, breaker_cooldown_s=5.0),
        emitted.append,
        clock=clock,
        wall_clock=clock,
        rng=random.Random(1),
        sleep=clock.sleep,
    )
    return router, emitted, clock


async def test_a_lost_connection_fails_over_to_the_next_node_in_the_same_call() -> None:
    a, b = Node_("a", answer=LOST), Node_("b")
    router, emitted, _ = await mesh(a, b)
    results = [await router.call(f"{TOOL}@1", {}, timeout_s=5) for _ in range(6)]
    assert all(r.ok and r.node == "b" for r in results)
    assert a.calls >= 1 and b.calls == 6
    failures = [p for p in emitted if not p.ok]
    assert failures and {p.node for p in failures} == {"a"}
    assert all(p.source == "call" and p.error_kind is ErrorKind.CONNECTION for p in failures)


async def test_a_sent_call_that_timed_out_fails_over_only_if_the_tool_may_run_twice() -> None:
    a, b = Node_("a", answer=TIMED_OUT), Node_("b", answer=TIMED_OUT)
    router, _, _ = await mesh(a, b)
    result = await router.call(f"{TOOL}@1", {}, timeout_s=5)
    assert result.error_kind is ErrorKind.TIMEOUT and a.calls + b.calls == 1  # may have run
    router.may_repeat = lambda spec: spec.name == TOOL  # e.g. idempotent
    a.calls = b.calls = 0
    result = await router.call(f"{TOOL}@1", {}, timeout_s=5)
    assert a.calls == b.calls == 1 and "tried nodes" in (result.error or "")


async def test_the_breaker_stops_calls_to_a_failing_node_and_tries_it_after_the_cooldown() -> None:
    a, b = Node_("a", answer=LOST), Node_("b")
    router, _, clock = await mesh(a, b)
    for _ in range(20):
        await router.call(f"{TOOL}@1", {}, timeout_s=5)
    assert a.calls == 2  # breaker_failures=2, then open
    a.answer = OK
    clock.now += 5.0
    for _ in range(20):
        await router.call(f"{TOOL}@1", {}, timeout_s=5)
    assert a.calls > 3  # one trial closed the circuit; it takes its share again


def offline_record(at: float) -> dict[str, Any]:
    return NodeHealth.from_record(
        {"status": "offline", "updated_at": at, "last_error": "refused"}
    ).to_record()


async def test_every_node_offline_waits_node_wait_s_then_fails_with_no_healthy_node() -> None:
    a, b = Node_("a"), Node_("b")
    health = {"a": offline_record(100.0), "b": offline_record(100.0)}
    router, _, clock = await mesh(a, b, health=health)
    result = await router.call(f"{TOOL}@1", {}, timeout_s=8)
    assert result.error_kind is ErrorKind.NO_HEALTHY_NODE
    assert "a: offline, last error: refused" in (result.error or "")
    assert clock.now == pytest.approx(100.0 + MeshPolicy().node_wait_s)  # waited, then gave up
    assert a.calls == b.calls == 0
    assert not router.available(TOOL)
    short = await router.call(f"{TOOL}@1", {}, timeout_s=2)  # never past the attempt's timeout
    assert short.error_kind is ErrorKind.NO_HEALTHY_NODE and "waited 2.0 s" in (short.error or "")
    clock.now += 31.0  # nobody has updated the status since: it is stale, and ignored
    assert (await router.call(f"{TOOL}@1", {}, timeout_s=5)).ok


async def test_a_call_waiting_for_a_node_takes_it_as_soon_as_it_is_back() -> None:
    a = Node_("a")
    health = {"a": offline_record(100.0)}
    router, _, clock = await mesh(a, health=health)

    def back_at_101_5(now: float) -> None:  # the node table sees the restarted node
        if now >= 101.5:
            health["a"] = NodeHealth(updated_at=now, last_ok_at=now).to_record()

    clock.on_sleep = back_at_101_5
    result = await router.call(f"{TOOL}@1", {}, timeout_s=10)
    assert result.ok and result.node == "a" and a.calls == 1
    assert 101.5 <= clock.now < 102.0


async def test_a_success_seen_after_a_circuit_opened_ends_its_cooldown() -> None:
    a, b = Node_("a", answer=LOST), Node_("b", answer=LOST)
    health: dict[str, Any] = {}
    router, _, clock = await mesh(a, b, health=health)
    for _ in range(4):
        await router.call(f"{TOOL}@1", {}, timeout_s=0.5)
    assert a.calls == b.calls == 2  # both circuits open (breaker_failures=2) at 100.0
    a.answer = b.answer = OK
    clock.now = 101.0
    # a: a probe succeeded after its circuit opened; b: its last success is older.
    health["a"] = NodeHealth(updated_at=100.5, last_ok_at=100.5).to_record()
    health["b"] = NodeHealth(updated_at=100.5, last_ok_at=99.0).to_record()
    result = await router.call(f"{TOOL}@1", {}, timeout_s=0.5)
    assert result.ok and result.node == "a" and b.calls == 2


async def test_tool_errors_are_not_failed_over() -> None:
    a, b = Node_("a", answer=BROKEN), Node_("b", answer=BROKEN)
    router, emitted, _ = await mesh(a, b)
    result = await router.call(f"{TOOL}@1", {}, timeout_s=5)
    assert result.error_kind is ErrorKind.TOOL_ERROR and a.calls + b.calls == 1
    assert [p.ok for p in emitted] == [True]  # the node answered: it is healthy


async def test_versions_go_to_their_own_nodes_and_unknown_versions_are_refused() -> None:
    v1, v2 = Node_("a", version="1"), Node_("b", version="2")
    router, _, _ = await mesh(v1, v2, activate="2")
    assert router.resolve(TOOL, "any") == (TOOL, "2")
    assert router.resolve(f"{TOOL}@1", "any") == (TOOL, "1")
    assert (await router.call(f"{TOOL}@1", {}, timeout_s=5)).node == "a"
    assert (await router.call(TOOL, {}, timeout_s=5)).node == "b"
    missing = await router.call(f"{TOOL}@7", {}, timeout_s=5)
    assert missing.error_kind is ErrorKind.UNKNOWN_TOOL
    assert "registered: 1, 2" in (missing.error or "")


async def test_a_probe_reports_a_node_that_does_not_answer() -> None:
    a = Node_("a")

    async def refuse() -> list[ToolSpec]:
        raise ConnectionRefusedError("refused")

    router, _, _ = await mesh(a)
    ok = await router.probe("a")
    assert ok.ok and ok.source == "probe"
    a.client.list_tools = refuse  # type: ignore[method-assign]
    down = await router.probe("a")
    assert (
        not down.ok and down.error_kind is ErrorKind.CONNECTION and "refused" in (down.error or "")
    )


async def test_a_bad_timeout_is_the_callers_bug() -> None:
    router, _, _ = await mesh(Node_("a"))
    with pytest.raises(ValueError, match="timeout_s"):
        await router.call(TOOL, {}, timeout_s=0)
