"""Values that describe tools and the outcome of one tool call."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from models.content import ContentPart


class ErrorKind(StrEnum):
    """Why a tool call failed; decides whether it is retried."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    TRANSIENT = "transient"  # the tool said: try again
    TOOL_ERROR = "tool_error"  # the tool failed for good
    INVALID_ARGUMENTS = "invalid_arguments"
    UNKNOWN_TOOL = "unknown_tool"
    # Toolwise itself failed on this call (a bug, or input it could not handle): never retried,
    # the message is dead-lettered with the reason.
    PROCESSING_ERROR = "processing_error"
    # Every node that serves the tool is offline or has its circuit open: answered at once
    # rather than retried, so the step's fallback tools (or the submitter) take over.
    NO_HEALTHY_NODE = "no_healthy_node"
    # A call that timed out or lost its connection after it was sent, to a tool that is
    # neither read-only nor idempotent: it may have had its effect, so it is not run again.
    OUTCOME_UNKNOWN = "outcome_unknown"
    # The submitter cancelled the intent (an A2A task cancel, ``CancellationRequested``): the
    # call was stopped or never started. Says nothing about the tool, so it is not learned.
    CANCELLED = "cancelled"
    # Not run: a daily budget (or the intent's max_cost) would have been exceeded; or the
    # budget's owner did not answer in time. Says nothing about the tool: not learned.
    BUDGET_EXCEEDED = "budget_exceeded"
    BUDGET_UNAVAILABLE = "budget_unavailable"

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = frozenset({ErrorKind.TIMEOUT, ErrorKind.CONNECTION, ErrorKind.TRANSIENT})


class ToolSpec(BaseModel):
    """A tool as discovered with MCP ``tools/list``, plus what the config says of it."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Qualified name, '<server>.<tool>'.")
    server: str
    tool: str = Field(description="The tool's name on its MCP server.")
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=dict)
    version: str = "1"
    cost_per_call: float = Field(default=0.0, ge=0)
    patterns: tuple[str, ...] = Field(
        default=(),
        description="Regexes with named groups that pull arguments out of intent text.",
    )
    keywords: tuple[str, ...] = Field(default=(), description="Extra words the planner matches.")
    cacheable: bool = Field(
        default=False, description="Results may be served from the Redis cache."
    )
    cache_ttl_s: float | None = Field(
        default=None, ge=0, description="How long a result is kept (None: settings.cache_ttl_s)."
    )
    cache_context: tuple[str, ...] = Field(
        default=(),
        description="Context fields the result depends on (e.g. 'user'): part of its cache key.",
    )
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="The tool's default per-attempt timeout, for steps whose intent sets none.",
    )
    # MCP tool annotations (``tools/list``), with MCP's defaults for a tool that declares
    # none: it may change its environment, destructively, not idempotently, and talk to
    # the open world. The config file may override each (tools/config.py ToolOverride).
    read_only: bool = Field(
        default=False, description="MCP readOnlyHint: the tool does not modify its environment."
    )
    destructive: bool = Field(
        default=True, description="MCP destructiveHint: its updates may destroy data."
    )
    idempotent: bool = Field(
        default=False,
        description="MCP idempotentHint: calling it again with the same arguments has no "
        "further effect.",
    )
    open_world: bool = Field(
        default=True,
        description="MCP openWorldHint: it reaches outside entities (the web, other systems).",
    )
    auto_select: bool | None = Field(
        default=None,
        description="Config: true lets the planner choose the tool without the intent naming "
        "it whatever its annotations say, false never; unset: by its annotations.",
    )
    retry_safe: bool | None = Field(
        default=None,
        description="Config: true retries it after a timeout or lost connection even if it is "
        "not idempotent, false never; unset: retried when read-only or idempotent.",
    )


class CallResult(BaseModel):
    """What one attempt of one tool call returned."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    output: Any = None
    content: list[ContentPart] = Field(
        default_factory=list,
        description="The result's image, audio and resource blocks, in order (text is in output).",
    )
    error_kind: ErrorKind | None = None
    error: str | None = None
    cost: float = 0.0
    quality: float | None = Field(default=None, ge=0, le=1)
    latency_ms: float = 0.0
    node: str = Field(default="", description="The node that answered (tools.mesh), if known.")
    sent: bool = Field(
        default=True,
        description="False when the call provably never reached the tool (no connection "
        "could be opened, arguments refused before sending): retrying repeats no effect.",
    )


# A version is what `toolwise/version` or the config gives a tool: short, no '@' or spaces.
VERSION_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,49}"
_REF = re.compile(rf"^(?P<name>.+)@(?P<version>{VERSION_PATTERN})$")


def tool_ref(name: str, version: str) -> str:
    """``name@version``: a tool pinned to one of its versions (an intent may name one)."""
    return f"{name}@{version}"


def split_ref(ref: str) -> tuple[str, str | None]:
    """``("units.convert", "2")`` for ``"units.convert@2"``, ``("units.convert", None)`` for
    a bare name."""
    match = _REF.match(ref)
    if match is None:
        return ref, None
    return match["name"], match["version"]
