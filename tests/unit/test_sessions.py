"""The session model: next-intent classes with a confidence, and predictable arguments."""

from __future__ import annotations

from typing import Any

import pytest

from learning.sessions import (
    END,
    PrewarmCall,
    SessionModelConfig,
    SessionStep,
    advance,
    end_session,
    observe,
    predict,
    prewarm_calls,
    wilson_lower,
)
from models.experiments import SessionStepCompleted
from models.tools import ToolSpec

TOOLS = {
    "web.search": ToolSpec(name="web.search", server="web", tool="search", cacheable=True,
                           input_schema={"required": ["query"]}),
    "web.fetch": ToolSpec(name="web.fetch", server="web", tool="fetch", cacheable=True,
                          input_schema={"required": ["url"]}),
    "llm.summarize": ToolSpec(name="llm.summarize", server="llm", tool="summarize",
                              input_schema={"required": ["text"]}),
}  # fmt: skip


def search(query: str, url: str) -> SessionStep:
    return SessionStep("task=search", "web.search", {"query": query},
                       {"results": [{"url": url, "title": query}]})  # fmt: skip


def fetch(url: str, **extra: Any) -> SessionStep:
    return SessionStep("task=fetch", "web.fetch", {"url": url, **extra}, f"page of {url}")


def learned(times: int, record: dict[str, Any] | None = None) -> dict[str, Any]:
    for i in range(times):
        record = observe(record, search(f"q{i}", f"https://x/{i}"), fetch(f"https://x/{i}"))
    assert record is not None
    return record


def test_the_next_class_and_its_smoothed_probability() -> None:
    record = learned(8)
    record = observe(record, search("q", "https://x/q"), SessionStep("task=other", "t", {}))
    guess = predict(record, "task=search")
    assert guess is not None and guess.to_class == "task=fetch"
    assert guess.observations == 9
    # Laplace over the 2 classes seen plus one slot for a new one: (8 + 1) / (9 + 3).
    assert guess.probability == pytest.approx(0.75)
    assert guess.confidence == pytest.approx(wilson_lower(8, 9, 1.645))
    assert predict(None, "task=search") is None


def test_the_confidence_grows_with_evidence_and_gates_prewarming() -> None:
    config = SessionModelConfig()  # threshold 0.6: five recurrences
    previous = search("weather", "https://x/weather")
    for times, expected in ((4, False), (5, True)):
        record = learned(times)
        guess = predict(record, "task=search")
        assert guess is not None and guess.probability > 0.6
        calls = prewarm_calls(record, guess, previous, TOOLS, config)
        assert bool(calls) is expected, (times, guess)


def test_arguments_come_from_where_they_always_came_from() -> None:
    record = learned(6)
    guess = predict(record, "task=search")
    assert guess is not None
    previous = search("weather", "https://x/weather")
    # The fetched URL was always the first search result's URL: predictable, and fetch caches.
    assert prewarm_calls(record, guess, previous, TOOLS) == [
        PrewarmCall("web.fetch", {"url": "https://x/weather"})
    ]


def test_a_tool_that_is_not_cacheable_is_only_warmed_never_run() -> None:
    record = None
    for i in range(6):
        summary = SessionStep("task=summarize", "llm.summarize", {"text": f"page of u{i}"})
        record = observe(record, fetch(f"u{i}"), summary)
    assert record is not None
    guess = predict(record, "task=fetch")
    assert guess is not None
    previous = fetch("u")
    assert prewarm_calls(record, guess, previous, TOOLS) == [PrewarmCall("llm.summarize", None)]


def test_an_argument_without_one_consistent_source_stops_the_precompute() -> None:
    record = None
    for i in range(6):
        # The language comes from nowhere the model can see: a different value each time.
        record = observe(record, search(f"q{i}", f"https://x/{i}"),
                         fetch(f"https://x/{i}", lang=f"l{i}"))  # fmt: skip
    assert record is not None
    guess = predict(record, "task=search")
    assert guess is not None
    calls = prewarm_calls(record, guess, search("q", "https://x/q"), TOOLS)
    assert calls == [PrewarmCall("web.fetch", None)]


def test_a_constant_argument_is_predicted_as_that_constant() -> None:
    record = None
    for i in range(6):
        record = observe(record, search(f"q{i}", f"https://x/{i}"),
                         fetch(f"https://x/{i}", lang="en"))  # fmt: skip
    assert record is not None
    guess = predict(record, "task=search")
    assert guess is not None
    calls = prewarm_calls(record, guess, search("q", "https://x/q"), TOOLS)
    assert calls == [PrewarmCall("web.fetch", {"url": "https://x/q", "lang": "en"})]


def test_observing_returns_a_new_record() -> None:
    record = learned(2)
    before = repr(record)
    observe(record, search("a", "b"), fetch("b"))
    assert repr(record) == before


def test_a_class_after_which_sessions_usually_end_predicts_nothing() -> None:
    record = learned(2)  # search -> fetch twice...
    for i in range(6):  # ...and six sessions that ended after their search
        record = observe(record, search(f"e{i}", "u"), SessionStep(END, "", {}))
    guess = predict(record, "task=search")
    assert guess is not None and guess.to_class == END
    assert prewarm_calls(record, guess, search("q", "u"), TOOLS) == []


def test_an_idle_session_ends_once_and_then_starts_afresh() -> None:
    models: dict[str, Any] = {}
    first = advance(None, completed("a", "task=search"), models.get, TOOLS)
    assert first is not None
    ended = end_session(first.session, models.get)
    assert ended is not None and ended.model_class == "task=search"
    assert ended.model is not None and ended.model["next"] == {END: 1}
    assert ended.counts == {"ends": 1}
    assert end_session(ended.session, models.get) is None  # ended already
    models["task=search"] = ended.model
    again = advance(ended.session, completed("b", "task=fetch"), models.get, TOOLS)
    assert again is not None and again.model_class is None  # no transition across the gap
    assert "transitions" not in again.counts


def completed(intent: str, intent_class: str) -> SessionStepCompleted:
    return SessionStepCompleted(session="s", intent_id=intent, intent_class=intent_class,
                                first_tool="t", last_tool="t")  # fmt: skip
