"""Regexes that touch intent text run in linear time (RE2); patterns RE2 refuses are refused."""

from __future__ import annotations

import logging

import pytest
from mcp.types import Tool

from agents.plan_builder import PlanningError, keyword_ranker, plan_steps
from models import IntentSubmitted, RetryPolicy, ToolSpec
from tools import argument_problem
from tools._specs import spec_from_mcp
from tools.config import parse_tools_config
from tools.exceptions import ConfigError
from tools.servers.calculator import _PATTERNS as CALCULATOR_PATTERNS

CALCULATOR = ToolSpec(
    name="calculator.evaluate",
    server="calculator",
    tool="evaluate",
    description="Evaluate an arithmetic expression.",
    input_schema={
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
    patterns=CALCULATOR_PATTERNS,
    keywords=("calculate",),
    read_only=True,
    open_world=False,
)


def test_the_calculator_pattern_on_5000_digits_ends_with_missing_arguments() -> None:
    # With Python's re this pattern took 5 s on 22 digits and doubled with each two more
    # (issue 10); on RE2 the planner answers. No operator, so no expression to evaluate.
    intent = IntentSubmitted(intent_id="i", text="calculate " + "1" * 5000)
    with pytest.raises(PlanningError) as info:
        plan_steps(intent, {CALCULATOR.name: CALCULATOR}, keyword_ranker, RetryPolicy())
    assert info.value.kind == "missing_arguments"
    assert info.value.missing == {"calculator.evaluate": ["expression"]}


def test_the_calculator_pattern_still_finds_the_expression_in_a_long_text() -> None:
    text = "calculate " + "1" * 5000 + " + 2"
    intent = IntentSubmitted(intent_id="i", text=text)
    [step] = plan_steps(intent, {CALCULATOR.name: CALCULATOR}, keyword_ranker, RetryPolicy())
    assert step.arguments["expression"] == "1" * 5000 + " + 2"


def test_a_config_pattern_re2_cannot_run_is_refused_with_the_reason() -> None:
    data = {
        "servers": {
            "calc": {
                "transport": "stdio",
                "command": ["python"],
                "tools": {"evaluate": {"patterns": [r"(?P<expression>(\d)\2+)"]}},
            }
        }
    }
    with pytest.raises(ConfigError) as info:
        parse_tools_config(data)
    message = str(info.value)
    assert "servers.calc.tools.evaluate.patterns" in message
    assert "backreferences" in message and "linear time" in message


def test_a_server_pattern_re2_cannot_run_is_dropped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tool = Tool(
        name="lookup",
        input_schema={"type": "object", "properties": {"key": {"type": "string"}}},
        _meta={"toolwise/patterns": [r"(?P<key>\w+)(?=!)", r"key (?P<key>\w+)"]},
    )
    with caplog.at_level(logging.ERROR):
        spec = spec_from_mcp("srv", tool)
    assert spec.patterns == (r"key (?P<key>\w+)",)
    assert "pattern refused" in caplog.text and "lookarounds" in caplog.text


def test_a_schema_pattern_is_checked_in_linear_time() -> None:
    # (a+)+$ is the textbook catastrophic pattern for Python's re on 'aaa...b'.
    schema = {"type": "object", "properties": {"x": {"type": "string", "pattern": "^(a+)+$"}}}
    assert argument_problem(schema, {"x": "a" * 5000 + "b"}) is not None
    assert argument_problem(schema, {"x": "a" * 5000}) is None
