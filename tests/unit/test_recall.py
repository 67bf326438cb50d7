"""Two-stage ranking: the candidates give the answer every tool would, and say when they can't."""

from __future__ import annotations

import numpy as np
import pytest

from learning import LearningState, Recommender, context_key, update
from learning.recall import RecallConfig, candidates, leak_bound, optimistic_order
from models.events import ExecutionRecorded
from models.tools import ToolSpec
from tables.learned import TermIndex, learning_state

TOPICS = ["weather", "flights", "hotels", "stocks", "recipes", "music", "movies", "news"]
# Sixty tools, several per topic, described in overlapping words: a catalogue where many
# tools fit a bit and a few fit well.
TOOLS = [
    ToolSpec(
        name=f"{topic}.tool{i}",
        server="s",
        tool=f"tool{i}",
        description=f"{topic} {TOPICS[(j + i) % len(TOPICS)]} lookup service number {i}",
    )
    for j, topic in enumerate(TOPICS)
    for i in range(8)
][:60]
TEXTS = ["weather in Oslo", "cheap flights to Rome", "hotels near the station", "stock price"]


def served(tool: str, text: str, ok: bool = True, at: float = 0.0) -> ExecutionRecorded:
    return ExecutionRecorded(
        intent_id="i", call_id="c", tool=tool, attempt=1, ok=ok, started_at=at,
        occurred_at=at, latency_ms=50.0, intent_text=text, context_key=context_key(text),
    )  # fmt: skip


def learned_state() -> LearningState:
    state = LearningState()
    records = [served(f"{TOPICS[i % 4]}.tool{i % 8}", TEXTS[i % 4], at=float(i)) for i in range(24)]
    records += [served("music.tool7", "stock price", at=30.0) for _ in range(3)]
    update(state, records)
    return state


def exhaustive() -> Recommender:
    return Recommender(recall=RecallConfig(candidates=10_000))


@pytest.mark.parametrize("text", [*TEXTS, "some music for the weekend"])
def test_few_candidates_rank_as_every_tool_does_without_exploration(text: str) -> None:
    """Also for 'stock price', which a tool described as music served: it must be a candidate
    whatever its fit (without that rule this case fails)."""
    state = learned_state()
    few = Recommender(recall=RecallConfig(candidates=3))
    got = few.recommend(text, None, TOOLS, state, top_k=5, explore=False, now=40.0)
    want = exhaustive().recommend(text, None, TOOLS, state, top_k=5, explore=False, now=40.0)
    assert [(r.tool, round(r.score, 9)) for r in got] == [(r.tool, round(r.score, 9)) for r in want]


def test_explored_probabilities_match_every_tool_within_draw_noise() -> None:
    state = learned_state()
    text = "cheap flights to Rome"
    shares: dict[str, dict[str, float]] = {}
    for name, recommender in (("few", Recommender(recall=RecallConfig(candidates=3))),
                              ("all", exhaustive())):  # fmt: skip
        rng = np.random.default_rng(7)
        counts: dict[str, float] = {}
        for _ in range(300):
            ranked = recommender.recommend(text, None, TOOLS, state, top_k=1, rng=rng, now=40.0)
            counts[ranked[0].tool] = counts.get(ranked[0].tool, 0.0) + 1 / 300
        shares[name] = counts
    tools = set(shares["few"]) | set(shares["all"])
    # 300 choices: a share's standard error is at most 0.03; 0.1 is over three of them.
    assert all(abs(shares["few"].get(t, 0.0) - shares["all"].get(t, 0.0)) < 0.1 for t in tools)


def test_probabilities_are_shares_among_the_admitted_tools() -> None:
    state = learned_state()
    ranked = Recommender(recall=RecallConfig(candidates=4)).recommend(
        "weather in Oslo", None, TOOLS, state, top_k=60, rng=np.random.default_rng(0),
        admit=lambda r: not r.tool.endswith("tool0"), now=40.0,
    )  # fmt: skip
    assert all(not r.tool.endswith("tool0") for r in ranked)
    assert sum(r.probability for r in ranked) == pytest.approx(1.0)


def test_when_no_candidate_is_admitted_every_tool_is_looked_at() -> None:
    few = Recommender(recall=RecallConfig(candidates=3))
    ranked = few.recommend(
        "weather in Oslo", None, TOOLS, LearningState(), top_k=5, rng=np.random.default_rng(0),
        admit=lambda r: r.tool == "news.tool3",
    )  # fmt: skip
    assert [(r.tool, r.probability) for r in ranked] == [("news.tool3", 1.0)]
    assert few.recall_stats.widened == 1 and few.recall_stats.candidates == 3 + len(TOOLS)


def test_candidates_keep_the_best_and_the_forced_tools() -> None:
    log_fit = np.log(np.array([0.5, 0.01, 0.3, 0.001, 0.2]))
    floor = np.array([0.0, 0.0, 0.0, 0.4, 0.0])
    order = optimistic_order(log_fit, floor)
    assert order[:2].tolist() == [0, 2]  # 0.3 / 0.5 = 0.6 beats tool 3's floor of 0.4
    assert candidates(order, 2, [1]).tolist() == [0, 1, 2]


def test_the_leak_bound_is_small_far_below_and_certain_under_a_floor() -> None:
    best = np.array([0.0, 0.0])
    far = leak_bound(-30.0, 0.0, best, np.array([0.9, 0.5]), 0.5)
    assert (far < 1e-9).all()
    near = leak_bound(1.0, 0.0, best, np.array([0.9, 0.5]), 0.5)
    assert (near == 1.0).all()
    floored = leak_bound(-30.0, 0.6, best, np.array([0.9, 0.5]), 0.5)
    assert floored[1] == 1.0 and floored[0] < 1e-9


def test_the_table_view_knows_which_tools_served_a_context() -> None:
    flat: dict[str, object] = {}
    writer = TermIndex()
    update(learning_state(2, flat.get, writer, flat.__setitem__), [served("music.tool7", "jazz")])
    reader = TermIndex()  # another worker's replica: it sees the keys, not the writes
    for raw_key in flat:
        reader.observe(raw_key, True)
    for index in (writer, reader):
        assert set(index.contexts(2).tools(context_key("jazz"))) == {"music.tool7"}
        assert not index.contexts(3).tools(context_key("jazz"))
