"""Intent text never freezes the planner: tool patterns run on RE2, clauses split in linear time.

The chaos harness's hostile records found both: "calculate" and a few thousand digits froze a
worker for good in the calculator's own pattern (Python's re backtracks exponentially on it),
and 20,000 spaces held the event loop for a minute in the clause split. The long-input tests
below run in a child process and fail when the call has not returned after ``_BOUND_S``: the fixed
code answers in milliseconds, the old one took 60 s (spaces) and forever (digits).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp.types import Tool

from agents.plan_builder import clauses, fill_arguments
from models import ToolSpec
from tools._specs import spec_from_mcp
from tools.config import load_tools_config
from tools.exceptions import ConfigError
from tools.patterns import PatternError, compile_pattern, search
from tools.servers.calculator import _PATTERNS as CALCULATOR_PATTERNS

# Orders of magnitude above what the fixed code takes, far below what the old code took.
_BOUND_S = 10.0


def _run(conn: Any, call: Callable[..., Any], args: tuple[Any, ...]) -> None:
    conn.send(call(*args))


def returns(call: Callable[..., Any], *args: Any) -> Any:
    """call(*args) in a child process, or a failure if it is still running after _BOUND_S.

    A process, not a thread: a regex match holds the GIL, so a stuck one cannot be timed out
    from its own interpreter.
    """
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_run, args=(send, call, args), daemon=True)
    child.start()
    try:
        if not receive.poll(_BOUND_S):
            pytest.fail(f"still running after {_BOUND_S:g} s")
        return receive.recv()
    finally:
        child.kill()
        child.join()


CALCULATOR = ToolSpec(
    name="calculator.evaluate",
    server="calculator",
    tool="evaluate",
    input_schema={
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
    patterns=CALCULATOR_PATTERNS,
)


def test_the_calculator_pattern_still_finds_expressions() -> None:
    assert fill_arguments(CALCULATOR, "calculate 3 * (4 + 5)", {}) == {"expression": "3 * (4 + 5)"}
    assert fill_arguments(CALCULATOR, "what is SQRT(16) please", {}) == {"expression": "SQRT(16)"}
    assert fill_arguments(CALCULATOR, "3 parsecs", {}) is None  # a bare number is no arithmetic


@pytest.mark.parametrize("digits", ["1" * 5_000, "12 " * 2_000, "(1" * 3_000])
def test_a_long_run_of_digits_is_planned_at_once(digits: str) -> None:
    filled = returns(fill_arguments, CALCULATOR, f"calculate {digits}x", {})
    assert filled is None or set(filled) == {"expression"}


def test_patterns_ignore_case() -> None:
    assert search(r"(?P<unit>km) to (?P<to>mi)", "Convert 5 KM TO Mi") == {"unit": "KM", "to": "Mi"}
    assert search(r"(?P<unit>km)", "no unit here") is None


def test_a_pattern_re2_cannot_run_is_dropped_from_the_tool_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tool = Tool(
        name="t",
        input_schema={"type": "object"},
        _meta={"toolwise/patterns": [r"(?P<a>\d+)(?=x)", r"(?P<b>\d+)"]},
    )
    spec = spec_from_mcp("s", tool)
    assert spec.patterns == (r"(?P<b>\d+)",)
    assert "ignoring invalid pattern" in caplog.text and "lookaround" in caplog.text


def test_the_config_refuses_a_pattern_re2_cannot_run(tmp_path: Path) -> None:
    path = tmp_path / "tools.toml"
    path.write_text(
        '[servers.c]\ntransport = "stdio"\ncommand = ["x"]\n'
        '[servers.c.tools.t]\npatterns = ["(?P<a>a)\\\\1"]\n'
    )
    with pytest.raises(ConfigError, match="RE2"):
        load_tools_config(path)
    with pytest.raises(PatternError):
        compile_pattern(r"(?P<a>a)\1")


def test_clauses_split_as_before() -> None:
    assert clauses("convert 5 km to miles and then calculate 2 * 3") == [
        "convert 5 km to miles",
        "calculate 2 * 3",
    ]
    assert clauses("a ;b;  c and d then e and also f") == ["a", "b", "c", "d", "e", "f"]
    assert clauses("  lead and trail  ") == ["  lead", "trail  "]
    assert clauses("brand new android") == ["brand new android"]


def test_a_long_run_of_spaces_is_split_at_once() -> None:
    assert returns(clauses, "a" + " " * 20_000 + "b") == ["a" + " " * 20_000 + "b"]
