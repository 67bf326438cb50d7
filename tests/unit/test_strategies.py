"""Strategies: named recommender parameters, and the choice probability each records."""

from __future__ import annotations

import numpy as np
import pytest

from learning import LearningState, Recommender, update
from learning.strategies import (
    STRATEGIES,
    UnknownStrategy,
    choice_probabilities,
    get_strategy,
    strategy_of_label,
)
from models.events import ExecutionRecorded
from models.tools import ToolSpec

TOOLS = [
    ToolSpec(name=f"sum.{n}", server="sum", tool=n, description="Summarize documents.")
    for n in ("a", "b", "c")
]


def state_with(successes: dict[str, int], failures: dict[str, int]) -> LearningState:
    state = LearningState()
    records = []
    for tool in successes.keys() | failures.keys():
        for i in range(successes.get(tool, 0) + failures.get(tool, 0)):
            ok = i < successes.get(tool, 0)
            records.append(ExecutionRecorded(
                intent_id=f"{tool}{i}", call_id=f"{tool}{i}", tool=tool, attempt=1, ok=ok,
                error_kind=None if ok else "tool_error", started_at=float(i),
                occurred_at=float(i), latency_ms=100.0, context_key="task=summarize",
                intent_text="summarize this",
            ))  # fmt: skip
    update(state, records)
    return state


def test_the_three_strategies_exist_and_unknown_names_are_explained() -> None:
    assert list(STRATEGIES) == ["conservative", "balanced", "explorative"]
    with pytest.raises(UnknownStrategy, match="choose one of: conservative, balanced"):
        get_strategy("greedy")
    assert strategy_of_label("learned-thompson") == STRATEGIES["balanced"]
    assert strategy_of_label("learned-explorative") == STRATEGIES["explorative"]
    assert strategy_of_label("builtin-keyword") is None


def test_conservative_records_probability_one_for_its_only_possible_choice() -> None:
    state = state_with({"sum.a": 6, "sum.b": 5}, {"sum.b": 1})
    conservative = get_strategy("conservative")
    recommender = conservative.recommender(Recommender())
    picks = set()
    for seed in range(20):
        top = recommender.recommend("summarize this", {"task": "summarize"}, TOOLS, state,
                                    top_k=1, explore=conservative.explore,
                                    rng=np.random.default_rng(seed))  # fmt: skip
        picks.add((top[0].tool, top[0].probability))
    assert picks == {("sum.a", 1.0)}


def test_explorative_spreads_its_choices_more_than_balanced() -> None:
    state = state_with({"sum.a": 6, "sum.b": 5}, {"sum.b": 1})
    base = Recommender()
    spread = {}
    for name in ("balanced", "explorative"):
        probabilities = choice_probabilities(
            base, get_strategy(name), "summarize this", {"task": "summarize"}, TOOLS, state
        )
        assert sum(probabilities.values()) == pytest.approx(1.0)
        spread[name] = 1.0 - max(probabilities.values())
    assert spread["explorative"] > spread["balanced"] > 0.0
    assert base.scoring.exploration_temperature == 0.5  # the base is not changed


def test_the_recorded_probability_is_the_strategy_that_chose() -> None:
    """What the planner records (share of 100 draws) estimates the strategy's own probability."""
    state = state_with({"sum.a": 6, "sum.b": 5}, {"sum.b": 1})
    for name in ("balanced", "explorative"):
        strategy = get_strategy(name)
        context = {"task": "summarize"}
        target = choice_probabilities(
            Recommender(), strategy, "summarize this", context, TOOLS, state, draws=20_000
        )
        ranker = strategy.recommender(Recommender())
        rng = np.random.default_rng(1)
        recorded = [
            {r.tool: r.probability for r in ranker.recommend(
                "summarize this", {"task": "summarize"}, TOOLS, state, top_k=3, rng=rng)}
            for _ in range(200)
        ]  # fmt: skip
        for tool, p in target.items():
            mean = float(np.mean([r.get(tool, 0.0) for r in recorded]))
            assert mean == pytest.approx(p, abs=0.02), (name, tool)
