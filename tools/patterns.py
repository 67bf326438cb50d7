"""Linear-time regexes (RE2) for everything that matches intent text or tool arguments.

Python's ``re`` backtracks: a tool-declared pattern such as the calculator's
``(atom)*[op](atom)*`` took half a minute on "calculate" and a few dozen
digits, and never finished on a few hundred (issue 10). RE2 runs in time
linear in the text for any pattern, at the price of no backreferences and no
lookarounds; a pattern that needs them is refused where it is declared, with
the reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Protocol, cast

import re2

__all__ = ["LinearMatch", "LinearPattern", "PatternError", "compile_linear", "linear_or_none"]


class LinearMatch(Protocol):
    """The part of RE2's match object Toolwise uses (the same as ``re.Match``'s)."""

    def group(self, group: int | str = 0) -> str | None: ...
    def groupdict(self) -> dict[str, str | None]: ...
    def start(self, group: int | str = 0) -> int: ...
    def end(self, group: int | str = 0) -> int: ...
    def span(self, group: int | str = 0) -> tuple[int, int]: ...


class LinearPattern(Protocol):
    """The part of RE2's compiled pattern Toolwise uses (the same as ``re.Pattern``'s)."""

    @property
    def groupindex(self) -> Mapping[str, int]: ...
    def search(self, text: str) -> LinearMatch | None: ...
    def fullmatch(self, text: str) -> LinearMatch | None: ...
    def finditer(self, text: str) -> Iterator[LinearMatch]: ...
    def split(self, text: str) -> list[str]: ...


class PatternError(ValueError):
    """A regex RE2 cannot compile; the message says which and why."""


def _options(ignore_case: bool) -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # RE2 would also print every refusal to stderr
    options.case_sensitive = not ignore_case
    return options


@lru_cache(maxsize=1024)
def compile_linear(pattern: str, ignore_case: bool = False) -> LinearPattern:
    """The compiled pattern; raises PatternError when RE2 cannot run it in linear time."""
    try:
        return cast(LinearPattern, re2.compile(pattern, _options(ignore_case)))
    except re2.error as exc:
        cause = exc.args[0] if exc.args else exc
        reason = cause.decode(errors="replace") if isinstance(cause, bytes) else str(cause)
        raise PatternError(
            f"regex {pattern!r} is not accepted: {reason}. Patterns run on RE2 so that "
            "matching takes linear time: backreferences (\\1), lookarounds ((?=...), "
            "(?<=...)) and possessive or atomic groups are not supported; rewrite it without them"
        ) from exc


def linear_or_none(pattern: str, ignore_case: bool = False) -> LinearPattern | None:
    """The compiled pattern, or None for one RE2 refuses (config checks report those)."""
    try:
        return compile_linear(pattern, ignore_case)
    except PatternError:
        return None
