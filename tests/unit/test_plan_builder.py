"""The built-in planner: clauses to steps, argument filling, unknown tools."""

from __future__ import annotations

import numpy as np
import pytest

from agents.plan_builder import PlanningError, fill_arguments, keyword_ranker, plan_steps
from agents.ranking import learned_ranker
from learning import LearningState, Recommender
from models import IntentSubmitted, RetryPolicy, ToolSpec

CALC = ToolSpec(
    name="calculator.evaluate",
    server="calculator",
    tool="evaluate",
    description="Evaluate an arithmetic expression.",
    input_schema={
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
    patterns=(r"(?P<expression>[-+*/().\d\s^%]*\d[-+*/().\d\s^%]*)",),
    keywords=("calculate", "compute"),
)
UNITS = ToolSpec(
    name="units.convert",
    server="units",
    tool="convert",
    description="Convert a value between units of measure.",
    input_schema={
        "type": "object",
        "properties": {
            "value": {"type": "number"},
            "from_unit": {"type": "string"},
            "to_unit": {"type": "string"},
        },
        "required": ["value", "from_unit", "to_unit"],
    },
    patterns=(
        r"(?P<value>-?\d+(?:\.\d+)?)\s*(?P<from_unit>[a-zA-Z]+)\s+(?:to|in|into)\s+(?P<to_unit>[a-zA-Z]+)",
    ),
    keywords=("convert",),
)
SEARCH = ToolSpec(
    name="docsearch.search",
    server="docsearch",
    tool="search",
    description="Search the local documents for a query.",
    input_schema={
        "type": "object",
        "properties": {"query": {"type": "string"}, "top_k": {"type": "integer"}},
        "required": ["query"],
    },
    keywords=("search", "find", "documents"),
)
TOOLS = {t.name: t for t in (CALC, UNITS, SEARCH)}


def plan(text: str, **fields: object):  # type: ignore[no-untyped-def]
    intent = IntentSubmitted(intent_id="i", text=text, **fields)  # type: ignore[arg-type]
    return plan_steps(intent, TOOLS, keyword_ranker, RetryPolicy())


def test_arithmetic_goes_to_the_calculator_with_the_expression() -> None:
    [step] = plan("calculate 3 * (4 + 5)")
    assert step.tool == "calculator.evaluate"
    assert step.arguments == {"expression": "3 * (4 + 5)"}
    assert step.step_id == "i:0"


def test_conversion_arguments_are_typed_from_the_schema() -> None:
    [step] = plan("convert 10 km to mi")
    assert step.tool == "units.convert"
    assert step.arguments == {"value": 10.0, "from_unit": "km", "to_unit": "mi"}


def test_two_clauses_make_two_steps() -> None:
    steps = plan("convert 5 kg to lb and then calculate 2 * 21")
    assert [s.tool for s in steps] == ["units.convert", "calculator.evaluate"]
    assert [s.index for s in steps] == [0, 1]


def test_free_text_tool_takes_the_clause() -> None:
    [step] = plan("search the documents about exactly-once delivery")
    assert step.tool == "docsearch.search"
    assert step.arguments["query"] == "search the documents about exactly-once delivery"


def test_explicit_tool_and_arguments_skip_planning() -> None:
    [step] = plan(
        "anything", tool="units.convert", arguments={"value": 1, "from_unit": "m", "to_unit": "cm"}
    )
    assert step.tool == "units.convert" and step.arguments["to_unit"] == "cm"


def test_unknown_tool_is_a_planning_error_naming_it() -> None:
    with pytest.raises(PlanningError) as info:
        plan("x", tool="nope.nothing")
    assert info.value.kind == "unknown_tool" and "nope.nothing" in info.value.reason


def test_text_no_tool_can_serve_is_a_planning_error() -> None:
    with pytest.raises(PlanningError) as info:
        plan("sing me a song")
    assert info.value.kind == "no_tool"


def test_intent_policy_overrides_the_default() -> None:
    policy = RetryPolicy(timeout_s=0.5, max_attempts=7)
    [step] = plan("calculate 1+1", policy=policy)
    assert step.policy == policy


def test_missing_required_argument_means_the_tool_cannot_serve() -> None:
    assert fill_arguments(UNITS, "convert a lot", {}) is None
    assert fill_arguments(UNITS, "convert", {"value": 3, "from_unit": "m", "to_unit": "ft"}) == {
        "value": 3,
        "from_unit": "m",
        "to_unit": "ft",
    }


def test_fallbacks_are_other_tools_that_can_serve_the_clause() -> None:
    # Both tools can take "42"; whichever ranks first, the other backs it up.
    [step] = plan("search documents 42", arguments={})
    assert {step.tool, *(f.tool for f in step.fallbacks)} == {
        "docsearch.search",
        "calculator.evaluate",
    }
    assert len(step.fallbacks) == 1


class _Replica:
    """What learned_ranker reads from a LearnedReplica: the active generation's state."""

    def state(self) -> LearningState:
        return LearningState()


def test_the_learned_ranker_keeps_the_top_k_admissible_tools() -> None:
    # Free tools that share no word with the intent beat a costly search tool on expected
    # utility, but the planner may not use them: they must not crowd it out of the top k.
    # Likely why the demo's "search the docs ..." once failed with no_tool (top 5 of 11).
    unrelated = [
        ToolSpec(name=f"misc.t{i}", server="misc", tool=f"t{i}", description=f"Helper {i}.")
        for i in range(4)
    ]
    costly = SEARCH.model_copy(update={"cost_per_call": 0.9})
    rank = learned_ranker(Recommender(), _Replica(), 1, np.random.default_rng(0))  # type: ignore[arg-type]
    ranked = rank("search the documents for backoff", {}, [*unrelated, costly])
    assert [c.spec.name for c in ranked] == ["docsearch.search"]


def test_an_intent_of_more_requests_than_allowed_is_refused_before_ranking() -> None:
    ranked: list[str] = []

    def counting_ranker(text, context, specs):  # type: ignore[no-untyped-def]
        ranked.append(text)
        return keyword_ranker(text, context, specs)

    text = " and ".join(f"calculate {n} + 1" for n in range(17))
    intent = IntentSubmitted(intent_id="i", text=text)
    with pytest.raises(PlanningError) as info:
        plan_steps(intent, TOOLS, counting_ranker, RetryPolicy(), max_steps=16)
    assert info.value.kind == "too_many_steps" and "17 requests" in info.value.reason
    assert ranked == []
    assert len(plan_steps(intent, TOOLS, keyword_ranker, RetryPolicy(), max_steps=17)) == 17


def test_steps_of_the_longest_intent_id_have_ids_the_events_accept() -> None:
    intent = IntentSubmitted(intent_id="x" * 200, text="calculate 1 + 2 and then calculate 3 * 4")
    steps = plan_steps(intent, TOOLS, keyword_ranker, RetryPolicy())
    assert len({s.step_id for s in steps}) == 2
    assert all(len(s.step_id) <= 200 for s in steps)
