"""The built-in planner: clauses to steps, argument filling, unknown tools."""

from __future__ import annotations

import numpy as np
import pytest

from agents.argument_filling import fill_arguments
from agents.plan_builder import (
    Candidate,
    PlannerPolicy,
    PlanningError,
    keyword_ranker,
    plan_steps,
)
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
    read_only=True,
    open_world=False,
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
    read_only=True,
    open_world=False,
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
    read_only=True,
    open_world=False,
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


def test_free_text_tool_takes_what_the_clause_asks_about() -> None:
    [step] = plan("search the documents about exactly-once delivery")
    assert step.tool == "docsearch.search"
    # The query is what to search for, without the words that ask for the search.
    assert step.arguments["query"] == "exactly-once delivery"


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
    assert fill_arguments(UNITS, "convert a lot", {}).missing == ("value", "from_unit", "to_unit")
    given = fill_arguments(UNITS, "convert", {"value": 3, "from_unit": "m", "to_unit": "ft"})
    assert given.complete
    assert given.arguments == {"value": 3, "from_unit": "m", "to_unit": "ft"}


def scripted(*ranked: tuple[ToolSpec, float]):  # type: ignore[no-untyped-def]
    """A ranker that returns these tools with these relevances, whatever the text."""

    def rank(text, context, specs):  # type: ignore[no-untyped-def]
        return [Candidate(spec=s, score=r, relevance=r) for s, r in ranked]

    return rank


FETCH = ToolSpec(
    name="web.fetch",
    server="web",
    tool="fetch",
    description="Fetch a URL.",
    input_schema={"type": "object", "properties": {"url": {"type": "string", "format": "uri"}}},
    read_only=True,
    open_world=True,  # reaches the internet: never chosen unless named or auto_select
)


def plan_with(rank, text: str, **fields: object):  # type: ignore[no-untyped-def]
    intent = IntentSubmitted(intent_id="i", text=text, **fields)  # type: ignore[arg-type]
    tools = {t.name: t for t in (CALC, UNITS, SEARCH, FETCH)}
    return plan_steps(intent, tools, rank, RetryPolicy(), PlannerPolicy(relevance_ratio=0.6))


def test_fallbacks_clear_the_relevance_bar_are_allowed_and_filled() -> None:
    rank = scripted((SEARCH, 1.0), (FETCH, 0.9), (UNITS, 0.95), (CALC, 0.7))
    [step] = plan_with(rank, "search the docs for 2 + 2")
    # Both use the two numbers; the ranking's order stands.
    # FETCH is open-world, UNITS cannot be filled, CALC clears 0.6 of the best.
    assert step.tool == "docsearch.search"
    assert [(f.tool, f.arguments) for f in step.fallbacks] == [
        ("calculator.evaluate", {"expression": "2 + 2"})
    ]
    [alone] = plan_with(scripted((SEARCH, 1.0), (CALC, 0.5)), "search the docs for 2 + 2")
    assert alone.fallbacks == []  # below the bar: off topic, however fillable


def test_each_step_says_why_its_tool_was_allowed() -> None:
    [step] = plan_with(scripted((CALC, 1.0), (SEARCH, 0.8)), "calculate 1 + 2")
    assert step.allowed_by == "read-only and closed-world by its annotations"
    assert step.fallbacks[0].allowed_by == step.allowed_by
    [named] = plan_with(scripted(), "get https://x.org", tool="web.fetch")
    assert named.allowed_by == "named in the intent" and named.arguments == {"url": "https://x.org"}
    chosen = FETCH.model_copy(update={"auto_select": True})
    intent = IntentSubmitted(intent_id="i", text="fetch https://x.org")
    [auto] = plan_steps(intent, {FETCH.name: chosen}, scripted((chosen, 1.0)), RetryPolicy())
    assert auto.allowed_by == "auto_select = true in the tools config"


def test_missing_arguments_name_the_tool_and_the_fields() -> None:
    with pytest.raises(PlanningError) as info:
        plan_with(scripted((UNITS, 1.0), (CALC, 0.3)), "convert some km")
    assert info.value.kind == "missing_arguments"
    assert info.value.missing == {"units.convert": ["value", "from_unit", "to_unit"]}
    assert "units.convert needs value" in info.value.reason and "arguments" in info.value.reason


def test_a_named_tool_without_its_arguments_is_missing_arguments_not_a_call() -> None:
    with pytest.raises(PlanningError) as info:
        plan_with(scripted(), "fetch it", tool="calculator.evaluate")
    assert info.value.kind == "missing_arguments"
    assert info.value.missing == {"calculator.evaluate": ["expression"]}


def test_the_most_relevant_tool_not_allowed_is_named_in_the_error() -> None:
    with pytest.raises(PlanningError) as info:
        plan_with(scripted((FETCH, 1.0), (SEARCH, 0.4)), "download https://x.org/a.zip")
    assert info.value.kind == "not_allowed"
    assert "web.fetch" in info.value.reason and "auto_select" in info.value.reason


def numbers_tool(name: str, *fields: str) -> ToolSpec:
    properties = {f: {"type": "number"} for f in fields}
    schema = {"type": "object", "properties": properties, "required": list(fields)}
    return ToolSpec(
        name=f"math.{name}",
        server="math",
        tool=name,
        input_schema=schema,
        read_only=True,
        open_world=False,
    )


ADD = numbers_tool("add", "a", "b")
NEGATE = numbers_tool("negate", "x")


def test_a_tool_that_uses_more_of_the_intent_goes_first() -> None:
    # Both can be filled from "add 2 and 40"; negate would drop the 40.
    intent = IntentSubmitted(intent_id="i", text="add 2 and 40")
    tools = {t.name: t for t in (ADD, NEGATE)}
    [step] = plan_steps(intent, tools, scripted((NEGATE, 1.0), (ADD, 0.9)), RetryPolicy())
    assert (step.tool, step.arguments) == ("math.add", {"a": 2, "b": 40})
    assert step.fallbacks[0].tool == "math.negate"


def test_a_tool_lacking_an_argument_but_using_more_of_the_intent_asks_for_it() -> None:
    # "convert 10:00 to Tokyo time": a converter lacking the source zone, not the clock.
    clock = ToolSpec(
        name="time.now",
        server="time",
        tool="now",
        input_schema={
            "type": "object",
            "properties": {"timezone": {"type": "string"}},
            "required": ["timezone"],
        },
        read_only=True,
        open_world=False,
    )
    convert = clock.model_copy(
        update={
            "name": "time.convert",
            "tool": "convert",
            "input_schema": {
                "type": "object",
                "properties": {
                    "source_timezone": {"type": "string"},
                    "time": {"type": "string", "description": "HH:MM"},
                    "target_timezone": {"type": "string"},
                },
                "required": ["source_timezone", "time", "target_timezone"],
            },
        }
    )
    intent = IntentSubmitted(intent_id="i", text="convert 10:00 to Tokyo time")
    tools = {t.name: t for t in (clock, convert)}
    with pytest.raises(PlanningError) as info:
        plan_steps(intent, tools, scripted((clock, 1.0), (convert, 1.0)), RetryPolicy())
    assert info.value.kind == "missing_arguments"
    assert info.value.missing == {"time.convert": ["source_timezone"]}


def test_an_and_inside_a_clause_does_not_split_it() -> None:
    intent = IntentSubmitted(intent_id="i", text="convert 5 kg to lb and then add 2 and 3")
    tools = {t.name: t for t in (UNITS, ADD)}
    steps = plan_steps(intent, tools, scripted((UNITS, 1.0), (ADD, 1.0)), RetryPolicy())
    assert [(s.tool, s.arguments) for s in steps] == [
        ("units.convert", {"value": 5.0, "from_unit": "kg", "to_unit": "lb"}),
        ("math.add", {"a": 2, "b": 3}),
    ]


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
