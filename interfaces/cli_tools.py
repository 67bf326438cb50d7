"""`toolwise tools list|history|activate|canary|rollback|deprecate`: the tool registry by hand.

Reads the compacted registry topic (and the node table's changelog, and the learned state for
`list`) the way every worker does, and publishes routing changes to it; every worker applies
them from its own view within about a second. `--json` prints JSON instead of text.

Before any worker has created the registry (a fresh TOOLWISE_TOPIC_PREFIX), `list` connects to
the configured tool servers and shows what they list, in the same rows, with no node status.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import socket
import sys
from typing import TYPE_CHECKING, Any

from streams.settings import Settings

if TYPE_CHECKING:
    from models.events import Event
    from tables.registry import RegistryReplica
    from tools.mesh.catalog import RegistryState

# A published change is confirmed once the registry view shows it; normally milliseconds.
_CONFIRM_TIMEOUT_S = 15.0


def register(sub: Any) -> None:
    tools = sub.add_parser("tools", help="the tool registry: versions, nodes, canaries, rollback")
    actions = tools.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=help)
        parser.add_argument("--json", action="store_true", help="print JSON")
        return parser

    listing = action("list", help="every tool: versions, nodes and their status, learned figures")
    listing.add_argument(
        "--generation", type=int, help="learned-state generation (default: active)"
    )
    listing.set_defaults(run=_list)
    history = action("history", help="a tool's registrations and routing changes, oldest first")
    history.add_argument("name")
    history.set_defaults(run=_history)
    activate = action("activate", help="make VERSION take every unpinned call")
    activate.add_argument("name")
    activate.add_argument("version")
    activate.set_defaults(run=_activate)
    canary = action("canary", help="send SHARE (0..1) of intents to VERSION; 0 ends the canary")
    canary.add_argument("name")
    canary.add_argument("version")
    canary.add_argument("share", type=float)
    canary.set_defaults(run=_canary)
    rollback = action(
        "rollback", help="end the canary, or make the previously active version active again"
    )
    rollback.add_argument("name")
    rollback.set_defaults(run=_rollback)
    deprecate = action("deprecate", help="VERSION takes no unpinned calls any more")
    deprecate.add_argument("name")
    deprecate.add_argument("version")
    deprecate.set_defaults(run=_deprecate)


class Refused(Exception):
    """The change makes no sense for the registry as it is; the message says why."""


class NoRegistry(Refused):
    """No worker has created the registry topic under this prefix yet."""


def _actor() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except Exception:  # no user name in a bare container: the host still says where
        return socket.gethostname()


async def open_registry(settings: Settings) -> RegistryReplica:
    """The registry view, caught up; raises Refused when no worker has created it yet."""
    from streams.follower import topic_partitions
    from tables.node_health import changelog_topic_name
    from tables.registry import RegistryReplica

    topic = settings.topic_name("registry")
    changelog = changelog_topic_name(settings.app_id)
    found = await topic_partitions(settings.bootstrap_servers, [topic, changelog])
    if not found.get(topic):
        raise NoRegistry(
            f"there is no registry topic {topic!r}: start a worker with this "
            "TOOLWISE_TOPIC_PREFIX first (it registers its tools)"
        )
    replica = RegistryReplica(
        settings.bootstrap_servers, topic, changelog if found.get(changelog) else None
    )
    await replica.start(timeout_s=30.0)
    return replica


def _run(args: argparse.Namespace, settings: Settings, go: Any) -> int:
    try:
        result = asyncio.run(go)
    except Refused as exc:
        print(f"toolwise tools {args.action}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(_text(args.action, result))
    return 0


# --- reading -----------------------------------------------------------------------------------


def tool_rows(
    state: RegistryState, health: dict[str, Any], learned: Any | None
) -> list[dict[str, Any]]:
    """One row per tool: its versions, each with its state, nodes and learned figures."""
    from learning.metrics import summary
    from learning.state import metrics_key

    rows = []
    for name in state.tool_names():
        routing = state.routing(name)
        active = state.active(name)
        canary = state.canary(name)
        versions = []
        for info in state.versions(name):
            version = info.spec.version
            role = "inactive"
            if version in routing.deprecated:
                role = "deprecated"
            elif version == active:
                role = "active"
            elif canary is not None and canary[0] == version:
                role = f"canary {canary[1]:.0%}"
            record = learned.tool_metrics.get(metrics_key(name, version)) if learned else None
            figures = summary(record) if record is not None else None
            registration = info.registration
            versions.append(
                {
                    "version": version,
                    "state": role,
                    "origin": registration.origin if registration else "config",
                    "description": info.spec.description,
                    "timeout_s": info.spec.timeout_s,
                    "nodes": [_node_row(state, health, node) for node in sorted(info.nodes)],
                    "learned": None
                    if figures is None
                    else {
                        "calls": figures["calls"],
                        "success": figures["success_rate"],
                        "latency_p50_ms": figures["latency_p50_ms"],
                    },
                }
            )
        rows.append(
            {
                "tool": name,
                "active": active,
                "canary": None if canary is None else {"version": canary[0], "share": canary[1]},
                "rollback_to": routing.previous[0] if routing.previous else None,
                "versions": versions,
            }
        )
    return rows


def _node_row(state: RegistryState, health: dict[str, Any], node: str) -> dict[str, Any]:
    info = state.node(node)
    record = health.get(node)
    row: dict[str, Any] = {
        "node": node,
        "endpoint": info.endpoint if info else "",
        "shared": info.shared if info else None,
        "status": record.get("status")
        if record
        else ("local" if info and not info.shared else None),
    }
    if record:
        row.update(
            latency_ewma_ms=record.get("latency_ewma_ms"),
            probe_latency_ewma_ms=record.get("probe_latency_ewma_ms"),
            failure_rate=record.get("failure_rate"),
            last_error=record.get("last_error"),
            updated_at=record.get("updated_at"),
        )
    return row


def _list(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> list[dict[str, Any]]:
        from interfaces.replay import learned_replica

        try:
            replica = await open_registry(settings)
        except NoRegistry:
            replica = None
        learned = learned_replica(settings)
        try:
            try:
                await learned.start(timeout_s=10.0)
                state = learned.state(args.generation)
            except TimeoutError:  # no worker has learned anything yet
                state = None
            if replica is None:
                return tool_rows(await configured_registry(settings), {}, state)
            return tool_rows(replica.state, dict(replica.health), state)
        finally:
            await learned.stop()
            if replica is not None:
                await replica.stop()

    return _run(args, settings, go())


async def configured_registry(settings: Settings) -> RegistryState:
    """The registry as a worker starting now would register it: what the configured servers
    list, each at its configured (or ``_meta``) version, the first one active."""
    from models.registry import registry_key
    from tools.mesh.catalog import RegistryState
    from tools.mesh.registration import listing_events, node_events
    from tools.registry import ToolRegistry

    state = RegistryState()
    async with ToolRegistry.from_file(settings.tools_config) as registry:
        events = node_events(registry.nodes(), state)
        for node, specs in registry.listed().items():
            events.extend(listing_events(node, specs, state))
    for event in events:
        state.apply_record(registry_key(event), event.model_dump(mode="json"))
    return state


def history_rows(state: RegistryState, name: str) -> list[dict[str, Any]]:
    rows = []
    for event in state.history(name):
        fields = event.model_dump(mode="json", exclude={"schema_version", "source"})
        if "spec" in fields:  # a registration: its version, not the whole schema
            spec = fields.pop("spec")
            fields["version"] = spec["version"]
        rows.append(fields)
    return rows


def _history(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> list[dict[str, Any]]:
        replica = await open_registry(settings)
        try:
            _known(replica.state, args.name)
            return history_rows(replica.state, args.name)
        finally:
            await replica.stop()

    return _run(args, settings, go())


# --- changing ----------------------------------------------------------------------------------


def _known(state: RegistryState, name: str, version: str | None = None) -> None:
    if not state.versions(name):
        known = ", ".join(state.tool_names()) or "none"
        raise Refused(f"no tool {name!r} in the registry; registered: {known}")
    if version is not None and state.version(name, version) is None:
        versions = ", ".join(v.spec.version for v in state.versions(name))
        raise Refused(f"{name} has no version {version!r}; registered: {versions}")


def plan_activate(state: RegistryState, name: str, version: str) -> Event | None:
    """The event that activates ``version`` (None: it is active already)."""
    from models.registry import ToolVersionActivated

    _known(state, name, version)
    if not state.nodes(name, version):
        raise Refused(f"no node serves {name}@{version}: it cannot take calls")
    active = state.active(name)
    if active == version and state.routing(name).active == version:
        return None
    return ToolVersionActivated(tool=name, version=version, previous=active, actor=_actor())


def plan_canary(state: RegistryState, name: str, version: str, share: float) -> Event:
    from models.registry import ToolCanarySet

    if not 0.0 <= share <= 1.0:
        raise Refused(f"share must be between 0 and 1 (0.1 is 10 %), got {share:g}")
    _known(state, name, version)
    if share > 0 and version == state.active(name):
        raise Refused(f"{name}@{version} is the active version: a canary is another version")
    if share > 0 and not state.nodes(name, version):
        raise Refused(f"no node serves {name}@{version}: it cannot take calls")
    return ToolCanarySet(tool=name, version=version, share=share, actor=_actor())


def plan_rollback(state: RegistryState, name: str) -> Event:
    from models.registry import ToolRolledBack

    _known(state, name)
    active = state.active(name)
    assert active is not None  # a known tool has a version
    canary = state.canary(name)
    if canary is not None:
        return ToolRolledBack(tool=name, from_version=canary[0], to_version=active, actor=_actor())
    previous = state.routing(name).previous
    if not previous:
        raise Refused(f"nothing to roll back to: {name} has had no other active version")
    return ToolRolledBack(tool=name, from_version=active, to_version=previous[0], actor=_actor())


def plan_deprecate(state: RegistryState, name: str, version: str) -> Event:
    from models.registry import ToolDeprecated

    _known(state, name, version)
    return ToolDeprecated(tool=name, version=version, actor=_actor())


async def publish(settings: Settings, replica: RegistryReplica, event: Event) -> None:
    """Send one event to the registry topic and wait until the registry view shows it."""
    from aiokafka import AIOKafkaProducer

    from models.registry import registry_key

    key = registry_key(event)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topic_name("registry"), event.to_bytes(), key=key.encode()
        )
    finally:
        await producer.stop()
    if not await replica.caught_up_with({key: event.event_id}, _CONFIRM_TIMEOUT_S):
        raise Refused(f"sent, but the registry did not show it within {_CONFIRM_TIMEOUT_S:g} s")


def _change(args: argparse.Namespace, settings: Settings, plan: Any) -> int:
    async def go() -> dict[str, Any]:
        replica = await open_registry(settings)
        try:
            event = plan(replica.state)
            if event is not None:
                await publish(settings, replica, event)
            [row] = [r for r in tool_rows(replica.state, dict(replica.health), None)
                     if r["tool"] == args.name]  # fmt: skip
            return {"event": None if event is None else event.model_dump(mode="json"), "tool": row}
        finally:
            await replica.stop()

    return _run(args, settings, go())


def _activate(args: argparse.Namespace, settings: Settings) -> int:
    return _change(args, settings, lambda s: plan_activate(s, args.name, args.version))


def _canary(args: argparse.Namespace, settings: Settings) -> int:
    return _change(args, settings, lambda s: plan_canary(s, args.name, args.version, args.share))


def _rollback(args: argparse.Namespace, settings: Settings) -> int:
    return _change(args, settings, lambda s: plan_rollback(s, args.name))


def _deprecate(args: argparse.Namespace, settings: Settings) -> int:
    return _change(args, settings, lambda s: plan_deprecate(s, args.name, args.version))


# --- text ----------------------------------------------------------------------------------------


def _text(action: str, result: Any) -> str:
    if action == "list":
        return _table(result)
    if action == "history":
        lines = []
        for row in result:
            what = {k: v for k, v in row.items() if k not in ("event_id", "occurred_at", "type")}
            lines.append(f"{row['occurred_at']:.3f}  {row['type']:22} {json.dumps(what)}")
        return "\n".join(lines) or "(no history)"
    event = result["event"]
    head = "no change (already so)" if event is None else f"published {event['type']}"
    return head + "\n" + _table([result["tool"]])


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'tool':28} {'version':8} {'state':12} {'success':>7} {'p50 ms':>7}  nodes"]
    for row in rows:
        for i, version in enumerate(row["versions"]):
            learned = version["learned"] or {}
            success = learned.get("success")
            p50 = learned.get("latency_p50_ms")
            nodes = ", ".join(
                f"{n['node']} {n['status'] or '?'}"
                + (f" {n['latency_ewma_ms']:.0f}ms" if n.get("latency_ewma_ms") else "")
                for n in version["nodes"]
            )
            lines.append(
                f"{row['tool'] if i == 0 else '':28} {version['version']:8} {version['state']:12} "
                f"{f'{success:.0%}' if success is not None else '-':>7} "
                f"{f'{p50:.0f}' if p50 is not None else '-':>7}  {nodes or '(no node)'}"
            )
    return "\n".join(lines)
