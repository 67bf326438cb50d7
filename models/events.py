"""Every event that crosses a Toolwise topic: one pydantic model each, JSON on the wire.

Events are named in the past tense. Each carries ``schema_version`` and an
``event_id``; new fields get defaults so that old events still replay.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from models.budget_scopes import BudgetDenial
from models.content import ContentPart
from models.planning import PlanningRecord
from models.policies import RetryPolicy
from models.tools import ErrorKind

SCHEMA_VERSION = 1

CacheUse = Literal["use", "bypass"]
"""``bypass``: skip the result and plan caches for this intent (its results are still stored)."""

# Parts one intent may carry: every part is offered to every step's tool, and 32 is
# more than any tool in sight takes, while bounding the work of matching them.
MAX_INTENT_PARTS = 32


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> float:
    return time.time()


class Event(BaseModel):
    """Fields every event has."""

    # allow_inf_nan=False: JSON has no Infinity or NaN, and a number that is not finite
    # accepted at the edge would fail downstream (it did: 1e400 parsed to inf).
    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    schema_version: int = Field(default=SCHEMA_VERSION, ge=1)
    event_id: str = Field(default_factory=_new_id, min_length=1, max_length=200)
    occurred_at: float = Field(default_factory=_now, description="Unix time, seconds.")

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class IntentSubmitted(Event):
    """An agent asks for something to be done. The only event clients publish."""

    type: Literal["IntentSubmitted"] = "IntentSubmitted"
    intent_id: str = Field(default_factory=_new_id, min_length=1, max_length=200)
    text: str = Field(
        min_length=1, max_length=20_000, description="What the agent wants, in words."
    )
    arguments: dict[str, Any] = Field(
        default_factory=dict, description="Arguments the agent already knows."
    )
    context: dict[str, str] = Field(
        default_factory=dict, description="Declared context, e.g. tenant or task."
    )
    tool: str | None = Field(
        default=None, description="Ask for this tool ('server.tool') and skip planning."
    )
    max_cost: float | None = Field(
        default=None,
        ge=0,
        description="Most the intent may cost: refused (budget_exceeded) when its plan's "
        "estimate is higher.",
    )
    cache: CacheUse = Field(
        default="use", description="'bypass': answer from the tools, not from any cache."
    )
    policy: RetryPolicy | None = Field(
        default=None, description="Override the default retry policy."
    )
    content: list[ContentPart] = Field(
        default_factory=list,
        max_length=MAX_INTENT_PARTS,
        description="Images, audio clips or resources to work on, inline (base64) or by "
        "reference; tools whose input schema takes such a part receive it in MCP form.",
    )


class Fallback(BaseModel):
    """A tool to try, with its own arguments, when the step's tool fails for good."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    allowed_by: str = Field(default="", description="Why the planner could use this tool.")


class PlanStep(BaseModel):
    """One tool call of a plan."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    step_id: str
    index: int = Field(ge=0)
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    policy: RetryPolicy = Field(default_factory=RetryPolicy)
    fallbacks: list[Fallback] = Field(
        default_factory=list, description="Tried in order when the step's tool fails for good."
    )
    choice_probability: float | None = Field(default=None, ge=0, le=1)
    text: str = Field(default="", description="The text the tool was ranked for (its clause).")
    allowed_by: str = Field(
        default="",
        description="Why the planner could use this tool: named in the intent, its MCP "
        "annotations (read-only, closed-world), or auto_select in the tools config.",
    )


class PlanCreated(Event):
    type: Literal["PlanCreated"] = "PlanCreated"
    intent_id: str
    steps: list[PlanStep] = Field(min_length=1)
    strategy: str = "builtin"
    context_key: str = ""
    intent_text: str = ""
    submitted_at: float = Field(default=0.0, description="When the intent was submitted (Unix s).")
    planning: PlanningRecord | None = Field(
        default=None, description="How the plan was made (an LLM planner's tokens, fallback)."
    )
    context: dict[str, str] = Field(default_factory=dict, description="The intent's context.")
    experiment_id: str = Field(default="", description="The experiment that assigned the plan.")
    variant: str = Field(default="", description="The experiment's variant it was assigned.")
    cache: CacheUse = Field(default="use", description="The intent's cache choice.")
    plan_cache_key: str = Field(
        default="",
        description="Where a successful outcome is kept for identical intents ('' : nowhere).",
    )


class ToolCallRequested(Event):
    """A command in all but name: execute one plan step."""

    type: Literal["ToolCallRequested"] = "ToolCallRequested"
    intent_id: str
    call_id: str
    step: PlanStep
    context_key: str = ""
    strategy: str = "builtin"
    intent_text: str = ""


class ToolFailure(BaseModel):
    """One tool of a step that was tried and failed for good, and why."""

    model_config = ConfigDict(frozen=True)

    tool: str
    error_kind: ErrorKind | None = None
    error: str | None = None
    attempts: int = Field(default=0, ge=0)


class ToolCallCompleted(Event):
    """The final outcome of one step, after every attempt and fallback."""

    type: Literal["ToolCallCompleted"] = "ToolCallCompleted"
    intent_id: str
    call_id: str
    tool: str
    ok: bool
    output: Any = None
    content: list[ContentPart] = Field(
        default_factory=list, description="Image, audio and resource parts of the result."
    )
    error_kind: ErrorKind | None = None
    error: str | None = None
    attempts: int = Field(ge=0)
    cost: float = 0.0
    latency_ms: float = 0.0
    tools_tried: list[str] = Field(default_factory=list)
    failures: list[ToolFailure] = Field(
        default_factory=list,
        description="Every tool tried that failed for good, in order, with its error.",
    )
    cached: bool = False
    quality: float | None = Field(default=None, description="What the answering tool reported.")
    budget: BudgetDenial | None = Field(
        default=None, description="Not run: this budget would have been exceeded."
    )


class StepResult(BaseModel):
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    step_id: str
    tool: str
    ok: bool
    output: Any = None
    content: list[ContentPart] = Field(default_factory=list)
    error_kind: ErrorKind | None = None
    error: str | None = None
    attempts: int = 0
    cost: float = 0.0
    latency_ms: float = 0.0
    quality: float | None = None
    cached: bool = False
    budget: BudgetDenial | None = None
    failures: list[ToolFailure] = Field(
        default_factory=list, description="Tools tried before (or instead of) the last one."
    )


class IntentCompleted(Event):
    type: Literal["IntentCompleted"] = "IntentCompleted"
    intent_id: str
    results: list[StepResult]
    cost: float = 0.0
    latency_ms: float = Field(default=0.0, description="From submission to completion.")
    attempts: int = 0
    strategy: str = "builtin"
    from_cache: bool = Field(
        default=False, description="Answered from an identical intent's outcome (plan cache)."
    )
    cached_from: str | None = Field(
        default=None, description="The intent whose outcome answered this one."
    )


class IntentFailed(Event):
    type: Literal["IntentFailed"] = "IntentFailed"
    intent_id: str
    reason: str
    error_kind: str = "failed"
    results: list[StepResult] = Field(default_factory=list)
    cost: float = 0.0
    latency_ms: float = 0.0
    attempts: int = 0
    budget: BudgetDenial | None = Field(
        default=None,
        description="For budget_exceeded: the scope, its limit, spent, reserved and remaining.",
    )


class ExecutionRecorded(Event):
    """One attempt of one tool call: the learning engine's only input."""

    type: Literal["ExecutionRecorded"] = "ExecutionRecorded"
    intent_id: str
    call_id: str
    tool: str
    tool_version: str = "1"
    attempt: int = Field(ge=1)
    ok: bool
    error_kind: ErrorKind | None = None
    error: str | None = None
    started_at: float
    latency_ms: float
    backoff_s: float | None = Field(
        default=None, description="Delay drawn before the next attempt, if any."
    )
    cost: float = 0.0
    quality: float | None = None
    context_key: str = ""
    strategy: str = "builtin"
    choice_probability: float | None = None
    intent_text: str = ""
    node: str = Field(default="", description="The node (MCP endpoint) the attempt went to.")


class ToolCallProgressed(Event):
    """A tool's MCP progress notification during one attempt of a call (throttled)."""

    type: Literal["ToolCallProgressed"] = "ToolCallProgressed"
    intent_id: str
    call_id: str
    tool: str
    attempt: int = Field(default=1, ge=1)
    progress: float = Field(description="What the tool reported; grows with each notification.")
    total: float | None = Field(default=None, description="The total, when the tool knows it.")
    message: str | None = Field(default=None, max_length=1000)


class CancellationRequested(Event):
    """The submitter no longer wants an intent: calls not yet started are skipped, running
    ones are stopped, and the intent is answered ``IntentFailed(error_kind="cancelled")``."""

    type: Literal["CancellationRequested"] = "CancellationRequested"
    intent_id: str = Field(min_length=1, max_length=200)
    reason: str = Field(default="cancelled by the submitter", max_length=1000)
    requested_by: str = Field(
        default="", max_length=200, description="Who asked, e.g. 'a2a', 'api'."
    )


class DeadLettered(Event):
    """A message Toolwise could not use, with why and where it came from."""

    type: Literal["DeadLettered"] = "DeadLettered"
    reason: str
    error_kind: str = Field(
        description="malformed_json | schema_violation | unknown_tool | oversized | ..."
    )
    source_topic: str
    partition: int
    offset: int
    key: str | None = None
    raw_b64: str = Field(
        description="The message value exactly as received, base64; only its first "
        "bytes when raw_truncated (a dead letter must fit where the message did not)."
    )
    raw_size: int
    raw_sha256: str = Field(default="", description="SHA-256 of the whole value, hex.")
    raw_truncated: bool = False


class GeneratedToolSubmitted(Event):
    """An agent offers a new tool: Python source whose ``run(**args)`` is the tool.

    Judged by ``tools.sandbox.judge``; an accepted tool runs only in the sandbox.
    """

    type: Literal["GeneratedToolSubmitted"] = "GeneratedToolSubmitted"
    name: str = Field(
        min_length=1, max_length=100, description="The tool's name on its sandbox server."
    )
    version: str = Field(default="1", min_length=1, max_length=50)
    source: str = Field(max_length=200_000, description="Python source defining run(**args).")
    input_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object"},
        description="JSON Schema of run's keyword arguments.",
    )
    description: str = Field(default="", max_length=5_000, description="For the planner.")
    submitter: str = Field(default="", max_length=200, description="Who submitted it.")


class GeneratedToolJudged(Event):
    """The verdict on one submission: accepted, or the rule it broke and the line."""

    type: Literal["GeneratedToolJudged"] = "GeneratedToolJudged"
    submission_id: str = Field(description="event_id of the GeneratedToolSubmitted.")
    name: str
    version: str = "1"
    accepted: bool
    rule: str | None = Field(default=None, description="The rule broken, e.g. 'underscore'.")
    line: int | None = Field(default=None, ge=1, description="The source line that broke it.")
    message: str = ""


AnyEvent = Annotated[
    IntentSubmitted
    | PlanCreated
    | ToolCallRequested
    | ToolCallCompleted
    | IntentCompleted
    | IntentFailed
    | ExecutionRecorded
    | ToolCallProgressed
    | CancellationRequested
    | DeadLettered
    | GeneratedToolSubmitted
    | GeneratedToolJudged,
    Field(discriminator="type"),
]
ANY_EVENT: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)

EVENT_TYPES: tuple[type[Event], ...] = (
    IntentSubmitted,
    PlanCreated,
    ToolCallRequested,
    ToolCallCompleted,
    IntentCompleted,
    IntentFailed,
    ExecutionRecorded,
    ToolCallProgressed,
    CancellationRequested,
    DeadLettered,
    GeneratedToolSubmitted,
    GeneratedToolJudged,
)
