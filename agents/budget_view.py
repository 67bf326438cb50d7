"""What a scope's budget looks like today: limit, spent, reserved, remaining, window; pure.

Read from the two things every worker (and the CLI) can see whole: the compacted limits topic
and the changelog of the windowed spend table (``tables.budgets``), whose keys are Faust's
windowed keys ``[scope key, [window start, window end]]`` in shifted time
(``agents.budget_windows``). The global scope's shards are summed here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agents.budget_ledger import Tally
from agents.budget_windows import BudgetWindows
from models.budget_scopes import GLOBAL, BudgetDenial, scope_kind, shard_number


@dataclass(frozen=True)
class BudgetLimits:
    """Limits set on the topic (``None``: explicitly unlimited), else the kind's default."""

    explicit: Mapping[str, float | None]
    defaults: Mapping[str, float]

    def limit_of(self, scope: str) -> float | None:
        if scope in self.explicit:
            return self.explicit[scope]
        return self.defaults.get(scope_kind(scope))

    def limited(self) -> list[str]:
        """Scopes with a limit of their own (defaults apply to scopes as they are seen)."""
        return sorted(s for s, limit in self.explicit.items() if limit is not None)


def limits_from_records(records: Iterable[tuple[str, Any]]) -> dict[str, float | None]:
    """Scope -> limit from the limits topic's records (``BudgetLimitSet`` values as JSON)."""
    limits: dict[str, float | None] = {}
    for _key, value in records:
        if isinstance(value, dict) and isinstance(value.get("scope"), str):
            limit = value.get("limit")
            limits[value["scope"]] = float(limit) if isinstance(limit, int | float) else None
    return limits


@dataclass(frozen=True)
class ScopeStatus:
    scope: str
    limit: float | None
    spent: float
    reserved: float
    window_start: float
    window_end: float
    calls: int = 0

    @property
    def remaining(self) -> float | None:
        return None if self.limit is None else self.limit - self.spent - self.reserved

    def as_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "limit": self.limit,
            "spent": round(self.spent, 9),
            "reserved": round(self.reserved, 9),
            "remaining": None if self.remaining is None else round(self.remaining, 9),
            "calls": self.calls,
            "window_start": self.window_start,
            "window_end": self.window_end,
        }

    def denial(self, requested: float) -> BudgetDenial | None:
        """The denial of ``requested`` more, if it does not fit (nothing fits an exhausted
        scope, not even a call estimated to cost nothing)."""
        remaining = self.remaining
        if self.limit is None or remaining is None:
            return None
        if requested <= remaining + 1e-9 and (requested > 0 or remaining > 1e-9):
            return None
        return BudgetDenial(
            scope=self.scope,
            limit=self.limit,
            spent=self.spent,
            reserved=self.reserved,
            remaining=remaining,
            requested=requested,
            window_start=self.window_start,
            window_end=self.window_end,
        )


def parse_window_key(raw: str) -> tuple[str, float] | None:
    """``(scope key, shifted window start)`` of a spend changelog key; None if not one."""
    try:
        key = json.loads(raw)
    except ValueError:
        return None
    if (
        isinstance(key, list)
        and len(key) == 2
        and isinstance(key[0], str)
        and isinstance(key[1], list)
        and key[1]
        and isinstance(key[1][0], int | float)
    ):
        return key[0], float(key[1][0])
    return None


class SpendIndex:
    """Today's tallies by scope key, from spend changelog records (key string -> value)."""

    def __init__(self, windows: BudgetWindows) -> None:
        self.windows = windows

    def tallies(self, records: Iterable[tuple[str, Any]], at: float) -> dict[str, Tally]:
        start = self.windows.key_start(at)
        found: dict[str, Tally] = {}
        for raw, value in records:
            parsed = parse_window_key(raw)
            if parsed is None or abs(parsed[1] - start) > 0.5 or not isinstance(value, dict):
                continue
            found[parsed[0]] = Tally.of(value)
        return found

    def status(
        self, scope: str, tallies: Mapping[str, Tally], limits: BudgetLimits, at: float
    ) -> ScopeStatus:
        if scope == GLOBAL:
            parts = [t for key, t in tallies.items() if shard_number(key) is not None]
        else:
            parts = [tallies[scope]] if scope in tallies else []
        begin, end = self.windows.bounds(at)
        return ScopeStatus(
            scope=scope,
            limit=limits.limit_of(scope),
            spent=sum(t.spent for t in parts),
            reserved=sum(t.reserved for t in parts),
            window_start=begin,
            window_end=end,
            calls=sum(t.calls for t in parts),
        )

    def scopes(self, tallies: Mapping[str, Tally], limits: BudgetLimits) -> list[str]:
        """Every scope with spend today or a limit of its own, global first."""
        seen = {GLOBAL if shard_number(key) is not None else key for key in tallies}
        seen.discard(GLOBAL)
        named = (seen | set(limits.limited())) - {GLOBAL}
        return [GLOBAL, *sorted(named)]


def budget_report(
    limit_records: Iterable[tuple[str, Any]],
    spend_records: Iterable[tuple[str, Any]],
    windows: BudgetWindows,
    defaults: Mapping[str, float],
    at: float,
    scope: str | None = None,
) -> list[dict[str, Any]]:
    """``toolwise budget show``: each scope's limit, spent, reserved, remaining and window
    today (``scope`` alone if given, even with no spend yet)."""
    index = SpendIndex(windows)
    tallies = index.tallies(spend_records, at)
    limits = BudgetLimits(limits_from_records(limit_records), defaults)
    scopes = [scope] if scope is not None else index.scopes(tallies, limits)
    return [index.status(s, tallies, limits, at).as_dict() for s in scopes]
