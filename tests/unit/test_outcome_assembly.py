"""Plans and results to exactly one outcome, in any order, with duplicates."""

from __future__ import annotations

from agents.outcome_assembly import Outcome, State, apply_progress
from models import IntentCompleted, IntentFailed, PlanCreated, PlanStep, ToolCallCompleted

PLAN = PlanCreated(
    intent_id="i",
    steps=[
        PlanStep(step_id="i:0", index=0, tool="a.x"),
        PlanStep(step_id="i:1", index=1, tool="b.y"),
    ],
    submitted_at=100.0,
)


def result(call_id: str, ok: bool = True) -> ToolCallCompleted:
    return ToolCallCompleted(
        intent_id="i",
        call_id=call_id,
        tool="a.x",
        ok=ok,
        output=call_id,
        attempts=2,
        cost=0.25,
        error=None if ok else "boom",
    )


def test_outcome_once_every_step_has_a_result_whatever_the_order() -> None:
    state, out = apply_progress(None, result("i:1"), now=101.0, at="r1")
    assert out is None
    state, out = apply_progress(state, PLAN, now=101.0, at="r2")
    assert out is None
    state, out = apply_progress(state, result("i:0"), now=101.5, at="r3")
    assert isinstance(out, IntentCompleted)
    assert [r.output for r in out.results] == ["i:0", "i:1"]
    assert out.attempts == 4 and out.cost == 0.5
    assert out.latency_ms == 1500.0
    assert out.event_id == "outcome:i"


def test_duplicates_never_make_a_second_outcome() -> None:
    state, _ = apply_progress(None, PLAN, now=1.0, at="r4")
    state, _ = apply_progress(state, result("i:0"), now=1.0, at="r5")
    state, _ = apply_progress(state, result("i:0"), now=1.0, at="r6")
    state, first = apply_progress(state, result("i:1"), now=1.0, at="r7")
    assert first is not None
    for event in (PLAN, result("i:0"), result("i:1")):
        state, again = apply_progress(state, event, now=2.0, at="r8")
        assert again is None


def test_a_failed_step_fails_the_intent_with_its_reason() -> None:
    state, _ = apply_progress(None, PLAN, now=1.0, at="r9")
    state, _ = apply_progress(state, result("i:0"), now=1.0, at="r10")
    _, out = apply_progress(state, result("i:1", ok=False), now=1.0, at="r11")
    assert isinstance(out, IntentFailed)
    assert "i:1" in out.reason and "boom" in out.reason
    assert [r.ok for r in out.results] == [True, False]


def test_first_result_for_a_step_wins() -> None:
    state, _ = apply_progress(None, result("i:0"), now=1.0, at="r12")
    state, _ = apply_progress(state, result("i:0", ok=False), now=1.0, at="r13")
    state, _ = apply_progress(state, PLAN, now=1.0, at="r14")
    _, out = apply_progress(state, result("i:1"), now=1.0, at="r15")
    assert isinstance(out, IntentCompleted)


def completed_by(last: ToolCallCompleted, at: str) -> tuple[State, Outcome | None]:
    """The plan, then step i:0, then ``last`` in record ``at``: the intent completes."""
    state, _ = apply_progress(None, PLAN, now=1.0, at="results/0@16")
    state, _ = apply_progress(state, result("i:0"), now=1.0, at="results/0@17")
    return apply_progress(state, last, now=1.0, at=at)


def test_the_completing_record_redelivered_sends_the_same_outcome_again() -> None:
    # A worker may stop after storing the outcome but before sending it.
    last = result("i:1")
    state, first = completed_by(last, at="results/0@18")
    state, again = apply_progress(state, last, now=5.0, at="results/0@18")
    assert first is not None and again == first
    _, other = apply_progress(state, result("i:0"), now=5.0, at="results/0@17")
    assert other is None


def test_the_completing_event_in_another_record_is_only_a_duplicate() -> None:
    # An executor that ran the same call twice sends the same event twice.
    last = result("i:1")
    state, first = completed_by(last, at="results/0@18")
    _, again = apply_progress(state, last, now=1.0, at="results/0@19")
    assert first is not None and again is None
