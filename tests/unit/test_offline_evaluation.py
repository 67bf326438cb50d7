"""Recorded history replayed as logged decisions: state as of each plan, rewards per step."""

from __future__ import annotations

import pytest

from learning import Recommender
from learning.evaluation import replay_decisions
from learning.strategies import get_strategy
from models import ExecutionRecorded, PlanCreated, PlanStep, ToolSpec
from models.tools import ErrorKind

TOOLS = [ToolSpec(name=n, server="s", tool=n, description="Summarize documents.")
         for n in ("sum.a", "sum.b")]  # fmt: skip
TEXT = "summarize this report"


def plan(i: int, tool: str, at: float, probability: float | None = 0.5) -> PlanCreated:
    step = PlanStep(step_id=f"i{i}:0", index=0, tool=tool, choice_probability=probability,
                    text=TEXT)  # fmt: skip
    return PlanCreated(intent_id=f"i{i}", steps=[step], occurred_at=at, context_key="k",
                       intent_text=TEXT, strategy="learned-balanced")  # fmt: skip


def record(
    i: int, tool: str, at: float, ok: bool, attempt: int = 1, **kw: object
) -> ExecutionRecorded:
    return ExecutionRecorded(
        intent_id=f"i{i}", call_id=f"i{i}:0", tool=tool, attempt=attempt, ok=ok,
        error_kind=None if ok else ErrorKind.TRANSIENT, started_at=at, occurred_at=at,
        latency_ms=1000.0, cost=0.01, intent_text=TEXT, context_key="k", **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_each_decision_sees_only_the_history_before_its_plan() -> None:
    plans = [plan(0, "sum.b", 1.0)] + [plan(i, "sum.a", 10.0 * i) for i in range(1, 4)]
    executions = [record(0, "sum.b", 2.0, False)]
    executions += [record(i, "sum.a", 10.0 * i + 1, True, quality=0.9) for i in range(1, 4)]
    replayed = replay_decisions(plans, executions, get_strategy("conservative"), Recommender(),
                                TOOLS)  # fmt: skip
    first, *later = replayed.decisions
    # Before anything ran the two tools are alike; after sum.b failed and sum.a served,
    # the conservative strategy takes sum.a.
    assert later[-1].target == {"sum.a": 1.0}
    assert first.action == "sum.b" and first.propensity == 0.5
    assert first.reward == pytest.approx(0.0 - 0.01 - 0.05 * 1.0)  # failed: quality 0
    assert later[0].reward == pytest.approx(0.9 - 0.01 - 0.05 * 1.0)
    assert replayed.logging_strategies == {"learned-balanced": 4}


def test_a_retried_step_costs_all_its_attempts_and_ends_as_its_last() -> None:
    plans = [plan(1, "sum.a", 10.0)]
    executions = [record(1, "sum.a", 11.0, False), record(1, "sum.a", 12.0, True, attempt=2)]
    decision = replay_decisions(plans, executions, get_strategy("balanced"), Recommender(),
                                TOOLS).decisions[0]  # fmt: skip
    assert decision.reward == pytest.approx(1.0 - 0.02 - 0.05 * 2.0)  # unrated success: 1.0


def test_an_attempt_recorded_twice_counts_once_as_first_recorded() -> None:
    plans = [plan(1, "sum.a", 10.0)]
    # The call ran again after a crash: the same attempt, the same id, another outcome.
    executions = [record(1, "sum.a", 11.0, True, event_id="i1:0:sum.a:1"),
                  record(1, "sum.a", 12.0, False, event_id="i1:0:sum.a:1")]  # fmt: skip
    decision = replay_decisions(plans, executions, get_strategy("balanced"), Recommender(),
                                TOOLS).decisions[0]  # fmt: skip
    assert decision.reward == pytest.approx(1.0 - 0.01 - 0.05 * 1.0)


def test_a_plan_sent_again_is_one_decision() -> None:
    plans = [plan(1, "sum.a", 10.0), plan(1, "sum.a", 10.0), plan(2, "sum.b", 20.0)]
    executions = [record(1, "sum.a", 11.0, True), record(2, "sum.b", 21.0, True)]
    replayed = replay_decisions(plans, executions, get_strategy("balanced"), Recommender(),
                                TOOLS)  # fmt: skip
    assert [d.action for d in replayed.decisions] == ["sum.a", "sum.b"]


def test_steps_that_cannot_be_evaluated_are_counted_not_guessed() -> None:
    plans = [
        plan(1, "sum.a", 10.0, probability=None),
        plan(2, "sum.a", 20.0),
        plan(3, "sum.a", 5.0),
    ]
    executions = [record(1, "sum.a", 11.0, True), record(3, "sum.a", 6.0, True)]
    replayed = replay_decisions(plans, executions, get_strategy("balanced"), Recommender(), TOOLS,
                                since=8.0)  # fmt: skip
    assert replayed.decisions == []
    assert replayed.skipped == {"no recorded probability": 1, "no execution record": 1}
