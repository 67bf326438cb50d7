"""The tool registry's events (the compacted ``<prefix>-registry`` topic) and node health signals.

The registry topic has one partition, so every worker folds its records in the same order
(``tools.mesh.catalog``). Each record's key (:func:`registry_key`) decides what compaction
keeps: the latest registration of a tool version on a node, the latest word on a node and
its status, and every routing change (activation, canary, rollback, deprecation) under a key
of its own, so a tool's history survives compaction.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from models.events import Event, GeneratedToolJudged
from models.tools import VERSION_PATTERN, ErrorKind, ToolSpec

_VERSION = f"^{VERSION_PATTERN}$"


class NodeStatus(StrEnum):
    """What the node table concludes from probes and calls (``tools.mesh.health``)."""

    ONLINE = "online"
    DEGRADED = "degraded"  # slow, or failing some calls: gets less traffic, not none
    OFFLINE = "offline"  # failed repeatedly: gets no calls until probes succeed again


class ToolRegistered(Event):
    """One node serves one version of a tool, as its ``tools/list`` (or a judged generated
    tool) describes it."""

    type: Literal["ToolRegistered"] = "ToolRegistered"
    spec: ToolSpec = Field(description="Name, version, description, schema, cost, timeout, ...")
    node: str = Field(min_length=1, description="The node that serves this version.")
    origin: Literal["config", "generated"] = "config"
    source: str | None = Field(
        default=None, max_length=200_000, description="A generated tool's Python source."
    )
    submitter: str = ""


class ToolWithdrawn(Event):
    """A node no longer serves a version (its tool list changed, or it left the config)."""

    type: Literal["ToolWithdrawn"] = "ToolWithdrawn"
    tool: str
    version: str
    node: str
    reason: str = ""


class ToolVersionActivated(Event):
    """``version`` takes every unpinned call the canary does not; the one before is kept for
    rollback."""

    type: Literal["ToolVersionActivated"] = "ToolVersionActivated"
    tool: str
    version: str = Field(pattern=_VERSION)
    previous: str | None = Field(default=None, description="The version active until now.")
    actor: str = Field(default="", description="Who asked (the CLI puts user@host).")


class ToolCanarySet(Event):
    """``share`` of the unpinned calls (by intent id hash) go to ``version``; 0 ends the canary."""

    type: Literal["ToolCanarySet"] = "ToolCanarySet"
    tool: str
    version: str = Field(pattern=_VERSION)
    share: float = Field(ge=0, le=1)
    actor: str = ""


class ToolRolledBack(Event):
    """``to_version`` takes every new call again: a canary of ``from_version`` ends, or the
    previously active version is active again."""

    type: Literal["ToolRolledBack"] = "ToolRolledBack"
    tool: str
    from_version: str
    to_version: str
    actor: str = ""


class ToolDeprecated(Event):
    """``version`` takes no unpinned calls any more (a pinned intent still reaches it)."""

    type: Literal["ToolDeprecated"] = "ToolDeprecated"
    tool: str
    version: str
    actor: str = ""


class NodeAdded(Event):
    """An MCP endpoint joined: the server entry it belongs to and where it is."""

    type: Literal["NodeAdded"] = "NodeAdded"
    node: str = Field(min_length=1)
    server: str = Field(description="The config entry of the node.")
    endpoint: str = Field(default="", description="URL, command line or 'in-process ...'.")
    shared: bool = Field(
        default=True,
        description="One endpoint every worker calls (HTTP): its health is tracked for all. "
        "False for a process each worker runs for itself (stdio, in-process, sandbox).",
    )


class NodeRemoved(Event):
    type: Literal["NodeRemoved"] = "NodeRemoved"
    node: str = Field(min_length=1)
    server: str = ""


class NodeStatusChanged(Event):
    """The node table moved a node to another status."""

    type: Literal["NodeStatusChanged"] = "NodeStatusChanged"
    node: str
    before: NodeStatus | None = None
    after: NodeStatus
    reason: str = ""
    latency_ewma_ms: float | None = None
    last_error: str | None = None


class NodeProbed(Event):
    """One observation of a node: a probe (an MCP tool listing) or a real call's attempt.

    Keyed by node on ``<prefix>-node-probes``; ``track-node-health`` folds them into the node
    table.
    """

    type: Literal["NodeProbed"] = "NodeProbed"
    node: str = Field(min_length=1)
    source: Literal["probe", "call"] = "probe"
    ok: bool
    latency_ms: float = Field(default=0.0, ge=0)
    error_kind: ErrorKind | None = None
    error: str | None = Field(default=None, max_length=2000)
    worker: str = Field(default="", description="Who observed it (host:pid).")


RegistryEvent = Annotated[
    ToolRegistered
    | ToolWithdrawn
    | ToolVersionActivated
    | ToolCanarySet
    | ToolRolledBack
    | ToolDeprecated
    | NodeAdded
    | NodeRemoved
    | NodeStatusChanged
    | GeneratedToolJudged,
    Field(discriminator="type"),
]
REGISTRY_EVENT: TypeAdapter[RegistryEvent] = TypeAdapter(RegistryEvent)

RoutingEvent = ToolVersionActivated | ToolCanarySet | ToolRolledBack | ToolDeprecated

REGISTRY_EVENT_TYPES: tuple[type[Event], ...] = (
    ToolRegistered,
    ToolWithdrawn,
    ToolVersionActivated,
    ToolCanarySet,
    ToolRolledBack,
    ToolDeprecated,
    NodeAdded,
    NodeRemoved,
    NodeStatusChanged,
    NodeProbed,
)


def registry_key(event: Event) -> str:
    """The record key of a registry event; records with the same key replace each other."""
    match event:
        case ToolRegistered():
            return f"tool|{event.spec.name}@{event.spec.version}|{event.node}"
        case ToolWithdrawn():
            return f"tool|{event.tool}@{event.version}|{event.node}"
        case NodeAdded() | NodeRemoved():
            return f"node|{event.node}"
        case NodeStatusChanged():
            return f"status|{event.node}"
        case ToolVersionActivated() | ToolCanarySet() | ToolRolledBack() | ToolDeprecated():
            return f"route|{event.tool}|{event.event_id}"
        case GeneratedToolJudged():
            return f"verdict|{event.submission_id}"
    raise TypeError(f"{type(event).__name__} is not a registry event")
