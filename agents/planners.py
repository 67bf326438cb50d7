"""What a planner gives the plan-intents agent, and the shape of a planner that can fall back.

A planner turns an intent into plan steps and says how: the strategy name recorded on
the plan (and on every execution record of its steps), and for planners that spend
something to plan (an LLM) a ``PlanningRecord``. Every planner is handed the built-in
planning (``StepsFn``: the agent's ``plan_steps`` within its budget) to fall back on.
``PlanningError`` says the intent cannot be planned at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from agents.plan_builder import Ranker, plan_steps
from models import IntentSubmitted, PlanningRecord, PlanStep, RetryPolicy, ToolSpec

__all__ = ["Planned", "Planner", "StepsFn", "builtin_steps"]

StepsFn = Callable[[IntentSubmitted], Awaitable[list[PlanStep]]]
"""The built-in planning of one intent; raises PlanningError."""


@dataclass(frozen=True)
class Planned:
    steps: list[PlanStep]
    strategy: str
    record: PlanningRecord | None = None


class Planner(Protocol):
    async def plan(self, intent: IntentSubmitted, builtin: StepsFn) -> Planned:
        """Steps for ``intent``, or ``builtin``'s; raises PlanningError when neither can plan."""
        ...

    async def aclose(self) -> None:
        """Release what the planner holds (an HTTP client's connections)."""
        ...


def builtin_steps(tools: Mapping[str, ToolSpec], rank: Ranker, policy: RetryPolicy) -> StepsFn:
    """``plan_steps`` as a StepsFn, without the agent's budget: for tests and benchmarks."""

    async def steps(intent: IntentSubmitted) -> list[PlanStep]:
        return plan_steps(intent, tools, rank, policy)

    return steps
