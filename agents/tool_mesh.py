"""The worker's tool mesh: the registry view, what it registers, the router, the live tool list.

``start_mesh`` (called once by ``agents.runtime``) reads the registry topic and the node
table, registers what this worker's nodes list, keeps registering as they change (a node
that comes back, or says its tool list changed), and installs generated tools accepted at
run time into a local sandbox. The runtime then calls tools through ``mesh.router`` and
plans over ``mesh.tools``, a live mapping of every callable tool's active version.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from agents.plan_builder import Candidate, Ranker
from models import GeneratedToolSubmitted, ToolSpec
from models.events import Event
from models.registry import NodeProbed, RegistryEvent, ToolRegistered, registry_key
from models.tools import split_ref
from streams.settings import Settings
from streams.topics import node_probes_topic, registry_topic
from tables.node_health import changelog_topic_name
from tables.registry import RegistryReplica
from tools.client import McpToolClient
from tools.config import SandboxServerConfig, load_tools_config
from tools.mesh.catalog import RegistryState
from tools.mesh.health import probe_due
from tools.mesh.registration import listing_events, node_events
from tools.mesh.router import MeshRouter
from tools.registry import Node, ToolRegistry
from tools.sandbox.client import SandboxToolClient
from tools.sandbox.limits import SandboxLimits
from tools.sandbox.pool import SandboxPool

log = logging.getLogger(__name__)

WORKER = f"{socket.gethostname()}:{os.getpid()}"
# How long a starting worker waits to see its own registrations in the registry view before
# it goes on anyway (and logs it): the view is a few ms behind the broker normally.
_SEEN_TIMEOUT_S = 15.0
# Sandbox workers for generated tools accepted at run time, when no sandbox server of that
# name is configured to say otherwise: two calls at once, as a configured one defaults to.
_GENERATED_WORKERS = 2


def generated_node(server: str, version: str) -> str:
    """The node that serves version ``version`` of run-time generated tools on each worker:
    one sandbox client per version, so two versions of a tool run side by side (canary)."""
    return f"{server}@v{version}"


class LiveTools(Mapping[str, ToolSpec]):
    """Every tool this worker can call, by name, as its active version's spec.

    ``tools["name@version"]`` (an intent's pin) also works, for any registered version, but
    pins are not among the keys iterated.
    """

    def __init__(self, state: RegistryState, registry: ToolRegistry) -> None:
        self._state = state
        self._registry = registry
        self._cached: tuple[tuple[int, int], dict[str, ToolSpec]] = ((-1, -1), {})

    def _current(self) -> dict[str, ToolSpec]:
        stamp = (self._state.changes, self._registry.revision)
        if stamp != self._cached[0]:
            self._cached = (stamp, self._build())
        return self._cached[1]

    def _build(self) -> dict[str, ToolSpec]:
        local = self._registry.nodes()
        specs: dict[str, ToolSpec] = {}
        for name in self._state.tool_names():
            version = self._state.active(name)
            if version is None:
                continue
            spec = self._state.spec(name, version)
            if spec is not None and any(n in local for n in self._state.nodes(name, version)):
                specs[name] = spec
        for spec in self._registry.specs():  # listed here, not in the registry view yet
            if not self._state.versions(spec.name):
                specs.setdefault(spec.name, spec)
        return dict(sorted(specs.items()))

    def __getitem__(self, ref: str) -> ToolSpec:
        name, pinned = split_ref(ref)
        if pinned is None:
            return self._current()[name]
        spec = self._state.spec(name, pinned)
        if spec is None:
            raise KeyError(ref)
        return spec

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


def prefer_available(rank: Ranker, available: Callable[[str], bool]) -> Ranker:
    """The ranking, with tools that no node can serve now (all OFFLINE or circuits open)
    moved after the others: the planner prefers other tools while they are down."""

    def ranked(text: str, context: Mapping[str, str], specs: Sequence[ToolSpec]) -> list[Candidate]:
        candidates = rank(text, context, specs)
        up = [c for c in candidates if available(c.spec.name)]
        if len(up) == len(candidates):
            return candidates
        return up + [c for c in candidates if c not in up]

    return ranked


def record_node_signal(probe: NodeProbed) -> None:
    # send_soon only buffers: a call never waits on Kafka to report how its node did.
    node_probes_topic.send_soon(key=probe.node.encode(), value=probe.to_bytes())


@dataclass
class ToolMesh:
    settings: Settings
    registry: ToolRegistry
    replica: RegistryReplica
    router: MeshRouter
    tools: LiveTools
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _generated: dict[str, SandboxToolClient] = field(default_factory=dict)
    _probed: dict[str, float] = field(default_factory=dict)  # node -> last probe (monotonic)
    _pool: SandboxPool | None = None

    @property
    def catalog(self) -> RegistryState:
        return self.replica.state

    async def publish(self, events: Sequence[Event]) -> dict[str, str]:
        """Send registry events in order; registry key -> event id of what was sent."""
        sent: dict[str, str] = {}
        for event in events:
            key = registry_key(event)
            await registry_topic.send(key=key.encode(), value=event.to_bytes())
            sent[key] = event.event_id
        return sent

    def _soon(self, work: Callable[[], object], what: str) -> None:
        async def run() -> None:
            try:
                result = work()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("tool mesh: %s failed", what)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _listed(self, node: str, specs: list[ToolSpec]) -> None:
        events = listing_events(node, specs, self.catalog)
        if events:
            log.info("node %s lists %s", node, ", ".join(f"{s.name}@{s.version}" for s in specs))
            self._soon(lambda: self.publish(events), f"registering what {node} lists")

    def relist_soon(self, node: str) -> None:
        self._soon(lambda: self.registry.relist(node), f"listing the tools of {node}")

    async def probe_all(self) -> list[NodeProbed]:
        """Probe every shared node that is due (``probe_due``: OFFLINE ones more often); a node
        that answers but was never listed is listed."""
        now = time.monotonic()
        nodes = [
            node
            for node in self.router.shared_nodes()
            if probe_due(
                self.router.node_health(node).status,
                self._probed.get(node),
                now,
                self.router.policy,
            )
        ]
        self._probed.update((node, now) for node in nodes)
        probes = list(await asyncio.gather(*(self.router.probe(node) for node in nodes)))
        listed = self.registry.listed()
        for probe in probes:
            if probe.ok and probe.node not in listed:
                self.relist_soon(probe.node)
        return probes

    def _heard(self, event: RegistryEvent) -> None:
        if isinstance(event, ToolRegistered) and event.origin == "generated" and event.source:
            self.install_generated(event)

    def install_generated(self, event: ToolRegistered) -> None:
        """Serve a generated tool the registry accepted, from this worker's sandbox."""
        spec = event.spec
        client = self._generated.get(event.node)
        if client is None:
            client = SandboxToolClient(
                spec.server, [], self._sandbox_pool(), launch=f"sandbox ({event.node})"
            )
            node = Node(event.node, spec.server, spec.server, "sandbox", shared=False)
            self.registry.add_node(node, client)
            self._generated[event.node] = client
        submission = GeneratedToolSubmitted(
            event_id=event.event_id,
            name=spec.tool,
            version=spec.version,
            source=event.source or "",
            input_schema=spec.input_schema,
            description=spec.description,
            submitter=event.submitter,
        )
        verdict = client.admit(submission)  # judged again: only accepted code ever runs
        if verdict.accepted:
            self.registry.record_listing(event.node, client.specs())
            log.info("generated tool %s@%s installed on %s", spec.name, spec.version, event.node)

    def sandbox_limits(self) -> SandboxLimits:
        """The limits generated tools run under here (a configured sandbox server's, if any)."""
        return self._sandbox_pool().limits

    def _sandbox_pool(self) -> SandboxPool:
        if self._pool is None:
            configured = load_tools_config(self.settings.tools_config).servers.get(
                self.settings.generated_server
            )
            if isinstance(configured, SandboxServerConfig):
                self._pool = SandboxPool(
                    configured.limits, size=configured.workers, python=configured.python
                )
            else:
                self._pool = SandboxPool(size=_GENERATED_WORKERS)
        return self._pool

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.replica.stop()
        if self._pool is not None:
            await self._pool.aclose()


async def start_mesh(settings: Settings, registry: ToolRegistry) -> ToolMesh:
    """Read the registry, register this worker's nodes and tools, and route through them."""
    replica = RegistryReplica(
        settings.bootstrap_servers,
        settings.topic_name("registry"),
        changelog_topic_name(settings.app_id),
    )
    await replica.start()
    router = MeshRouter(
        registry, replica.state, replica.health, settings.mesh, record_node_signal, worker=WORKER
    )
    mesh = ToolMesh(settings, registry, replica, router, LiveTools(replica.state, registry))
    for held in list(replica.state.registrations()):
        mesh._heard(held)
    replica.state.listeners.append(mesh._heard)

    events: list[Event] = node_events(registry.nodes(), replica.state)
    for node, specs in registry.listed().items():
        events.extend(listing_events(node, specs, replica.state))
    sent = await mesh.publish(events)
    if not await replica.caught_up_with(sent, _SEEN_TIMEOUT_S):
        log.warning("the registry view did not show this worker's registrations in time")

    registry.on_listed = mesh._listed
    for node in registry.nodes():
        client = registry.client(node)
        if isinstance(client, McpToolClient):
            client.on_tools_changed = lambda node=node: mesh.relist_soon(node)
    return mesh
