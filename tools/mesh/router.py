"""MeshRouter: each call to the version the registry chooses, on the best node, failing over.

The worker's tool calls go through ``call(ref, arguments, timeout_s)``, where ``ref`` is
``name@version`` (the step runner resolves the version first, so it can record it):

1. the nodes serving that version, from the registry (``tools.mesh.catalog``), that this
   worker has a client for;
2. without OFFLINE ones (the node table's status, ignored once stale) and those whose circuit
   is open on this worker (``tools.mesh.breaker``);
3. drawn by weight, healthy and fast first (``tools.mesh.routing``), the next ones in order
   as the failover list: a call that could not be sent, or that timed out or lost its
   connection on a tool safe to repeat (``may_repeat``), goes on to the next node within the
   same attempt's time, without counting as another attempt;
4. none left: the call waits up to ``policy.node_wait_s`` (within its timeout) for one to
   become usable (a probe or another worker's call sees it back, or a circuit's cool-down
   ends), then ``no_healthy_node``.

A circuit opened by this worker's calls goes half-open as soon as the node table shows a
success after it opened (a probe of the restarted node), rather than at its cool-down's end.

Every call to a node feeds this worker's breaker and latency estimate, and for shared nodes
(HTTP endpoints all workers call) a NodeProbed for the node table.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from models.registry import NodeProbed, NodeStatus
from models.tools import CallResult, ErrorKind, ToolSpec, split_ref
from tools.mesh.breaker import CircuitBreaker, CircuitState
from tools.mesh.catalog import RegistryState
from tools.mesh.health import NODE_FAILURES, NodeHealth, Observation, observe
from tools.mesh.policy import MeshPolicy
from tools.mesh.routing import NodeChoice, order_nodes
from tools.registry import ToolRegistry

log = logging.getLogger(__name__)

# A node call that ignores its own timeout is abandoned this much later (the MCP client
# normally cancels the call on the server at the timeout itself).
_NODE_GRACE_S = 0.5
# Failing over on these: the node, not the request, is the problem, and another node may
# answer within the same attempt.
_FAILOVER = frozenset({ErrorKind.CONNECTION, ErrorKind.TIMEOUT})
# Results that say nothing about the node (refused before sending, or not the node's doing).
_NOT_ABOUT_THE_NODE = frozenset(
    {ErrorKind.INVALID_ARGUMENTS, ErrorKind.UNKNOWN_TOOL, ErrorKind.PROCESSING_ERROR}
)

# How often a call waiting for a usable node looks again: a dict lookup per node, so cheap;
# a tenth of a second is nothing beside a restart of seconds.
_WAIT_POLL_S = 0.1

Emit = Callable[[NodeProbed], None]


def _never(_spec: ToolSpec) -> bool:
    return False


def _failed(kind: ErrorKind, message: str) -> CallResult:
    return CallResult(ok=False, error_kind=kind, error=message)


class MeshRouter:
    def __init__(
        self,
        registry: ToolRegistry,
        catalog: RegistryState,
        health: Mapping[str, Any],
        policy: MeshPolicy,
        emit: Emit = lambda _probe: None,
        *,
        worker: str = "",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``health``: node -> the node table's record (``NodeHealth.to_record``), kept
        current by the caller (a replica of the table's changelog)."""
        self.registry = registry
        self.catalog = catalog
        self.health = health
        self.policy = policy
        self.emit = emit
        self.worker = worker
        self._clock = clock
        self._wall = wall_clock
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._breakers: dict[str, CircuitBreaker] = {}
        self._local: dict[str, NodeHealth] = {}  # this worker's own view, from its calls
        # May a call that was sent and then timed out or lost its connection run again on
        # another node? Not unless the tool says repeating it is harmless (the worker sets
        # agents.tool_policy.retry_safe); a call that never left goes to the next node anyway.
        self.may_repeat: Callable[[ToolSpec], bool] = _never

    # --- versions --------------------------------------------------------------------------

    def resolve(self, ref: str, intent_id: str) -> tuple[str, str]:
        """(tool name, version) that serve this intent's call to ``ref`` (a name, or a
        ``name@version`` pin)."""
        name, pinned = split_ref(ref)
        version = self.catalog.version_for(name, intent_id, pinned)
        if version is None:  # not in the registry (yet): what this worker listed
            spec = self.registry.get(name)
            version = spec.version if spec is not None else "1"
        return name, version

    # --- nodes -----------------------------------------------------------------------------

    def breaker(self, node: str) -> CircuitBreaker:
        breaker = self._breakers.get(node)
        if breaker is None:
            breaker = CircuitBreaker(self.policy.breaker_failures, self.policy.breaker_cooldown_s)
            self._breakers[node] = breaker
        return breaker

    def node_health(self, node: str) -> NodeHealth:
        """The node table's view of a shared node while it is fresh, else this worker's."""
        info = self.registry.nodes().get(node)
        if info is not None and info.shared:
            record = self.health.get(node)
            if record is not None:
                shared = NodeHealth.from_record(record)
                if self._wall() - shared.updated_at <= self.policy.status_stale_after_s:
                    return shared
        local = self._local.get(node, NodeHealth())
        if local.status is NodeStatus.OFFLINE:
            # Nobody probes a worker's own processes: its breaker decides when to try again.
            return NodeHealth(
                status=NodeStatus.ONLINE,
                latency_ewma_ms=local.latency_ewma_ms,
                probe_latency_ewma_ms=local.probe_latency_ewma_ms,
                updated_at=local.updated_at,
            )
        return local

    def _choices(self, nodes: list[str]) -> list[NodeChoice]:
        now = self._clock()
        choices = []
        for node in nodes:
            breaker = self.breaker(node)
            health = self.node_health(node)
            if not breaker.allows(now) and self._seen_back(breaker, health, now):
                breaker.end_cooldown(now)
            if not breaker.allows(now):
                continue
            choices.append(NodeChoice(node, health.status, health.latency_ms))
        return choices

    def _seen_back(self, breaker: CircuitBreaker, health: NodeHealth, now: float) -> bool:
        """Did the node work (a probe, another worker's call) after this circuit opened?"""
        opened = breaker.opened_at
        if opened is None or health.last_ok_at is None or health.status is NodeStatus.OFFLINE:
            return False
        opened_wall = self._wall() - (now - opened)  # the breaker runs on the monotonic clock
        return health.last_ok_at > opened_wall

    async def _wait_for_nodes(self, nodes: list[str], until: float) -> list[str]:
        """The failover order as soon as some node is usable, or [] at ``until``."""
        while True:
            order = order_nodes(self._choices(nodes), self.policy, self._rng)
            left = until - self._clock()
            if order or left <= 0:
                return order
            await self._sleep(min(_WAIT_POLL_S, left))

    def _serving(self, name: str, version: str) -> list[str]:
        local = self.registry.nodes()
        nodes = [n for n in self.catalog.nodes(name, version) if n in local]
        if not nodes and not self.catalog.versions(name):
            # Unknown to the registry (its view is behind): the nodes this worker saw list it.
            nodes = [
                node
                for node, specs in self.registry.listed().items()
                if any(s.name == name and s.version == version for s in specs)
            ]
        return nodes

    def available(self, tool: str) -> bool:
        """Can a call to the tool's active version be sent now (some node usable)?"""
        name, version = self.resolve(tool, "")
        return bool(
            order_nodes(self._choices(self._serving(name, version)), self.policy, self._rng)
        )

    def _spec(self, name: str, version: str, node: str) -> ToolSpec | None:
        for spec in self.registry.listed().get(node, []):  # as this worker's config sees it
            if spec.name == name and spec.version == version:
                return spec
        return self.catalog.spec(name, version)

    # --- calls -----------------------------------------------------------------------------

    async def call(self, ref: str, arguments: Mapping[str, Any], timeout_s: float) -> CallResult:
        """Call ``ref`` (``name@version``; a bare name means the version the registry picks for
        no intent in particular); never raises for a failed call."""
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        name, version = split_ref(ref)
        if version is None:
            name, version = self.resolve(name, "")
        nodes = self._serving(name, version)
        if not nodes:
            return self._unserved(name, version)
        deadline = self._clock() + timeout_s
        waited_until = min(deadline, self._clock() + self.policy.node_wait_s)
        order = await self._wait_for_nodes(nodes, waited_until)
        if not order:
            why = self._why_none(name, version, nodes)
            waited = self._clock() - (deadline - timeout_s)
            return _failed(ErrorKind.NO_HEALTHY_NODE, f"{why} (waited {waited:.1f} s)")
        tried: list[str] = []
        last: CallResult | None = None
        for node in order:
            now = self._clock()
            if deadline - now <= 0:
                break
            if not self.breaker(node).acquire(now):
                continue  # another call took the half-open trial
            spec = self._spec(name, version, node)
            if spec is None:
                continue
            result = await self._call_node(node, spec, arguments, deadline - now)
            self._observe(node, result)
            tried.append(node)
            if result.ok or result.error_kind not in _FAILOVER:
                return result
            if result.sent and not self.may_repeat(spec):
                return result  # it may have run: the step runner decides (outcome_unknown)
            last = result
        if last is None:
            return _failed(ErrorKind.NO_HEALTHY_NODE, self._why_none(name, version, nodes))
        if len(tried) > 1:
            error = f"{last.error} (tried nodes {', '.join(tried)})"
            return last.model_copy(update={"error": error})
        return last

    async def _call_node(
        self, node: str, spec: ToolSpec, arguments: Mapping[str, Any], timeout_s: float
    ) -> CallResult:
        client = self.registry.client(node)
        if client is None:
            return _failed(ErrorKind.CONNECTION, f"{spec.name}: node {node!r} is gone")
        try:
            result = await asyncio.wait_for(
                client.call(spec, arguments, timeout_s), timeout_s + _NODE_GRACE_S
            )
        except TimeoutError:
            result = _failed(
                ErrorKind.TIMEOUT, f"{spec.name}: node {node} did not answer in {timeout_s:g} s"
            )
            result = result.model_copy(update={"latency_ms": timeout_s * 1000.0})
        except ValueError:
            raise  # a bad timeout is the caller's bug
        except Exception as exc:  # a ToolClient must not raise; if one does, it is not a crash
            log.exception("tool client of node %r raised instead of returning a result", node)
            result = _failed(ErrorKind.TOOL_ERROR, f"{spec.name}: {type(exc).__name__}: {exc}")
        return result.model_copy(update={"node": node})

    def _observe(self, node: str, result: CallResult) -> None:
        """Feed one call's outcome to the breaker, this worker's estimate and the node table."""
        if not result.ok and result.error_kind in _NOT_ABOUT_THE_NODE:
            return  # refused before it reached the node, or not the node's doing
        ok = result.ok or result.error_kind not in NODE_FAILURES
        self.breaker(node).record(ok, self._clock())
        probe = NodeProbed(
            node=node,
            source="call",
            ok=ok,
            latency_ms=max(result.latency_ms, 0.0),
            error_kind=None if ok else result.error_kind,
            error=None if ok else (result.error or "")[:2000],
            worker=self.worker,
            occurred_at=self._wall(),
        )
        self._local[node] = observe(
            self._local.get(node, NodeHealth()), Observation.of(probe), self.policy
        )
        info = self.registry.nodes().get(node)
        if info is not None and info.shared:
            self.emit(probe)

    def _unserved(self, name: str, version: str) -> CallResult:
        versions = [v.spec.version for v in self.catalog.versions(name)]
        if versions and version not in versions:
            known = ", ".join(versions)
            return _failed(
                ErrorKind.UNKNOWN_TOOL, f"no version {version!r} of {name}; registered: {known}"
            )
        if not versions and self.registry.get(name) is None:
            known = ", ".join(self.catalog.tool_names()) or "none"
            return _failed(ErrorKind.UNKNOWN_TOOL, f"unknown tool {name!r}; known: {known}")
        return _failed(
            ErrorKind.NO_HEALTHY_NODE,
            f"no node this worker can call serves {name}@{version} "
            f"(registered on: {', '.join(self.catalog.nodes(name, version)) or 'none'})",
        )

    def _why_none(self, name: str, version: str, nodes: list[str]) -> str:
        now = self._clock()
        reasons = []
        for node in nodes:
            state = self.breaker(node).state(now)
            health = self.node_health(node)
            # Both: an OFFLINE node's circuit may be half-open and still not called.
            circuit = f", circuit {state.value}" if state is not CircuitState.CLOSED else ""
            last = f", last error: {health.last_error}" if health.last_error else ""
            reasons.append(f"{node}: {health.status.value}{circuit}{last}")
        return f"every node of {name}@{version} is unavailable: " + "; ".join(reasons)

    # --- probes ----------------------------------------------------------------------------

    async def probe(self, node: str) -> NodeProbed:
        """Check one node now (an MCP tool listing within the probe timeout)."""
        client = self.registry.client(node)
        timeout = self.policy.probe_timeout_s
        started = self._clock()
        error_kind: ErrorKind | None = None
        error: str | None = None
        latency_ms = 0.0
        try:
            if client is None:
                raise LookupError(f"no client for node {node!r}")
            check = getattr(client, "probe", None)
            if check is not None:
                latency_ms = float(await check(timeout))
            else:
                await asyncio.wait_for(client.list_tools(), timeout)
                latency_ms = (self._clock() - started) * 1000.0
        except TimeoutError:
            error_kind, error = ErrorKind.TIMEOUT, f"no tool listing within {timeout:g} s"
            latency_ms = timeout * 1000.0
        except Exception as exc:
            error_kind, error = ErrorKind.CONNECTION, f"{type(exc).__name__}: {exc}"[:2000]
        return NodeProbed(
            node=node,
            source="probe",
            ok=error_kind is None,
            latency_ms=latency_ms,
            error_kind=error_kind,
            error=error,
            worker=self.worker,
            occurred_at=self._wall(),
        )

    def shared_nodes(self) -> list[str]:
        """The nodes every worker calls (HTTP endpoints): the ones the node table tracks."""
        return sorted(node for node, info in self.registry.nodes().items() if info.shared)
