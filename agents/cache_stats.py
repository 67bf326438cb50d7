"""Hit statistics of the result and plan caches, per tool; pure.

Each worker counts what its calls found (``CacheCounters``) and adds its counts to one Redis
hash every second, so ``toolwise cache stats`` and every worker's ``/api/stats`` read the whole
deployment's figures. Counts that could not be added (Redis away) are kept and added later.

Per tool: ``hits`` (served from the cache, ``shared`` of them by waiting for an identical call
in flight), ``misses`` (looked up, not there: the tool ran), ``unavailable`` (the cache did not
answer: the tool ran), ``bypasses`` (the intent asked for fresh results), ``stores`` and
``bytes_stored`` (results written, and their size). The plan cache counts under ``PLAN_CACHE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PLAN_CACHE = "plan-cache"  # no tool has this name: tool names are '<server>.<tool>'
COUNTERS = ("hits", "shared", "misses", "unavailable", "bypasses", "stores", "bytes_stored")
_SEPARATOR = "|"


class CacheCounters:
    """This worker's counts since start, and those not yet added to the shared hash."""

    def __init__(self) -> None:
        self.local: dict[str, dict[str, float]] = {}
        self._pending: dict[str, float] = {}

    def count(self, tool: str, counter: str, amount: float = 1) -> None:
        if counter not in COUNTERS:
            raise ValueError(f"unknown cache counter {counter!r}; one of {', '.join(COUNTERS)}")
        counts = self.local.setdefault(tool, {})
        counts[counter] = counts.get(counter, 0) + amount
        field = f"{tool}{_SEPARATOR}{counter}"
        self._pending[field] = self._pending.get(field, 0) + amount

    def take_pending(self) -> dict[str, float]:
        """The counts to add to the shared hash; give them back with ``restore`` on failure."""
        pending = {k: v for k, v in self._pending.items() if v}
        self._pending.clear()
        return pending

    def restore(self, pending: Mapping[str, float]) -> None:
        for field, amount in pending.items():
            self._pending[field] = self._pending.get(field, 0) + amount

    def local_view(self) -> dict[str, Any]:
        return stats_view(
            {
                f"{tool}{_SEPARATOR}{name}": v
                for tool, c in self.local.items()
                for name, v in c.items()
            }
        )


def stats_view(raw: Mapping[str, float]) -> dict[str, Any]:
    """``{"tools": {tool: figures}, "plan_cache": figures, "total": figures}`` from the hash's
    fields ('<tool>|<counter>' -> count); each figures dict has every counter and the hit rate
    over lookups (hits, misses and lookups the cache could not answer)."""
    per_tool: dict[str, dict[str, float]] = {}
    for field, value in raw.items():
        tool, sep, counter = field.rpartition(_SEPARATOR)
        if not sep or counter not in COUNTERS:
            continue
        per_tool.setdefault(tool, dict.fromkeys(COUNTERS, 0))[counter] += value
    plan = per_tool.pop(PLAN_CACHE, dict.fromkeys(COUNTERS, 0))
    total = dict.fromkeys(COUNTERS, 0.0)
    for figures in per_tool.values():
        for counter in COUNTERS:
            total[counter] += figures[counter]
    return {
        "tools": {tool: _figures(f) for tool, f in sorted(per_tool.items())},
        "plan_cache": _figures(plan),
        "total": _figures(total),
    }


def _figures(counts: Mapping[str, float]) -> dict[str, Any]:
    out: dict[str, Any] = {name: _number(counts.get(name, 0)) for name in COUNTERS}
    lookups = counts.get("hits", 0) + counts.get("misses", 0) + counts.get("unavailable", 0)
    out["lookups"] = _number(lookups)
    out["hit_rate"] = round(counts.get("hits", 0) / lookups, 4) if lookups else None
    return out


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 6)
