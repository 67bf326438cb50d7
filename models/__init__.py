"""Events and values that cross Toolwise topics."""

from models.events import (
    ANY_EVENT,
    EVENT_TYPES,
    SCHEMA_VERSION,
    DeadLettered,
    Event,
    ExecutionRecorded,
    Fallback,
    GeneratedToolJudged,
    GeneratedToolSubmitted,
    IntentCompleted,
    IntentFailed,
    IntentSubmitted,
    PlanCreated,
    PlanStep,
    StepResult,
    ToolCallCompleted,
    ToolCallRequested,
)
from models.policies import RetryPolicy
from models.tools import CallResult, ErrorKind, ToolSpec

__all__ = [
    "ANY_EVENT",
    "EVENT_TYPES",
    "SCHEMA_VERSION",
    "CallResult",
    "DeadLettered",
    "ErrorKind",
    "Event",
    "ExecutionRecorded",
    "Fallback",
    "GeneratedToolJudged",
    "GeneratedToolSubmitted",
    "IntentCompleted",
    "IntentFailed",
    "IntentSubmitted",
    "PlanCreated",
    "PlanStep",
    "RetryPolicy",
    "StepResult",
    "ToolCallCompleted",
    "ToolCallRequested",
    "ToolSpec",
]
