"""How MCP answers and errors become CallResults, and how arguments are checked first."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from mcp.types import (
    CONNECTION_CLOSED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    REQUEST_TIMEOUT,
    CallToolResult,
    ImageContent,
    TextContent,
    Tool,
)

from models.tools import ErrorKind
from tools._outcomes import (
    argument_problem,
    coerce_arguments,
    from_tool_result,
    kind_of_mcp_error,
    result_output,
)
from tools._specs import apply_override, spec_from_mcp
from tools.config import ToolOverride
from tools.conventions import tool_error, tool_meta, tool_result
from tools.testing import make_spec

SPEC = make_spec("s", "t", cost_per_call=0.5)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "value": {"type": "number"},
        "count": {"type": "integer"},
        "flag": {"type": "boolean"},
        "name": {"type": "string"},
    },
    "required": ["value", "name"],
}


def text(*parts: str, **fields: Any) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=p) for p in parts], **fields)


def test_structured_content_is_the_output() -> None:
    result = from_tool_result(SPEC, tool_result({"x": 1}, "x is 1"), latency_ms=2.0)
    assert (result.ok, result.output, result.latency_ms) == (True, {"x": 1}, 2.0)


def test_text_output_is_a_string_or_a_list() -> None:
    assert result_output(text("one")) == "one"
    assert result_output(text("one", "two")) == ["one", "two"]
    image = ImageContent(type="image", data="aGk=", mime_type="image/png")
    assert result_output(CallToolResult(content=[image])) is None


def test_reported_cost_and_quality_win_over_the_spec() -> None:
    result = from_tool_result(SPEC, tool_result({}, "", cost=0.1, quality=0.7), 1.0)
    assert (result.cost, result.quality) == (0.1, 0.7)
    default = from_tool_result(SPEC, tool_result({}, ""), 1.0)
    assert (default.cost, default.quality) == (0.5, None)


def test_out_of_range_quality_is_clamped_and_junk_ignored() -> None:
    high = text("x", _meta={"toolwise/quality": 1.5, "toolwise/cost": "lots"})
    result = from_tool_result(SPEC, high, 1.0)
    assert (result.quality, result.cost) == (1.0, 0.5)


@pytest.mark.parametrize(
    ("result", "kind"),
    [
        (tool_error("busy", retryable=True), ErrorKind.TRANSIENT),
        (tool_error("bad input"), ErrorKind.TOOL_ERROR),
        (text("boom", is_error=True), ErrorKind.TOOL_ERROR),
        (text("retry?", is_error=True, _meta={"toolwise/retryable": "yes"}), ErrorKind.TOOL_ERROR),
        (
            text(
                "Error executing tool add: 1 validation error for addArguments\na\n  ...",
                is_error=True,
            ),
            ErrorKind.INVALID_ARGUMENTS,
        ),
        (text("Unknown tool: nope", is_error=True), ErrorKind.UNKNOWN_TOOL),
    ],
)
def test_error_results_are_classified(result: CallToolResult, kind: ErrorKind) -> None:
    outcome = from_tool_result(SPEC, result, 1.0)
    assert not outcome.ok
    assert outcome.error_kind is kind
    assert outcome.error


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (REQUEST_TIMEOUT, ErrorKind.TIMEOUT),
        (CONNECTION_CLOSED, ErrorKind.CONNECTION),
        (INVALID_PARAMS, ErrorKind.INVALID_ARGUMENTS),
        (INTERNAL_ERROR, ErrorKind.TOOL_ERROR),
    ],
)
def test_protocol_errors_are_classified(code: int, kind: ErrorKind) -> None:
    assert kind_of_mcp_error(MCPError(code, "x")) is kind


def test_retryable_kinds() -> None:
    retryable = {k for k in ErrorKind if k.retryable}
    assert retryable == {ErrorKind.TIMEOUT, ErrorKind.CONNECTION, ErrorKind.TRANSIENT}


def test_strings_from_intent_text_are_coerced_to_the_declared_type() -> None:
    args = {"value": "12.5", "count": "3", "flag": "yes", "name": "42", "extra": "1"}
    assert coerce_arguments(SCHEMA, args) == {
        "value": 12.5,
        "count": 3,
        "flag": True,
        "name": "42",
        "extra": "1",
    }
    assert coerce_arguments(SCHEMA, {"count": "3.5", "value": "abc"}) == {
        "count": "3.5",
        "value": "abc",
    }


def test_argument_problems_name_the_field() -> None:
    assert argument_problem(SCHEMA, {"value": 1.0, "name": "x"}) is None
    assert "'name' is a required property" in (argument_problem(SCHEMA, {"value": 1}) or "")
    problem = argument_problem(SCHEMA, {"value": "abc", "name": "x"})
    assert problem is not None and problem.startswith("value:")
    assert argument_problem({}, {"anything": 1}) is None
    assert argument_problem({"type": 12}, {"a": 1}) is None  # broken schema: the server decides


def test_spec_from_tool_metadata_and_overrides() -> None:
    tool = Tool(
        name="convert",
        description="Convert units.",
        input_schema=SCHEMA,
        _meta=tool_meta(
            patterns=[r"(?P<value>\d+)", "(broken"],
            keywords=["convert"],
            version="3",
            cost_per_call=0.25,
            cacheable=True,
        ),
    )
    spec = spec_from_mcp("units", tool)
    assert (spec.name, spec.server, spec.tool) == ("units.convert", "units", "convert")
    assert spec.patterns == (r"(?P<value>\d+)",)  # the invalid regex is dropped
    assert (spec.keywords, spec.version, spec.cost_per_call, spec.cacheable) == (
        ("convert",),
        "3",
        0.25,
        True,
    )
    override = ToolOverride(version="4", keywords=("units", "metric"), cacheable=False)
    merged = apply_override(spec, override)
    assert (merged.version, merged.keywords, merged.cacheable) == ("4", ("units", "metric"), False)
    assert merged.patterns == spec.patterns and merged.cost_per_call == 0.25


def test_spec_without_metadata_gets_defaults() -> None:
    spec = spec_from_mcp("s", Tool(name="t", input_schema={"type": "object"}))
    assert (spec.version, spec.cost_per_call, spec.patterns, spec.cacheable) == (
        "1",
        0.0,
        (),
        False,
    )
