"""Retry, backoff and fallback policy of one plan step, without a broker or real time."""

from __future__ import annotations

import random
from typing import Any

import pytest

from agents.step_runner import StepRunner, execute_step
from models import (
    CallResult,
    ErrorKind,
    ExecutionRecorded,
    Fallback,
    PlanStep,
    RetryPolicy,
    ToolCallRequested,
)


class Script:
    """A tool double that answers from a list, and a clock that sleeping advances."""

    def __init__(self, answers: dict[str, list[CallResult]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any], float]] = []
        self.sleeps: list[float] = []
        self.records: list[ExecutionRecorded] = []
        self.now = 1000.0

    async def call(self, tool: str, arguments: dict[str, Any], timeout_s: float) -> CallResult:
        self.calls.append((tool, arguments, timeout_s))
        return self.answers[tool].pop(0)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def runner(self, seed: int = 7, retry_safe: frozenset[str] = frozenset({"t.a"})) -> StepRunner:
        """``retry_safe``: the tools that may run again after a timeout (idempotent ones)."""
        return StepRunner(
            call=self.call,
            record=self.records.append,
            sleep=self.sleep,
            rng=random.Random(seed),
            wall_clock=lambda: self.now,
            monotonic=lambda: self.now,
            retry_safe=lambda tool: tool in retry_safe,
        )


def request(policy: RetryPolicy, fallbacks: list[Fallback] | None = None) -> ToolCallRequested:
    step = PlanStep(
        step_id="i1:0",
        index=0,
        tool="t.a",
        arguments={"x": 1},
        policy=policy,
        fallbacks=fallbacks or [],
    )
    return ToolCallRequested(intent_id="i1", call_id="i1:0", step=step, intent_text="do it")


OK = CallResult(ok=True, output=42, cost=0.5)
TRANSIENT = CallResult(ok=False, error_kind=ErrorKind.TRANSIENT, error="busy")
TIMEOUT = CallResult(ok=False, error_kind=ErrorKind.TIMEOUT, error="slow")
INVALID = CallResult(ok=False, error_kind=ErrorKind.INVALID_ARGUMENTS, error="x must be str")
BROKEN = CallResult(ok=False, error_kind=ErrorKind.TOOL_ERROR, error="no")


async def test_transient_failures_are_retried_until_success() -> None:
    script = Script({"t.a": [TRANSIENT, TRANSIENT, OK]})
    done = await execute_step(request(RetryPolicy(max_attempts=3)), script.runner())
    assert done.ok and done.output == 42
    assert done.attempts == 3
    assert [r.attempt for r in script.records] == [1, 2, 3]
    assert [r.ok for r in script.records] == [False, False, True]


async def test_invalid_arguments_are_never_retried() -> None:
    script = Script({"t.a": [INVALID, OK]})
    done = await execute_step(request(RetryPolicy(max_attempts=5)), script.runner())
    assert not done.ok
    assert done.error_kind is ErrorKind.INVALID_ARGUMENTS
    assert done.attempts == 1 and script.sleeps == []


async def test_timeouts_exhaust_attempts_with_jittered_exponential_backoff() -> None:
    policy = RetryPolicy(max_attempts=4, initial_backoff_s=0.5, multiplier=3.0, max_backoff_s=2.0)
    script = Script({"t.a": [TIMEOUT] * 4})
    done = await execute_step(request(policy), script.runner())
    assert done.error_kind is ErrorKind.TIMEOUT and done.attempts == 4
    caps = [0.5, 1.5, 2.0]  # 0.5 * 3**n, capped at 2.0
    assert len(script.sleeps) == 3
    for slept, cap in zip(script.sleeps, caps, strict=True):
        assert 0.0 <= slept <= cap
    assert [r.backoff_s for r in script.records] == [*script.sleeps, None]
    assert all(call[2] == policy.timeout_s for call in script.calls)


def test_full_jitter_spreads_over_the_whole_interval() -> None:
    # Draws from many seeds should cover [0, cap], not cluster at the cap.
    policy = RetryPolicy(initial_backoff_s=1.0, multiplier=2.0, max_backoff_s=10.0)
    draws = [random.Random(seed).uniform(0.0, policy.backoff_cap(2)) for seed in range(500)]
    assert min(draws) < 0.2 and max(draws) > 1.8 and max(draws) <= 2.0


def test_backoff_cap_rejects_attempt_zero() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        RetryPolicy().backoff_cap(0)


async def test_fallback_tool_runs_with_its_own_arguments_after_permanent_failure() -> None:
    fallback = Fallback(tool="t.b", arguments={"y": 2})
    script = Script({"t.a": [BROKEN], "t.b": [OK]})
    done = await execute_step(request(RetryPolicy(), [fallback]), script.runner())
    assert done.ok and done.tool == "t.b"
    assert done.tools_tried == ["t.a", "t.b"]
    assert script.calls[1][:2] == ("t.b", {"y": 2})
    assert done.attempts == 2 and done.cost == pytest.approx(0.5)


async def test_every_attempt_is_recorded_with_a_deterministic_id() -> None:
    script = Script({"t.a": [TRANSIENT, OK]})
    await execute_step(request(RetryPolicy()), script.runner())
    assert [r.event_id for r in script.records] == ["i1:0:t.a:1", "i1:0:t.a:2"]
    assert all(r.intent_text == "do it" for r in script.records)


async def test_a_timed_out_call_of_a_non_idempotent_tool_is_not_run_again() -> None:
    # It may have had its effect (a payment, an e-mail): neither a retry nor a fallback.
    fallback = Fallback(tool="t.b", arguments={"y": 2})
    script = Script({"t.a": [TIMEOUT, OK], "t.b": [OK]})
    done = await execute_step(
        request(RetryPolicy(max_attempts=3), [fallback]), script.runner(retry_safe=frozenset())
    )
    assert [call[0] for call in script.calls] == ["t.a"]
    assert not done.ok and done.error_kind is ErrorKind.OUTCOME_UNKNOWN
    assert "may have run" in (done.error or "") and "slow" in (done.error or "")
    assert done.attempts == 1 and script.sleeps == []
    assert [r.error_kind for r in script.records] == [ErrorKind.TIMEOUT]


async def test_a_lost_connection_after_sending_is_not_retried_for_a_non_idempotent_tool() -> None:
    lost = CallResult(ok=False, error_kind=ErrorKind.CONNECTION, error="pipe closed")
    script = Script({"t.a": [lost, OK]})
    done = await execute_step(request(RetryPolicy()), script.runner(retry_safe=frozenset()))
    assert done.error_kind is ErrorKind.OUTCOME_UNKNOWN and len(script.calls) == 1


async def test_a_call_that_never_reached_the_tool_is_retried_whatever_the_tool() -> None:
    unreachable = CallResult(
        ok=False, error_kind=ErrorKind.CONNECTION, error="server down", sent=False
    )
    script = Script({"t.a": [unreachable, OK]})
    done = await execute_step(request(RetryPolicy()), script.runner(retry_safe=frozenset()))
    assert done.ok and done.attempts == 2


async def test_the_outcome_names_every_tool_tried_and_why_each_failed() -> None:
    fallbacks = [Fallback(tool="t.b"), Fallback(tool="t.c")]
    script = Script({"t.a": [BROKEN], "t.b": [INVALID], "t.c": [OK]})
    done = await execute_step(request(RetryPolicy(), fallbacks), script.runner())
    assert done.ok and done.tool == "t.c"
    assert [(f.tool, f.error_kind, f.error) for f in done.failures] == [
        ("t.a", ErrorKind.TOOL_ERROR, "no"),
        ("t.b", ErrorKind.INVALID_ARGUMENTS, "x must be str"),
    ]


async def test_a_call_that_ignores_its_timeout_is_abandoned() -> None:
    import asyncio

    async def hang(tool: str, arguments: dict[str, Any], timeout_s: float) -> CallResult:
        await asyncio.sleep(60)
        return OK

    records: list[ExecutionRecorded] = []
    runner = StepRunner(call=hang, record=records.append, retry_safe=lambda _tool: True)
    policy = RetryPolicy(timeout_s=0.05, max_attempts=1)
    # The hard bound is timeout + 1 s grace; the step must end, as a timeout.
    done = await asyncio.wait_for(execute_step(request(policy), runner), 5)
    assert done.error_kind is ErrorKind.TIMEOUT
