"""Cancelling an intent stops its calls; a tool's progress reaches a sink, throttled."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.cancellation import CancellationPolicy, Cancellations
from agents.step_runner import ProgressThrottle, StepRunner, execute_step
from learning import LearningState
from learning.learner import update
from models import (
    CallResult,
    ErrorKind,
    ExecutionRecorded,
    Fallback,
    PlanStep,
    RetryPolicy,
    ToolCallProgressed,
    ToolCallRequested,
)
from tools import progress


def request(fallbacks: list[Fallback] | None = None) -> ToolCallRequested:
    step = PlanStep(
        step_id="i1:0",
        index=0,
        tool="t.slow",
        policy=RetryPolicy(timeout_s=30, max_attempts=3),
        fallbacks=fallbacks or [],
    )
    return ToolCallRequested(intent_id="i1", call_id="i1:0", step=step)


class SlowTool:
    """Sleeps until cancelled; reports progress through the MCP client's context."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.calls: list[str] = []
        self.stopped = 0

    async def call(self, tool: str, arguments: dict[str, Any], timeout_s: float) -> CallResult:
        self.calls.append(tool)
        self.started.set()
        report = progress.current()
        try:
            for step in range(1, 4):
                if report is not None:
                    await report(float(step), 3.0, f"step {step}")
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.stopped += 1
            raise
        return CallResult(ok=True, output="done")


async def test_a_cancellation_stops_the_running_call_and_skips_retries_and_fallbacks() -> None:
    tool = SlowTool()
    records: list[ExecutionRecorded] = []
    book = Cancellations()
    runner = StepRunner(call=tool.call, record=records.append, cancellations=book)
    running = asyncio.create_task(execute_step(request([Fallback(tool="t.other")]), runner))
    await tool.started.wait()
    assert book.cancel("i1", "the user gave up") == 1
    done = await asyncio.wait_for(running, 5)
    assert (done.ok, done.error_kind, done.error) == (
        False,
        ErrorKind.CANCELLED,
        "the user gave up",
    )
    assert tool.calls == ["t.slow"] and tool.stopped == 1  # no retry, no fallback
    assert [(r.attempt, r.error_kind) for r in records] == [(1, ErrorKind.CANCELLED)]


async def test_a_call_of_an_intent_cancelled_before_it_starts_never_runs() -> None:
    tool = SlowTool()
    records: list[ExecutionRecorded] = []
    book = Cancellations()
    book.cancel("i1", "too late")
    runner = StepRunner(call=tool.call, record=records.append, cancellations=book)
    done = await execute_step(request(), runner)
    assert (done.ok, done.error_kind, done.attempts) == (False, ErrorKind.CANCELLED, 0)
    assert tool.calls == [] and records == []


async def test_other_intents_run_on_and_a_stopping_worker_still_cancels_its_calls() -> None:
    book = Cancellations()
    book.cancel("other", "not this one")

    async def answer() -> CallResult:
        return CallResult(ok=True, output=1)

    assert (await book.call("i1", answer)).ok
    slow = SlowTool()
    task = asyncio.create_task(book.call("i1", lambda: slow.call("t", {}, 1)))
    await slow.started.wait()
    task.cancel()  # the caller itself is cancelled: that is not an intent's cancellation
    try:
        await task
        raise AssertionError("the caller's cancellation was swallowed")
    except asyncio.CancelledError:
        pass
    assert slow.stopped == 1 and book.running("i1") == 0


def test_cancellations_are_forgotten_after_keep_s_and_beyond_max_entries() -> None:
    now = [0.0]
    book = Cancellations(CancellationPolicy(keep_s=10, max_entries=2), clock=lambda: now[0])
    book.cancel("a", "x")
    now[0] = 5
    book.cancel("b", "y")
    book.cancel("c", "z")  # over max_entries: the oldest goes
    assert (book.reason("a"), book.reason("b"), book.reason("c")) == (None, "y", "z")
    now[0] = 16
    assert (book.reason("b"), book.reason("c")) == (None, None)


async def test_progress_reaches_the_sink_as_events_of_the_call() -> None:
    tool = SlowTool()
    events: list[ToolCallProgressed] = []
    book = Cancellations()
    runner = StepRunner(
        call=tool.call,
        record=lambda _r: None,
        progress=events.append,
        progress_interval_s=0,
        cancellations=book,
    )
    running = asyncio.create_task(execute_step(request(), runner))
    await tool.started.wait()
    await asyncio.sleep(0.01)
    book.cancel("i1", "enough")
    await running
    assert [(e.intent_id, e.call_id, e.tool, e.progress, e.total) for e in events] == [
        ("i1", "i1:0", "t.slow", float(n), 3.0) for n in (1, 2, 3)
    ]
    assert events[0].message == "step 1"


def test_the_throttle_passes_the_first_the_last_and_one_per_interval() -> None:
    now = [0.0]
    throttle = ProgressThrottle(0.25, lambda: now[0])
    seen = []
    for i in range(11):  # every 0.1 s, 0 .. 10 of 10
        now[0] = i * 0.1
        seen.append(throttle.admit(float(i), 10.0))
    assert [i for i, ok in enumerate(seen) if ok] == [0, 3, 6, 9, 10]


def test_the_learner_ignores_cancelled_attempts() -> None:
    state = LearningState()
    record = ExecutionRecorded(
        intent_id="i",
        call_id="c",
        tool="t.slow",
        attempt=1,
        ok=False,
        error_kind=ErrorKind.CANCELLED,
        started_at=0,
        latency_ms=5,
    )
    update(state, [record])
    assert state.tool_metrics == {}
    update(state, [record.model_copy(update={"error_kind": ErrorKind.TIMEOUT})])
    assert list(state.tool_metrics) == ["t.slow@1"]
