"""Intent text never freezes the planner: clauses split in linear time (RE2, as tool patterns).

The chaos harness's hostile records found both: "calculate" and a few thousand digits froze a
worker for good in the calculator's own pattern (Python's re backtracks exponentially on it),
and 20,000 spaces held the event loop for a minute in the clause split. The long-input tests
below run in a child process and fail when the call has not returned after ``_BOUND_S``: the fixed
code answers in milliseconds, the old one took 60 s (spaces) and forever (digits).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

import pytest

from agents.plan_builder import clauses

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
