"""Budget scopes and the numbers of a denial: values that events carry (no events here).

A scope is ``global``, ``team:<team>``, ``user:<user>`` or ``tool:<server.tool>``: every call
counts against the global scope, its intent's team and user (from the intent's context) and its
tool. The events that move budgets are in ``models.budgets``.
"""

from __future__ import annotations

import hashlib
import re

from pydantic import BaseModel, ConfigDict, Field

GLOBAL = "global"
SCOPE_KINDS = ("global", "team", "user", "tool")
# A scope's name: what a context value or a qualified tool name may be, without control
# characters or '#', which separates a shard number from the global scope's name.
_NAME = re.compile(r"^[^\s#\x00-\x1f]{1,200}$")


class BudgetScopeError(ValueError):
    """A scope that is not one of the four forms; the message says which forms exist."""


def parse_scope(text: str) -> str:
    """``text`` as a scope, or BudgetScopeError saying what a scope looks like."""
    scope = text.strip()
    if scope == GLOBAL:
        return scope
    kind, sep, name = scope.partition(":")
    if sep and kind in SCOPE_KINDS[1:] and _NAME.match(name):
        return scope
    raise BudgetScopeError(
        f"{text!r} is not a budget scope: use 'global', 'team:NAME', 'user:NAME' or "
        "'tool:SERVER.TOOL' (names without spaces or '#', at most 200 characters)"
    )


def scope_kind(scope: str) -> str:
    return GLOBAL if scope == GLOBAL else scope.partition(":")[0]


def intent_scopes(context: dict[str, str]) -> list[str]:
    """The scopes an intent's spend counts against, besides its tools' own: global, its team
    (``context["team"]``) and its user (``context["user"]``), when they are valid names."""
    scopes = [GLOBAL]
    for kind in ("team", "user"):
        name = context.get(kind)
        if name and _NAME.match(name):
            scopes.append(f"{kind}:{name}")
    return scopes


def tool_scope(tool: str) -> str:
    return f"tool:{tool}"


class BudgetDenial(BaseModel):
    """Why an intent may not spend: the scope that would be exceeded and its numbers today."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    scope: str = Field(description="global | team:T | user:U | tool:S.T | intent (max_cost).")
    limit: float
    spent: float = Field(description="Settled spend in the window.")
    reserved: float = Field(description="Reserved by calls in flight in the window.")
    remaining: float = Field(description="limit - spent - reserved (may be negative).")
    requested: float = Field(default=0.0, description="What the intent was estimated to cost.")
    window_start: float | None = Field(default=None, description="Unix time the day began.")
    window_end: float | None = Field(default=None, description="Unix time the day ends.")


def scope_key(scope: str, call_id: str, global_shards: int) -> str:
    """The ledger record key of ``scope`` for one call: the scope itself, except the global
    scope, whose calls spread over ``global_shards`` keys by a hash of the call id (so no
    single partition takes every call's record)."""
    if scope != GLOBAL:
        return scope
    digest = hashlib.blake2b(call_id.encode(), digest_size=8).digest()
    return global_shard(int.from_bytes(digest, "big") % global_shards)


def global_shard(n: int) -> str:
    return f"{GLOBAL}#{n}"


def shard_number(key: str) -> int | None:
    """``n`` for ``global#n``; None for any other key."""
    head, sep, tail = key.partition("#")
    return int(tail) if head == GLOBAL and sep and tail.isdigit() else None
