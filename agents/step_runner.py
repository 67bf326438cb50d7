"""Run one plan step: attempts with timeout, backoff with full jitter, fallbacks.

Pure orchestration: the tool call, the sleep, the clock and the randomness
are injected, so the policy is unit-tested without a broker or real time.

A call that timed out or lost its connection after it was sent may have had
its effect. It is tried again only for a tool that says so is harmless
(read-only or idempotent, or ``retry_safe`` in the config); for any other
tool the step ends with ``outcome_unknown`` and no fallback runs, since a
fallback doing the same job would repeat the effect.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agents.cancellation import Cancellations, cancelled_result
from models import (
    CallResult,
    ErrorKind,
    ExecutionRecorded,
    ToolCallCompleted,
    ToolCallProgressed,
    ToolCallRequested,
    ToolFailure,
)
from models.ids import derived_id
from models.tools import tool_ref
from tools.progress import ProgressFn, reporting_to

CallFn = Callable[[str, dict[str, Any], float], Awaitable[CallResult]]
SleepFn = Callable[[float], Awaitable[None]]
RecordFn = Callable[[ExecutionRecorded], None]
ProgressSink = Callable[[ToolCallProgressed], None]
# (the tool as a step names it, intent id) -> (tool name, version): tools.mesh's version routing.
ResolveFn = Callable[[str, str], tuple[str, str]]

# A call the client failed to stop at its own timeout is abandoned this much
# later; the client normally cancels it on the server first.
_HARD_TIMEOUT_GRACE_S = 1.0
# Failures after which the tool may or may not have done its work.
_MAYBE_RAN = frozenset({ErrorKind.TIMEOUT, ErrorKind.CONNECTION})


def _never(_tool: str) -> bool:
    return False


@dataclass
class StepRunner:
    """Dependencies of :func:`execute_step`, wired once per worker."""

    call: CallFn
    record: RecordFn
    sleep: SleepFn = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    wall_clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.perf_counter
    tool_versions: Callable[[str], str] = lambda _tool: "1"
    # With a resolver, each attempt calls 'name@version' as it decides (pins, canaries) and
    # records that version; without, the step's tool as named, version from tool_versions.
    resolve: ResolveFn | None = None
    retry_safe: Callable[[str], bool] = _never
    """May this tool's call run again after a timeout or lost connection? (tool_policy)"""
    # Where a tool's progress notifications go (None: not asked for), and how often at most.
    progress: ProgressSink | None = None
    progress_interval_s: float = 0.25
    # Cancelled intents: their calls are stopped or not started (None: nothing is cancelled).
    cancellations: Cancellations | None = None


class ProgressThrottle:
    """Admits a call's progress notifications at most every ``interval_s``; the first one and
    the one that reaches the total always pass, so a watcher sees the call start and end."""

    def __init__(self, interval_s: float, clock: Callable[[], float]) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._last: float | None = None

    def admit(self, done: float, total: float | None) -> bool:
        now = self._clock()
        final = total is not None and done >= total
        if self._last is not None and not final and now - self._last < self._interval_s:
            return False
        self._last = now
        return True


async def execute_step(request: ToolCallRequested, runner: StepRunner) -> ToolCallCompleted:
    """Try the step's tool, retrying retryable failures, then each fallback tool in turn."""
    step = request.step
    policy = step.policy
    total_attempts = 0
    total_cost = 0.0
    began = runner.monotonic()
    tried: list[str] = []
    failures: list[ToolFailure] = []
    last: CallResult | None = None
    last_tool = step.tool
    choices = [(step.tool, step.arguments), *((f.tool, f.arguments) for f in step.fallbacks)]
    for tool, arguments in choices:
        tried.append(tool)
        last_tool = tool
        name, version, target = _routed(runner, tool, request.intent_id)
        for attempt in range(1, policy.max_attempts + 1):
            started_at = runner.wall_clock()
            t0 = runner.monotonic()
            cancelled = _cancellation(runner, request.intent_id)
            if cancelled is not None:  # not started, so no attempt to record
                return _completed(
                    request,
                    tool,
                    cancelled,
                    total_attempts,
                    total_cost,
                    began,
                    runner,
                    tried,
                    failures,
                )
            last = await _call_bounded(runner, request, tool, target, attempt, arguments)
            latency_ms = (runner.monotonic() - t0) * 1000.0
            total_attempts += 1
            total_cost += last.cost
            unknown = _maybe_ran(last) and not runner.retry_safe(tool)
            retry = (
                not last.ok
                and not unknown
                and last.error_kind is not None
                and last.error_kind.retryable
                and attempt < policy.max_attempts
            )
            backoff = runner.rng.uniform(0.0, policy.backoff_cap(attempt)) if retry else None
            runner.record(
                ExecutionRecorded(
                    event_id=derived_id(request.call_id, tool, str(attempt)),
                    intent_id=request.intent_id,
                    call_id=request.call_id,
                    tool=name,
                    tool_version=version,
                    attempt=attempt,
                    ok=last.ok,
                    error_kind=last.error_kind,
                    error=last.error,
                    started_at=started_at,
                    latency_ms=latency_ms,
                    backoff_s=backoff,
                    cost=last.cost,
                    quality=last.quality,
                    context_key=request.context_key,
                    strategy=request.strategy,
                    choice_probability=step.choice_probability if tool == step.tool else None,
                    intent_text=request.intent_text,
                    node=last.node,
                )
            )
            if last.ok or last.error_kind is ErrorKind.CANCELLED:  # no retry, no fallback
                return _completed(
                    request, tool, last, total_attempts, total_cost, began, runner, tried, failures
                )
            if unknown:
                last = _outcome_unknown(tool, last)
                failures.append(_failure(tool, last, attempt))
                return _completed(
                    request, tool, last, total_attempts, total_cost, began, runner, tried, failures
                )
            if backoff is None:
                failures.append(_failure(tool, last, attempt))
                break
            await runner.sleep(backoff)
    assert last is not None  # policy.max_attempts >= 1
    return _completed(
        request, last_tool, last, total_attempts, total_cost, began, runner, tried, failures
    )


def _maybe_ran(result: CallResult) -> bool:
    return not result.ok and result.sent and result.error_kind in _MAYBE_RAN


def _outcome_unknown(tool: str, result: CallResult) -> CallResult:
    what = "timed out" if result.error_kind is ErrorKind.TIMEOUT else "lost its connection"
    reason = (
        f"{tool} {what} after the call was sent, so it may have run; it is neither read-only "
        "nor idempotent, so neither it nor a fallback is run again (mark it retry_safe in "
        f"the tools config if repeating it is harmless): {result.error}"
    )
    return result.model_copy(update={"error_kind": ErrorKind.OUTCOME_UNKNOWN, "error": reason})


def _failure(tool: str, result: CallResult, attempts: int) -> ToolFailure:
    return ToolFailure(
        tool=tool, error_kind=result.error_kind, error=result.error, attempts=attempts
    )


def _routed(runner: StepRunner, tool: str, intent_id: str) -> tuple[str, str, str]:
    """(name recorded, version recorded, what to call)."""
    if runner.resolve is None:
        return tool, runner.tool_versions(tool), tool
    name, version = runner.resolve(tool, intent_id)
    return name, version, tool_ref(name, version)


def _cancellation(runner: StepRunner, intent_id: str) -> CallResult | None:
    if runner.cancellations is None:
        return None
    reason = runner.cancellations.reason(intent_id)
    return None if reason is None else cancelled_result(reason)


async def _call_bounded(
    runner: StepRunner,
    request: ToolCallRequested,
    tool: str,
    target: str,
    attempt: int,
    arguments: dict[str, Any],
) -> CallResult:
    timeout_s = request.step.policy.timeout_s

    async def call() -> CallResult:
        try:
            return await asyncio.wait_for(
                runner.call(target, arguments, timeout_s), timeout_s + _HARD_TIMEOUT_GRACE_S
            )
        except TimeoutError:
            return CallResult(
                ok=False,
                error_kind=ErrorKind.TIMEOUT,
                error=f"{tool} did not answer within {timeout_s:g} s",
            )

    with reporting_to(_progress_reporter(runner, request, tool, attempt)):
        if runner.cancellations is None:
            return await call()
        return await runner.cancellations.call(request.intent_id, call)


def _progress_reporter(
    runner: StepRunner, request: ToolCallRequested, tool: str, attempt: int
) -> ProgressFn | None:
    sink = runner.progress
    if sink is None:
        return None
    throttle = ProgressThrottle(runner.progress_interval_s, runner.monotonic)

    async def report(progress: float, total: float | None, message: str | None) -> None:
        if throttle.admit(progress, total):
            sink(
                ToolCallProgressed(
                    intent_id=request.intent_id,
                    call_id=request.call_id,
                    tool=tool,
                    attempt=attempt,
                    progress=progress,
                    total=total,
                    message=message[:1000] if message else None,
                )
            )

    return report


def _completed(
    request: ToolCallRequested,
    tool: str,
    result: CallResult,
    attempts: int,
    cost: float,
    began: float,
    runner: StepRunner,
    tried: list[str],
    failures: list[ToolFailure],
) -> ToolCallCompleted:
    return ToolCallCompleted(
        event_id=derived_id("done", request.call_id),
        intent_id=request.intent_id,
        call_id=request.call_id,
        tool=tool,
        ok=result.ok,
        output=result.output,
        content=result.content,
        error_kind=result.error_kind,
        error=result.error,
        attempts=attempts,
        cost=cost,
        latency_ms=(runner.monotonic() - began) * 1000.0,
        tools_tried=tried,
        quality=result.quality if result.ok else None,
        failures=failures,
    )
