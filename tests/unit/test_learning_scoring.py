"""Unit tests of the learning engine's pure scoring math."""

from __future__ import annotations

import numpy as np
import pytest

from learning import Batcher, BatchPolicy, LearningState, Recommender, context_key, update
from learning.metrics import apply_metrics, latency_percentile, new_metrics
from learning.posterior import PosteriorConfig, decayed, discounted_mean, discounted_update, observe
from learning.text import BM25, DescriptionIndex, terms
from models.events import ExecutionRecorded
from models.tools import ErrorKind, ToolSpec

TOOLS = [
    ToolSpec(name="weather.forecast", server="weather", tool="forecast",
             description="Weather forecast for a city: temperature, rain and wind."),
    ToolSpec(name="weather.backup", server="weather", tool="backup",
             description="Weather forecast for a city: temperature, rain and wind."),
    ToolSpec(name="fx.convert", server="fx", tool="convert", cost_per_call=0.5,
             description="Convert an amount between currencies at today's exchange rate."),
]  # fmt: skip


def record(
    tool: str, ok: bool, *, at: float = 0.0, text: str = "weather in Paris", **kw: object
) -> ExecutionRecorded:
    return ExecutionRecorded(
        intent_id="i", call_id="c", tool=tool, attempt=1, ok=ok, started_at=at, occurred_at=at,
        latency_ms=kw.pop("latency_ms", 100.0),  # type: ignore[arg-type]
        error_kind=None if ok else kw.pop("error_kind", ErrorKind.TOOL_ERROR),  # type: ignore[arg-type]
        intent_text=text, context_key=context_key(text), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_discounted_update_forgets_geometrically() -> None:
    s, f = 0.0, 0.0
    for _ in range(200):
        s, f = discounted_update(s, f, True, 0.95)
    assert s == pytest.approx(20.0, rel=1e-3)  # the window is 1 / (1 - 0.95)
    s, f = discounted_update(s, f, False, 0.95)
    assert f == 1.0 and s == pytest.approx(19.0, rel=1e-3)


def test_decay_halves_per_half_life_and_never_grows() -> None:
    assert decayed(8.0, 0.0, 900.0, 900.0) == pytest.approx(4.0)
    assert decayed(8.0, 100.0, 50.0, 900.0) == 8.0


def test_an_unlikely_run_of_failures_cuts_past_successes() -> None:
    config = PosteriorConfig()
    s, f, run, start = 0.0, 0.0, 0, 0.0
    for _ in range(200):
        s, f, run, start = observe((s, f), run, start, True, config)
    history = s
    interrupted = s, f, run, start
    for ok in (False, True):  # a success ends a run
        interrupted = observe(interrupted[:2], *interrupted[2:], ok, config)
    assert interrupted[2] == 0 and interrupted[0] > 0.9 * history
    for _ in range(2):  # two failures in a row: possible for a good tool, not a change
        s, f, run, start = observe((s, f), run, start, False, config)
    assert s > 0.9 * history and run == 2
    s, f, run, start = observe((s, f), run, start, False, config)  # the third in a row
    assert s < 0.1 * history and run == 3
    assert (1.0 - start) ** 3 < config.change_surprise < (1.0 - start) ** 2


def test_discounted_mean_moves_towards_new_values() -> None:
    mean, weight = discounted_mean(0.0, 0.0, 1.0, 0.9)
    assert (mean, weight) == (1.0, 1.0)
    mean, weight = discounted_mean(mean, weight, 0.0, 0.9)
    assert mean == pytest.approx(1.0 - 1.0 / 1.9)


def test_metrics_count_failures_by_kind_and_latency_percentiles() -> None:
    metrics = new_metrics("t", "1")
    config = PosteriorConfig()
    for i in range(100):
        metrics = apply_metrics(metrics, record("t", i % 10 != 0, latency_ms=float(i * 10)), config)
    assert metrics["calls"] == 100 and metrics["successes"] == 90
    assert metrics["failures"] == {"tool_error": 10}
    p50, p95 = latency_percentile(metrics, 0.5), latency_percentile(metrics, 0.95)
    assert p50 is not None and p95 is not None
    assert 400 <= p50 <= 600 and 900 <= p95 <= 1500  # true 495 / 945, bucket upper bounds


def test_bm25_prefers_rare_matching_terms() -> None:
    index = BM25([terms("red apple"), terms("green apple"), terms("red car")], k1=1.2, b=0.75)
    scores = index.scores(terms("green apples"))
    assert int(np.argmax(scores)) == 1


def test_description_index_ranks_matching_tool_first() -> None:
    docs = [DescriptionIndex.document(t.name, t.description) for t in TOOLS]
    scores = DescriptionIndex(docs).scores("convert 100 dollars to euros at the exchange rate")
    assert int(np.argmax(scores)) == 2


def test_context_key_is_deterministic_and_uses_declared_task() -> None:
    assert context_key("Summarize this PDF", {"task": "Summarize "}) == "task=summarize"
    assert context_key("Find flights to Paris") == context_key("find FLIGHTS to paris!")
    assert context_key("x", {"tenant": "acme", "task": "a|b"}) == "tenant=acme|task=a b"


def test_max_cost_filters_and_deadline_filters_slow_tools() -> None:
    state = LearningState()
    update(state, [record("weather.backup", True, latency_ms=5000.0) for _ in range(10)])
    recs = Recommender().recommend(
        "convert dollars", None, TOOLS, state, max_cost=0.1, explore=False
    )
    assert "fx.convert" not in {r.tool for r in recs}
    recs = Recommender().recommend(
        "weather in Paris", None, TOOLS, state, deadline_ms=1000, explore=False
    )
    assert "weather.backup" not in {r.tool for r in recs}
    assert recs[0].tool == "weather.forecast"


def test_probabilities_sum_to_one_and_are_seeded() -> None:
    rec = Recommender()
    a = rec.recommend(
        "weather in Paris", None, TOOLS, LearningState(), rng=np.random.default_rng(1)
    )
    b = rec.recommend(
        "weather in Paris", None, TOOLS, LearningState(), rng=np.random.default_rng(1)
    )
    assert [r.tool for r in a] == [r.tool for r in b]
    assert sum(r.probability for r in a) == pytest.approx(1.0)
    assert a[0].explanation and "success" in a[0].components


def test_exploration_tries_both_equally_described_tools() -> None:
    rec, rng, state = Recommender(), np.random.default_rng(0), LearningState()
    chosen = {
        rec.recommend("weather in Paris", None, TOOLS, state, top_k=1, rng=rng)[0].tool
        for _ in range(50)
    }
    assert {"weather.forecast", "weather.backup"} <= chosen


def test_successes_on_words_teach_an_undescribed_tool() -> None:
    state = LearningState()
    update(state, [record("fx.convert", True, text="how warm is it in Oslo") for _ in range(5)])
    top = Recommender().recommend("how warm is it in Oslo", None, TOOLS, state, explore=False)[0]
    assert top.tool == "fx.convert"


@pytest.mark.parametrize(
    ("history", "backup_history", "bound"), [(20, 3, 3), (200, 3, 3), (20, 0, 4), (200, 0, 4)]
)
def test_tool_that_starts_failing_loses_rank_within_bounded_executions(
    history: int, backup_history: int, bound: int
) -> None:
    """Also when the equally described backup never ran: then only the description floor
    (ScoringConfig.description_floor) gives it a fit to be chosen with; without it the
    broken tool stayed first for 100 failures."""
    rec, rng, state = Recommender(), np.random.default_rng(0), LearningState()
    text = "weather in Paris"
    update(state, [record("weather.forecast", True, at=float(i)) for i in range(history)])
    update(state, [record("weather.backup", True, at=float(i)) for i in range(backup_history)])
    assert (
        rec.recommend(text, None, TOOLS, state, explore=False, now=float(history))[0].tool
        == "weather.forecast"
    )
    failures = 0
    for step in range(history, history + 100):  # the planner keeps choosing; the tool keeps failing
        top = rec.recommend(text, None, TOOLS, state, explore=False, rng=rng, now=float(step))[0]
        if top.tool != "weather.forecast":
            break
        update(state, [record("weather.forecast", False, at=float(step))])
        failures += 1
    # Bound: three failures in a row are too unlikely for a tool that was reliable, so its
    # record is cut then (PosteriorConfig.change_surprise); discounting alone took 14-20.
    # A backup known only by its description needs one failure more.
    assert failures <= bound


def test_poor_quality_is_remembered_after_failures_have_faded() -> None:
    rec, state, text = Recommender(), LearningState(), "weather in Paris"
    elsewhere = "forecast wind speed Rome"  # another kind of intent, where it answers well
    update(state, [record("weather.forecast", True, quality=1.0, text=elsewhere)] * 10)
    update(state, [record("weather.forecast", True, quality=0.2) for _ in range(3)])
    update(state, [record("weather.backup", False) for _ in range(3)])
    hour_later = 3600.0  # four outage half-lives: the backup's failures are mostly forgotten
    est = {
        r.tool: r.components
        for r in rec.recommend(text, None, TOOLS, state, explore=False, now=hour_later)
    }
    assert est["weather.backup"]["success"] > 0.6  # retried soon: an outage may be over
    assert est["weather.forecast"]["quality"] < 0.5  # still known to answer these poorly


def test_misfits_teach_relevance_not_reliability() -> None:
    state = LearningState()
    update(
        state,
        [record("weather.backup", False, error_kind=ErrorKind.INVALID_ARGUMENTS) for _ in range(5)],
    )
    metrics = state.tool_metrics["weather.backup@1"]
    assert metrics["reliable_failures"] == 0.0 and metrics["failures"] == {"invalid_arguments": 5}
    top = Recommender().recommend("weather in Paris", None, TOOLS, state, explore=False)[0]
    assert top.tool == "weather.forecast"


def test_batcher_closes_on_size_and_on_time() -> None:
    batcher: Batcher[ExecutionRecorded] = Batcher(BatchPolicy(max_records=3, max_wait_s=1.0))
    assert batcher.add(record("t", True), 0.0) is None
    assert batcher.add(record("t", True), 0.1) is None
    batch = batcher.add(record("t", True), 0.2)
    assert batch is not None and len(batch) == 3
    assert batcher.add(record("t", True), 5.0) is None
    late = batcher.poll(6.5)
    assert late is not None and len(late) == 1


def test_state_is_json_serialisable_and_batch_order_free_for_counts() -> None:
    import json

    records = [record("weather.forecast", i % 3 != 0, at=float(i)) for i in range(30)]
    one, two = LearningState(), LearningState()
    update(one, records)
    update(two, records[15:])
    update(two, records[:15])
    for table in ("tool_metrics", "context_scores", "term_tools"):
        json.dumps(getattr(one, table))
    assert one.term_tools == two.term_tools
    assert (
        one.tool_metrics["weather.forecast@1"]["calls"]
        == two.tool_metrics["weather.forecast@1"]["calls"]
    )
