"""What planning spends is part of the intent's cost, and learning counts it as the planner's."""

from __future__ import annotations

import base64

from agents.outcome_assembly import assemble
from learning import LearningState
from learning.learner import update
from models import (
    ExecutionRecorded,
    IntentCompleted,
    PlanCreated,
    PlanningRecord,
    PlanStep,
    ToolCallCompleted,
)
from models.content import part_from_bytes
from models.planning import PLANNER_TOOL
from tools.samples import sample_image


def test_the_outcome_adds_the_planning_cost_and_carries_the_parts() -> None:
    plan = PlanCreated(
        intent_id="i",
        steps=[PlanStep(step_id="i:0", index=0, tool="images.thumbnail")],
        planning=PlanningRecord(planner="llm", prompt_tokens=500, cost=0.004),
    )
    thumb = part_from_bytes(sample_image(8, 8), "image/png")
    done = ToolCallCompleted(
        intent_id="i", call_id="i:0", tool="images.thumbnail", ok=True, attempts=1, cost=0.01,
        content=[thumb],
    )  # fmt: skip
    outcome = assemble(plan, [done], now=1.0)
    assert isinstance(outcome, IntentCompleted)
    assert outcome.cost == 0.014
    assert outcome.results[0].content == [thumb]
    assert base64.b64decode(outcome.results[0].content[0].data or "")[:4] == b"\x89PNG"  # type: ignore[union-attr]


def record(tool: str, ok: bool = True, cost: float = 0.0) -> ExecutionRecorded:
    return ExecutionRecorded(
        intent_id="i", call_id="c", tool=tool, tool_version="m", attempt=1, ok=ok,
        started_at=0.0, latency_ms=800.0, cost=cost, intent_text="" if tool == PLANNER_TOOL
        else "convert miles to km",
    )  # fmt: skip


def test_learning_counts_the_planners_tokens_but_not_as_a_fit_for_words() -> None:
    state = LearningState()
    update(state, [record(PLANNER_TOOL, cost=0.002), record(PLANNER_TOOL, ok=False),
                   record("units.convert")])  # fmt: skip
    metrics = state.tool_metrics[f"{PLANNER_TOOL}@m"]
    assert metrics["calls"] == 2 and metrics["cost_sum"] == 0.002
    assert metrics["failures"] == {"unknown": 1}
    mentioned = {tool for entry in state.term_tools.values() for tool in entry.get("tools", {})}
    assert "units.convert" in mentioned and PLANNER_TOOL not in mentioned
