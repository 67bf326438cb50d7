"""What spend control decides, as pure functions: estimates, what each scope is asked for,
refusals, answers from the caches and what may be stored in them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from models import (
    ErrorKind,
    IntentCompleted,
    IntentFailed,
    IntentSubmitted,
    PlanStep,
    ToolCallCompleted,
    ToolCallRequested,
    ToolSpec,
)
from models.budget_scopes import BudgetDenial, intent_scopes, tool_scope
from models.ids import derived_id

# A float sum of estimates that equals max_cost must not be refused for rounding.
_TOLERANCE = 1e-9
PLAN_CACHE_STRATEGY = "plan-cache"


def estimate(tool: str, tools: Mapping[str, ToolSpec]) -> float:
    """A call's estimated cost: its tool's declared ``cost_per_call`` (0 if not declared).

    What a call costs beyond it (retries, fallbacks, a tool reporting more) is what a limit can
    be overshot by; see ``agents.budget_ledger``."""
    spec = tools.get(tool)
    return spec.cost_per_call if spec is not None else 0.0


def call_scopes(context: Mapping[str, str], tool: str) -> tuple[str, ...]:
    """Every scope one call counts against: global, the intent's team and user, the tool."""
    return (*intent_scopes(dict(context)), tool_scope(tool))


def wanted_by_plan(
    context: Mapping[str, str], steps: Sequence[PlanStep], tools: Mapping[str, ToolSpec]
) -> dict[str, float]:
    """Scope -> what the plan's steps are estimated to cost it."""
    wanted: dict[str, float] = {}
    for step in steps:
        for scope in call_scopes(context, step.tool):
            wanted[scope] = wanted.get(scope, 0.0) + estimate(step.tool, tools)
    return wanted


def wanted_before_planning(
    intent: IntentSubmitted, tools: Mapping[str, ToolSpec]
) -> dict[str, float]:
    """Before planning only the named tool's cost is known; any other scope must have room."""
    wanted = dict.fromkeys(intent_scopes(intent.context), 0.0)
    if intent.tool is not None:
        cost = estimate(intent.tool, tools)
        wanted = dict.fromkeys(wanted, cost)
        wanted[tool_scope(intent.tool)] = cost
    return wanted


def max_cost_denial(intent: IntentSubmitted, estimated: float) -> BudgetDenial | None:
    """The intent's own limit: ``max_cost`` against its plan's estimate."""
    if intent.max_cost is None or estimated <= intent.max_cost + _TOLERANCE:
        return None
    return BudgetDenial(
        scope="intent",
        limit=intent.max_cost,
        spent=0.0,
        reserved=0.0,
        remaining=intent.max_cost,
        requested=estimated,
    )


def denial_reason(denial: BudgetDenial) -> str:
    if denial.scope == "intent":
        return (
            f"the intent's max_cost would be exceeded: it allows {denial.limit:g}, "
            f"its plan is estimated at {denial.requested:g}"
        )
    return (
        f"the daily budget of {denial.scope} would be exceeded: limit {denial.limit:g}, spent "
        f"{denial.spent:g}, reserved {denial.reserved:g}, remaining {denial.remaining:g}; this "
        f"needs {denial.requested:g}. Raise it (toolwise budget set {denial.scope} LIMIT), "
        "wait for the next budget day, or ask for less"
    )


def budget_failure(intent_id: str, denial: BudgetDenial) -> IntentFailed:
    """The one outcome of an intent refused before anything ran."""
    return IntentFailed(
        event_id=derived_id("outcome", intent_id),
        intent_id=intent_id,
        reason=denial_reason(denial)[:2000],
        error_kind=str(ErrorKind.BUDGET_EXCEEDED),
        budget=denial,
    )


def refused_call(
    request: ToolCallRequested, denial: BudgetDenial | None, unavailable: str | None
) -> ToolCallCompleted:
    """A step not run because its plan's reservations were refused (or not answered)."""
    kind = ErrorKind.BUDGET_UNAVAILABLE if denial is None else ErrorKind.BUDGET_EXCEEDED
    reason = denial_reason(denial) if denial is not None else f"no budget decision: {unavailable}"
    return ToolCallCompleted(
        event_id=derived_id("done", request.call_id),
        intent_id=request.intent_id,
        call_id=request.call_id,
        tool=request.step.tool,
        ok=False,
        error_kind=kind,
        error=reason[:2000],
        attempts=0,
        budget=denial,
    )


def cached_call(request: ToolCallRequested, tool: str, output: Any) -> ToolCallCompleted:
    """A step answered from the result cache (or by an identical call it waited for): free."""
    return ToolCallCompleted(
        event_id=derived_id("done", request.call_id),
        intent_id=request.intent_id,
        call_id=request.call_id,
        tool=tool,
        ok=True,
        output=output,
        attempts=0,
        tools_tried=[],
        cached=True,
    )


def storable_output(done: ToolCallCompleted, tool: str) -> Any | None:
    """What of ``done`` the cache may keep under ``tool``'s key: a success of that very tool
    without parts (the cache keeps ``output`` only). Errors are never kept."""
    if not done.ok or done.cached or done.content or done.tool != tool:
        return None
    return done.output


def plan_cacheable(outcome: IntentCompleted, tools: Mapping[str, ToolSpec]) -> bool:
    """Only outcomes whose every step's tool is cacheable, without parts, may answer others."""
    if outcome.from_cache or not outcome.results:
        return False
    for result in outcome.results:
        spec = tools.get(result.tool)
        if spec is None or not spec.cacheable or result.content or not result.ok:
            return False
    return True


def answer_from_outcome(
    intent: IntentSubmitted, stored: Mapping[str, Any], now: float
) -> IntentCompleted:
    """``intent``'s outcome made from an identical intent's stored one: nothing ran, so it
    costs nothing and counts no attempts; it names the intent it came from."""
    original = IntentCompleted.model_validate(stored["outcome"])
    results = [
        r.model_copy(update={"cached": True, "cost": 0.0, "attempts": 0, "latency_ms": 0.0})
        for r in original.results
    ]
    return IntentCompleted(
        event_id=derived_id("outcome", intent.intent_id),
        intent_id=intent.intent_id,
        results=results,
        cost=0.0,
        latency_ms=max(0.0, (now - intent.occurred_at) * 1000.0),
        attempts=0,
        strategy=PLAN_CACHE_STRATEGY,
        from_cache=True,
        cached_from=str(stored.get("intent_id") or original.intent_id),
    )
