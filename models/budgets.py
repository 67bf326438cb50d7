"""Daily budgets' events: limits, the commands that reserve and settle spend, and answers.

Limits are ``BudgetLimitSet`` records on the compacted ``budget-limits`` topic, keyed by scope.
Spend moves through ``ChargeBudget`` commands on ``budget-ledger``, keyed by the scope's key so
that one worker owns each scope (the global scope is split into shards, ``global#<n>``); each
reservation is answered by a ``BudgetDecided`` on ``budget-decisions``, keyed by intent id.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from models.budget_scopes import BudgetDenial
from models.events import Event


class BudgetLimitSet(Event):
    """A scope's daily limit (``None``: no limit, whatever the settings' default says)."""

    type: Literal["BudgetLimitSet"] = "BudgetLimitSet"
    scope: str
    limit: float | None = Field(default=None, ge=0)
    set_by: str = Field(default="", max_length=200)


ChargeAction = Literal["reserve", "settle", "alert"]


class ChargeBudget(Event):
    """A command to one scope's owner: reserve an estimate before a call, or settle its actual
    cost after (releasing the reservation; 0 releases it all). Idempotent by ``call_id``."""

    type: Literal["ChargeBudget"] = "ChargeBudget"
    action: ChargeAction
    request_id: str = Field(default="", description="A reservation's id, kept when forwarded.")
    call_id: str = Field(min_length=1, max_length=200)
    intent_id: str = ""
    scope: str
    scope_key: str = Field(description="The record's key: the scope, or 'global#<shard>'.")
    amount: float = Field(default=0.0, ge=0)
    window_at: float = Field(description="Unix time that picks the day (the reservation's).")
    # The global scope's reservation walks its shards until one has room (see agents.budget_ledger).
    shards: int = Field(default=1, ge=1, description="How many shards the global scope has.")
    hops: int = Field(default=0, ge=0)
    portions: dict[str, float] = Field(
        default_factory=dict, description="What shards visited so far reserved for the call."
    )
    seen_spent: float = 0.0
    seen_reserved: float = 0.0


class BudgetDecided(Event):
    """The owner's answer to one reservation."""

    type: Literal["BudgetDecided"] = "BudgetDecided"
    request_id: str
    call_id: str
    intent_id: str = ""
    scope: str
    granted: bool
    portions: dict[str, float] = Field(
        default_factory=dict, description="Scope key -> amount reserved there for the call."
    )
    denial: BudgetDenial | None = None


class BudgetThresholdReached(Event):
    """A scope's spend today passed the alert share of its limit (once per scope per day)."""

    type: Literal["BudgetThresholdReached"] = "BudgetThresholdReached"
    scope: str
    share: float
    limit: float
    spent: float
    reserved: float
    window_start: float
    window_end: float


BUDGET_EVENT_TYPES: tuple[type[Event], ...] = (
    BudgetLimitSet,
    ChargeBudget,
    BudgetDecided,
    BudgetThresholdReached,
)
