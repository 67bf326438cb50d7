"""Issue 11's three intents over the bundled tools and real third-party tool listings.

Each must pick the right tool with the right arguments, and never plan the side-effecting
tool (the "everything" server's gzip-file-as-resource, which fetches a URL from the
internet by default), neither as the step nor as a fallback.
"""

from __future__ import annotations

import numpy as np
import pytest

from agents.plan_builder import Candidate, PlanningError, plan_steps
from agents.ranking import learned_ranker
from learning import LearningState, Recommender
from learning.embedding import Encoder
from models import IntentSubmitted, PlanStep, RetryPolicy, ToolSpec
from tools.config import parse_tools_config
from tools.registry import ToolRegistry

SIDE_EFFECT = "everything.gzip-file-as-resource"
CASES = [
    ("what time is it in Tokyo", "time.get_current_time", {"timezone": "Asia/Tokyo"}),
    ("add 3 and 4", "everything.get-sum", {"a": 3, "b": 4}),
    (
        "what is the current time in Europe/Paris",
        "time.get_current_time",
        {"timezone": "Europe/Paris"},
    ),
]


@pytest.fixture(scope="module")
async def tools(third_party: dict[str, ToolSpec]) -> dict[str, ToolSpec]:
    """The bundled calculator, units and docsearch as they list themselves, plus third party."""
    servers = {
        name: {"transport": "inprocess", "factory": f"tools.servers.{name}:build_server"}
        for name in ("calculator", "units", "docsearch")
    }
    async with ToolRegistry.from_config(parse_tools_config({"servers": servers})) as registry:
        return {spec.name: spec for spec in registry.specs()} | third_party


def planned_tools(steps: list[PlanStep]) -> set[str]:
    return {tool for step in steps for tool in (step.tool, *(f.tool for f in step.fallbacks))}


def issue_ranking(tools: dict[str, ToolSpec]):  # type: ignore[no-untyped-def]
    """The ranking the issue saw after the right tool: the calculator, then a tool that takes
    no arguments and has side effects, all relevant enough to pass the bar."""

    def rank(text, context, specs):  # type: ignore[no-untyped-def]
        first = "everything.get-sum" if "add" in text else "time.get_current_time"
        order = [first, "calculator.evaluate", SIDE_EFFECT, "everything.get-env"]
        return [
            Candidate(spec=tools[n], score=1.0, relevance=1.0 - i / 10) for i, n in enumerate(order)
        ]

    return rank


@pytest.mark.parametrize(("text", "tool", "arguments"), CASES)
def test_the_issue_ranking_now_plans_the_right_call_and_no_side_effect(
    tools: dict[str, ToolSpec], text: str, tool: str, arguments: dict[str, object]
) -> None:
    intent = IntentSubmitted(intent_id="i", text=text)
    [step] = plan_steps(intent, tools, issue_ranking(tools), RetryPolicy())
    assert (step.tool, step.arguments) == (tool, arguments)
    assert SIDE_EFFECT not in planned_tools([step])
    # 'Europe/Paris' holds a '/' but no arithmetic: the calculator is no fallback.
    assert all(f.tool != "calculator.evaluate" for f in step.fallbacks)


def test_the_side_effecting_tool_alone_is_refused_not_planned(
    tools: dict[str, ToolSpec],
) -> None:
    def only_gzip(text, context, specs):  # type: ignore[no-untyped-def]
        return [Candidate(spec=tools[SIDE_EFFECT], score=1.0, relevance=1.0)]

    intent = IntentSubmitted(intent_id="i", text="what is the current time in Europe/Paris")
    with pytest.raises(PlanningError) as info:
        plan_steps(intent, tools, only_gzip, RetryPolicy())
    assert info.value.kind == "not_allowed" and SIDE_EFFECT in info.value.reason


class _NothingLearned:
    def state(self) -> LearningState:
        return LearningState()


@pytest.mark.parametrize(("text", "tool", "arguments"), CASES)
def test_the_worker_planner_cold_picks_the_right_call(
    tools: dict[str, ToolSpec],
    encoder: Encoder,
    text: str,
    tool: str,
    arguments: dict[str, object],
) -> None:
    # The worker's default: recommendations with the sentence model, Thompson draws.
    for seed in range(5):
        rank = learned_ranker(
            Recommender(encoder=encoder),
            _NothingLearned(),
            5,
            np.random.default_rng(seed),  # type: ignore[arg-type]
        )
        intent = IntentSubmitted(intent_id="i", text=text)
        steps = plan_steps(intent, tools, rank, RetryPolicy())
        assert [(s.tool, s.arguments) for s in steps] == [(tool, arguments)], seed
        assert SIDE_EFFECT not in planned_tools(steps)
