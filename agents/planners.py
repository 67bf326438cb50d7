"""What a planner gives the plan-intents agent, and the built-in planner behind that shape.

A planner turns an intent into plan steps and says how: the strategy name recorded on
the plan (and on every execution record of its steps), and for planners that spend
something to plan (an LLM) a ``PlanningRecord``. ``PlanningError`` says the intent
cannot be planned at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from agents.plan_builder import Ranker, plan_steps
from models import IntentSubmitted, PlanningRecord, PlanStep, RetryPolicy, ToolSpec

__all__ = ["BuiltinPlanner", "Planned", "Planner"]


@dataclass(frozen=True)
class Planned:
    steps: list[PlanStep]
    strategy: str
    record: PlanningRecord | None = None


class Planner(Protocol):
    async def plan(self, intent: IntentSubmitted) -> Planned:
        """Steps for ``intent``; raises PlanningError when no plan can be made."""
        ...

    async def aclose(self) -> None:
        """Release what the planner holds (an HTTP client's connections)."""
        ...


@dataclass(frozen=True)
class BuiltinPlanner:
    """Clauses, ranked tools and argument filling (``plan_builder``); no I/O."""

    tools: Mapping[str, ToolSpec]
    rank: Ranker
    strategy: str
    policy: RetryPolicy

    def steps(self, intent: IntentSubmitted) -> list[PlanStep]:
        return plan_steps(intent, self.tools, self.rank, self.policy)

    async def plan(self, intent: IntentSubmitted) -> Planned:
        return Planned(self.steps(intent), self.strategy)

    async def aclose(self) -> None:
        return None
