"""Cache keys, what the caches may keep, refusals and answers from the plan cache."""

from __future__ import annotations

from agents.cache_stats import PLAN_CACHE, CacheCounters, stats_view
from agents.result_cache import cache_key, declared_context, plan_cache_key, tool_of_key
from agents.spend_rules import (
    answer_from_outcome,
    budget_failure,
    max_cost_denial,
    plan_cacheable,
    storable_output,
    wanted_by_plan,
)
from models import (
    IntentCompleted,
    IntentFailed,
    IntentSubmitted,
    PlanStep,
    StepResult,
    ToolCallCompleted,
    ToolSpec,
)


def spec(name: str, cost: float = 0.0, cacheable: bool = True) -> ToolSpec:
    server, _, tool = name.partition(".")
    return ToolSpec(name=name, server=server, tool=tool, cost_per_call=cost, cacheable=cacheable)


def test_the_result_key_ignores_argument_order_and_separates_versions_and_context() -> None:
    key = cache_key("app", "calc.eval", "1", {"a": 1, "b": [2, 3]})
    assert key == cache_key("app", "calc.eval", "1", {"b": [2, 3], "a": 1})
    assert key != cache_key("app", "calc.eval", "2", {"a": 1, "b": [2, 3]})
    assert key != cache_key("other", "calc.eval", "1", {"a": 1, "b": [2, 3]})
    assert key != cache_key("app", "calc.eval", "1", {"a": 1, "b": [3, 2]})
    ann = declared_context(("user",), {"user": "ann", "session": "s1"})
    bob = declared_context(("user",), {"user": "bob", "session": "s1"})
    assert ann == {"user": "ann"}
    assert cache_key("app", "t.t", "1", {}, ann) != cache_key("app", "t.t", "1", {}, bob)
    # Undeclared context does not split entries.
    assert declared_context((), {"user": "ann"}) == {}
    assert tool_of_key(key) == "calc.eval"


def test_the_plan_key_normalises_text_and_ignores_the_session() -> None:
    one = plan_cache_key("app", "Convert  10 km", {"x": 1}, {"session": "a", "team": "t"}, None)
    two = plan_cache_key("app", " convert 10 KM ", {"x": 1}, {"session": "b", "team": "t"}, None)
    assert one == two
    assert one != plan_cache_key("app", "convert 10 km", {"x": 2}, {"team": "t"}, None)
    assert one != plan_cache_key("app", "convert 10 km", {"x": 1}, {"team": "u"}, None)
    assert one != plan_cache_key("app", "convert 10 km", {"x": 1}, {"team": "t"}, "a.b")


def completed(ok: bool = True, tool: str = "a.b", **extra: object) -> ToolCallCompleted:
    return ToolCallCompleted(
        event_id="e", intent_id="i", call_id="c", tool=tool, ok=ok, output=42, attempts=1, **extra
    )


def test_errors_fallback_answers_and_cached_results_are_never_stored() -> None:
    assert storable_output(completed(), "a.b") == 42
    assert storable_output(completed(ok=False, error="boom"), "a.b") is None
    assert storable_output(completed(tool="fallback.tool"), "a.b") is None
    assert storable_output(completed(cached=True), "a.b") is None


def outcome(*tools: str, ok: bool = True) -> IntentCompleted:
    results = [StepResult(step_id=f"s{n}", tool=t, ok=ok, output=n) for n, t in enumerate(tools)]
    return IntentCompleted(event_id="o", intent_id="first", results=results, cost=0.3)


def test_only_outcomes_of_cacheable_steps_are_kept_for_identical_intents() -> None:
    tools = {"a.b": spec("a.b"), "c.d": spec("c.d", cacheable=False)}
    assert plan_cacheable(outcome("a.b"), tools)
    assert not plan_cacheable(outcome("a.b", "c.d"), tools)
    assert not plan_cacheable(outcome("x.y"), tools)
    again = outcome("a.b").model_copy(update={"from_cache": True})
    assert not plan_cacheable(again, tools)


def test_an_answer_from_the_plan_cache_is_free_and_names_the_original() -> None:
    intent = IntentSubmitted(intent_id="second", text="t", occurred_at=100.0)
    stored = {"intent_id": "first", "outcome": outcome("a.b").model_dump(mode="json")}
    answer = answer_from_outcome(intent, stored, now=100.5)
    assert answer.from_cache and answer.cached_from == "first"
    assert answer.intent_id == "second" and answer.cost == 0.0 and answer.attempts == 0
    assert answer.results[0].output == 0 and answer.results[0].cached
    assert answer.latency_ms == 500.0


def test_max_cost_refuses_a_plan_estimated_above_it_with_the_numbers() -> None:
    intent = IntentSubmitted(text="t", max_cost=0.1)
    assert max_cost_denial(intent, 0.1) is None
    denial = max_cost_denial(intent, 0.3)
    assert denial is not None and (denial.scope, denial.limit, denial.requested) == (
        "intent",
        0.1,
        0.3,
    )
    failed = budget_failure("i1", denial)
    assert failed.error_kind == "budget_exceeded" and failed.budget == denial
    assert "max_cost" in failed.reason


def test_a_plan_asks_each_of_its_scopes_for_its_steps_estimates() -> None:
    tools = {"a.b": spec("a.b", 0.25), "c.d": spec("c.d", 1.0)}
    steps = [PlanStep(step_id="1", index=0, tool="a.b"), PlanStep(step_id="2", index=1, tool="c.d")]
    wanted = wanted_by_plan({"user": "ann", "team": "ops"}, steps, tools)
    assert wanted == {
        "global": 1.25,
        "team:ops": 1.25,
        "user:ann": 1.25,
        "tool:a.b": 0.25,
        "tool:c.d": 1.0,
    }


def test_cache_statistics_give_per_tool_hit_rates_and_keep_unsent_counts() -> None:
    counters = CacheCounters()
    for counter in ("hits", "hits", "hits", "misses"):
        counters.count("a.b", counter)
    counters.count("a.b", "bytes_stored", 120)
    counters.count(PLAN_CACHE, "misses")
    pending = counters.take_pending()
    assert counters.take_pending() == {}
    counters.restore(pending)  # Redis was away: counted again next time
    view = stats_view(counters.take_pending())
    assert view["tools"]["a.b"]["hit_rate"] == 0.75
    assert view["tools"]["a.b"]["bytes_stored"] == 120
    assert view["plan_cache"]["misses"] == 1 and view["plan_cache"]["hit_rate"] == 0.0
    assert view["total"]["lookups"] == 4


def test_a_plan_refused_at_reservation_fails_with_the_budgets_numbers() -> None:
    from agents.outcome_assembly import assemble
    from agents.spend_rules import refused_call
    from models import PlanCreated, ToolCallRequested
    from models.budget_scopes import BudgetDenial

    step = PlanStep(step_id="p:0", index=0, tool="a.b")
    plan = PlanCreated(event_id="p", intent_id="p", steps=[step])
    request = ToolCallRequested(event_id="r", intent_id="p", call_id="p:0", step=step)
    denial = BudgetDenial(scope="user:ann", limit=2, spent=1.5, reserved=0.5, remaining=0)
    outcome = assemble(plan, [refused_call(request, denial, None)], now=0.0)
    assert isinstance(outcome, IntentFailed) and outcome.error_kind == "budget_exceeded"
    assert outcome.budget == denial
    assert outcome.results[0].budget == denial and outcome.results[0].attempts == 0
