"""Arguments from the intent, read off real third-party schemas (tests/data/planning)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from agents.argument_filling import field_kind, fill_arguments
from models import ToolSpec

Tools = dict[str, ToolSpec]


def fill(spec: ToolSpec, text: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
    filled = fill_arguments(spec, text, given or {}, today=date(2026, 12, 1))
    assert filled.complete, (filled.missing, filled.problem)
    return filled.arguments


def schema_tool(properties: dict[str, Any], required: list[str]) -> ToolSpec:
    schema = {"type": "object", "properties": properties, "required": required}
    return ToolSpec(name="t.t", server="t", tool="t", input_schema=schema)


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("what time is it in Tokyo", "Asia/Tokyo"),  # issue 11: was the whole sentence
        ("what is the current time in Europe/Paris", "Europe/Paris"),
        ("current time in Japan", "Asia/Tokyo"),
        ("time in São Paulo", "America/Sao_Paulo"),
        ("what's the time in New York right now?", "America/New_York"),
        ("the time in the United Kingdom", "Europe/London"),
        ("now in UTC+2", "Etc/GMT-2"),
    ],
)
def test_a_time_zone_from_a_city_a_country_or_its_iana_name(
    third_party: Tools, text: str, zone: str
) -> None:
    assert fill(third_party["time.get_current_time"], text) == {"timezone": zone}


def test_a_country_with_several_zones_or_no_place_leaves_the_zone_missing(
    third_party: Tools,
) -> None:
    spec = third_party["time.get_current_time"]
    for text in ("what time is it in Australia", "what time is it", "time in the USA"):
        filled = fill_arguments(spec, text, {})
        assert filled.missing == ("timezone",), text
        assert filled.arguments == {}, text


def test_the_whole_sentence_never_fills_a_zone(third_party: Tools) -> None:
    # The free-text fallback is for queries and messages, not for a field that wants a zone.
    filled = fill_arguments(third_party["time.get_current_time"], "what time is it on Mars", {})
    assert filled.arguments == {} and filled.missing == ("timezone",)


def test_from_and_to_tell_the_source_zone_from_the_target(third_party: Tools) -> None:
    spec = third_party["time.convert_time"]
    assert fill(spec, "convert 9am from Paris to Los Angeles") == {
        "source_timezone": "Europe/Paris",
        "time": "09:00",
        "target_timezone": "America/Los_Angeles",
    }
    # Without 'from', the zone not marked as a target is the source.
    assert fill(spec, "convert 3pm New York time to Tokyo time") == {
        "target_timezone": "Asia/Tokyo",
        "source_timezone": "America/New_York",
        "time": "15:00",
    }


def test_two_numbers_fill_two_number_fields_in_order(third_party: Tools) -> None:
    spec = third_party["everything.get-sum"]
    assert fill(spec, "add 3 and 4") == {"a": 3, "b": 4}  # issue 11: was no_tool
    assert fill(spec, "sum 2.5 and 4.25") == {"a": 2.5, "b": 4.25}
    assert fill(spec, "please add seven and five") == {"a": 7, "b": 5}
    assert fill(spec, "add 1,200 and -800") == {"a": 1200, "b": -800}
    assert fill_arguments(spec, "add 3", {}).missing == ("b",)


def test_an_optional_number_is_filled_only_when_its_words_label_it(third_party: Tools) -> None:
    links = third_party["everything.get-resource-links"]
    assert fill(links, "get 4 resource links") == {"count": 4}  # "Number of resource links"
    assert fill(links, "resource links for 2 people") == {}
    assert fill(links, "the 2nd resource links") == {}  # an ordinal ranks, it is no value
    read = third_party["filesystem.read_text_file"]
    # "first 10 lines" is the description of head ("the first N lines"), not of tail.
    assert fill(read, "read the first 10 lines of /var/log/app.log") == {
        "path": "/var/log/app.log",
        "head": 10,
    }


def test_free_text_gets_what_the_clause_asks_about_and_quotes_win(third_party: Tools) -> None:
    echo = third_party["everything.echo"]
    assert fill(echo, "echo hello world") == {"message": "hello world"}
    assert fill(echo, "echo 'good morning, team' please") == {"message": "good morning, team"}
    search = third_party["brave.brave_web_search"]
    assert fill(search, "search the web for best hiking trails in Colorado") == {
        "query": "best hiking trails in Colorado"
    }
    assert fill_arguments(search, "search the web", {}).missing == ("query",)


def test_enums_are_matched_to_words_even_of_several_words(third_party: Tools) -> None:
    assert fill(third_party["everything.get-structured-content"], "weather in new york") == {
        "location": "New York"
    }
    message = third_party["everything.get-annotated-message"]
    assert fill(message, "an annotated message of type error") == {"messageType": "error"}
    converter = third_party["converter.convert_temperature"]
    assert fill(converter, "convert 212 from fahrenheit to celsius") == {
        "value": 212,
        "from_unit": "fahrenheit",
        "to_unit": "celsius",
    }


def test_urls_paths_and_dates_by_format_or_name(third_party: Tools) -> None:
    assert fill(third_party["fetch.fetch"], "fetch https://example.com/robots.txt.") == {
        "url": "https://example.com/robots.txt"
    }
    assert fill(third_party["filesystem.read_text_file"], "show me ./README.md") == {
        "path": "./README.md"
    }
    assert fill(third_party["filesystem.get_file_info"], "metadata about report.pdf") == {
        "path": "report.pdf"
    }
    booking = schema_tool(
        {
            "day": {"type": "string", "format": "date"},
            "email": {"type": "string", "format": "email"},
            "note": {"type": "string"},
        },
        ["day", "email"],
    )
    assert fill(booking, "book May 3rd for ana@example.org") == {
        "day": "2026-05-03",
        "email": "ana@example.org",
    }
    assert fill(booking, "book tomorrow for ana@example.org")["day"] == "2026-12-02"


def test_free_text_never_fills_a_field_with_a_format_enum_or_pattern() -> None:
    spec = schema_tool(
        {
            "query": {"type": "string", "format": "uri"},
            "message": {"type": "string", "enum": ["a", "b"]},
            "text": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
        ["query", "message", "text"],
    )
    filled = fill_arguments(spec, "please look this up for me", {})
    assert filled.arguments == {} and set(filled.missing) == {"query", "message", "text"}
    assert [field_kind(n, spec.input_schema["properties"][n]) for n in ("query", "message")] == [
        "url",
        "enum",
    ]


def test_given_arguments_win_and_values_are_coerced_to_the_schema(third_party: Tools) -> None:
    spec = third_party["time.get_current_time"]
    assert fill(spec, "what time is it in Tokyo", {"timezone": "Europe/Oslo"}) == {
        "timezone": "Europe/Oslo"
    }
    sum_tool = third_party["everything.get-sum"]
    assert fill(sum_tool, "add these", {"a": "2", "b": 40}) == {"a": 2, "b": 40}
    assert fill(sum_tool, "add these", {"a": 1, "b": 2, "c": 3}) == {"a": 1, "b": 2}


def test_an_extracted_value_the_schema_refuses_is_dropped_not_sent() -> None:
    spec = schema_tool({"count": {"type": "integer", "minimum": 1, "maximum": 10}}, ["count"])
    assert fill(spec, "count 7") == {"count": 7}
    refused = fill_arguments(spec, "count 70", {})
    assert refused.arguments == {} and refused.missing == ("count",)
    # What the agent gave goes to the tool as given; the problem is shown, not a refusal.
    given = fill_arguments(spec, "anything", {"count": 70})
    assert given.complete and given.arguments == {"count": 70}
    assert given.problem is not None and "70" in given.problem
