"""Tool argument patterns (``toolwise/patterns``), matched with RE2: linear in the text's length.

Patterns come from tool servers, possibly third-party ones, and are matched against intent text
from anyone. Python's ``re`` backtracks: the calculator's own pattern took 3.7 s on "calculate"
and 22 digits, doubling with each digit, and froze a worker for good on a few hundred (the
chaos harness's hostile scenario). RE2 (Google's ``google-re2`` wheel) matches in linear time
and refuses what it cannot match that way (lookaround, backreferences): such a pattern is
dropped when the tool is listed (``tools._specs``) and refused in the config (``tools.config``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

__all__ = ["PatternError", "compile_pattern", "search"]


class PatternError(ValueError):
    """A pattern RE2 cannot compile (bad syntax, or lookaround and backreferences)."""


def _options() -> Any:
    options = re2.Options()
    options.case_sensitive = False  # patterns are matched ignoring case, as always
    return options


# Every tool's patterns, a few each: all of them stay compiled.
@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Any:
    """The compiled pattern, or PatternError saying why RE2 refuses it."""
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise PatternError(
            f"{pattern!r} is not a regex RE2 can run ({reason}); tool patterns use RE2 syntax: "
            "no lookaround, no backreferences"
        ) from None


def search(pattern: str, text: str) -> dict[str, str | None] | None:
    """The named groups of the first match of ``pattern`` in ``text`` (case ignored), or None."""
    match = compile_pattern(pattern).search(text)
    if match is None:
        return None
    groups: dict[str, str | None] = match.groupdict()
    return groups
