"""What `toolwise plan` shows, and the /api/plan query it sends, without a worker."""

from __future__ import annotations

import pytest

from agents.plan_builder import Candidate, explain_plan
from agents.plan_view import plan_view
from interfaces.cli_plan import format_plan
from interfaces.plan_query import PlanQueryError, intent_from_query
from models import IntentSubmitted, RetryPolicy, ToolSpec

Tools = dict[str, ToolSpec]


def view_for(tools: Tools, text: str, ranked: list[tuple[str, float]]) -> dict[str, object]:
    def rank(t, c, specs):  # type: ignore[no-untyped-def]
        return [
            Candidate(spec=tools[n], score=r, probability=r / 2, relevance=r) for n, r in ranked
        ]

    intent = IntentSubmitted(text=text)
    return plan_view(intent, explain_plan(intent, tools, rank, RetryPolicy()), "test")


def test_the_view_shows_the_step_its_sources_and_every_verdict(third_party: Tools) -> None:
    view = view_for(
        third_party,
        "what time is it in Tokyo",
        [
            ("time.get_current_time", 1.0),
            ("time.convert_time", 0.9),
            ("fetch.fetch", 0.8),
            ("everything.echo", 0.1),
        ],
    )
    [step] = view["steps"]  # type: ignore[misc]
    assert step["tool"] == "time.get_current_time" and step["arguments"] == {
        "timezone": "Asia/Tokyo"
    }
    verdicts = {c["tool"]: c["verdict"] for c in view["clauses"][0]["candidates"]}  # type: ignore[index]
    assert verdicts == {
        "time.get_current_time": "chosen",
        "time.convert_time": "rejected",
        "fetch.fetch": "not allowed",
        "everything.echo": "rejected",
    }
    text = format_plan(view)
    assert "step 1: time.get_current_time" in text
    assert "timezone <- timezone 'Tokyo'" in text
    assert "not allowed    fetch.fetch" in text and "below 0.6" in text


def test_the_view_of_an_intent_that_cannot_be_planned_says_what_to_send(
    third_party: Tools,
) -> None:
    view = view_for(third_party, "what time is it", [("time.get_current_time", 1.0)])
    assert view["steps"] == []
    assert view["error"]["kind"] == "missing_arguments"  # type: ignore[index]
    assert view["error"]["missing"] == {"time.get_current_time": ["timezone"]}  # type: ignore[index]
    assert format_plan(view).splitlines()[1].startswith("no plan: missing_arguments")


def test_a_plan_query_becomes_the_intent_it_describes() -> None:
    intent = intent_from_query(
        {
            "text": "now",
            "tool": "time.get_current_time",
            "arguments": '{"timezone": "UTC"}',
            "context.tenant": "acme",
        }
    )
    assert intent.tool == "time.get_current_time"
    assert intent.arguments == {"timezone": "UTC"} and intent.context == {"tenant": "acme"}


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({}, r"missing \?text="),
        ({"text": "x", "arguments": "{oops"}, "not JSON"),
        ({"text": "x", "arguments": "[1]"}, "JSON object"),
        ({"text": "x" * 20_001}, "text"),
    ],
)
def test_a_bad_plan_query_says_which_parameter(query: dict[str, str], says: str) -> None:
    with pytest.raises(PlanQueryError, match=says):
        intent_from_query(query)
