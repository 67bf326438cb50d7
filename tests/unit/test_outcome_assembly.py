"""A plan and its step results make exactly one outcome, the same one each time."""

from __future__ import annotations

import pytest

from agents.outcome_assembly import assemble, failure_outcome
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


def test_every_step_succeeded_is_a_completed_intent_with_the_totals() -> None:
    out = assemble(PLAN, [result("i:0"), result("i:1")], now=101.5)
    assert isinstance(out, IntentCompleted)
    assert [r.output for r in out.results] == ["i:0", "i:1"]
    assert (out.cost, out.attempts, out.latency_ms) == (0.5, 4, 1500.0)
    assert out.event_id == "outcome:i"


def test_a_failed_step_fails_the_intent_with_its_reason() -> None:
    out = assemble(PLAN, [result("i:0"), result("i:1", ok=False)], now=101.0)
    assert isinstance(out, IntentFailed)
    assert "i:1" in out.reason and "boom" in out.reason and len(out.results) == 2


def test_the_same_plan_and_results_give_an_outcome_with_the_same_id() -> None:
    first = assemble(PLAN, [result("i:0"), result("i:1")], now=101.0)
    again = assemble(PLAN, [result("i:0"), result("i:1")], now=105.0)
    assert first.event_id == again.event_id == failure_outcome("i", "k", "r").event_id


def test_results_that_do_not_match_the_steps_are_refused() -> None:
    with pytest.raises(ValueError, match="steps"):
        assemble(PLAN, [result("i:1"), result("i:0")], now=101.0)
