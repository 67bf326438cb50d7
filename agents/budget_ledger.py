"""Budget arithmetic: reserve before a call, settle after, alert once; pure and idempotent.

One scope key's day is a ``Tally`` (spent, reserved); each call it has seen is an ``Entry``
(what is held for it, and whether it is settled), so a command read twice changes nothing the
second time: a reservation is answered as before, a settlement is ignored.

**Overshoot bound.** A reservation is granted only while ``spent + reserved + amount <= limit``,
and every owner decides its scope's commands one at a time, so estimates never exceed the limit.
Spend passes it only by what calls cost beyond their reservation (retries, fallbacks, a tool
reporting more than its ``cost_per_call``): at most the calls already reserved when the limit
is reached, each by its excess over its estimate.

**The global scope** is split into shards (``global#<n>``, one owner each) so that no partition
takes every call's record. Each shard may hold ``limit / shards``; a reservation that does not
fit in its shard takes what is free there and walks on to the next shard with the rest, and is
denied only when the last shard cannot complete it. Its decisions therefore keep the global
limit exactly, and carry the totals of the shards visited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from models.budget_scopes import GLOBAL, BudgetDenial

# Costs are floats: sums of reservations and refunds drift by ~1e-17, and a limit reached
# exactly must still admit the call that reaches it. Far below any price (a token costs ~1e-7).
EPSILON = 1e-9


@dataclass(frozen=True)
class Tally:
    """One scope key's day."""

    spent: float = 0.0
    reserved: float = 0.0
    calls: int = 0
    alerted: bool = False  # this key has raised (or, a global shard, forwarded) its alert

    @classmethod
    def of(cls, value: Mapping[str, Any] | None) -> Tally:
        if not value:
            return cls()
        return cls(
            float(value.get("spent", 0.0)),
            float(value.get("reserved", 0.0)),
            int(value.get("calls", 0)),
            bool(value.get("alerted", False)),
        )

    def value(self) -> dict[str, Any]:
        return {
            "spent": self.spent,
            "reserved": self.reserved,
            "calls": self.calls,
            "alerted": self.alerted,
        }


EntryState = Literal["reserved", "settled", "denied"]


@dataclass(frozen=True)
class Entry:
    """What one scope key knows of one call."""

    state: EntryState
    held: float = 0.0  # reserved here and not settled yet
    passed_on: float = 0.0  # a global shard: what it sent on to the next shard
    charged: float = 0.0  # settled: what the call was charged here

    @classmethod
    def of(cls, value: Mapping[str, Any] | None) -> Entry | None:
        if not value or value.get("state") not in ("reserved", "settled", "denied"):
            return None
        return cls(
            value["state"],
            float(value.get("held", 0.0)),
            float(value.get("passed_on", 0.0)),
            float(value.get("charged", 0.0)),
        )

    def value(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "held": self.held,
            "passed_on": self.passed_on,
            "charged": self.charged,
        }


@dataclass(frozen=True)
class Reservation:
    """A reservation as it reaches one key: for the global scope, what earlier shards did."""

    scope: str
    key: str
    amount: float
    shards: int = 1
    hops: int = 0
    portions: Mapping[str, float] = field(default_factory=dict)
    seen_spent: float = 0.0
    seen_reserved: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """What a reservation does at one key: the new day and entry, and one of grant (the
    portions held for the call, this key's included), forward (the rest goes to ``next_key``)
    or deny (``denial``; the portions held earlier must be released by the caller)."""

    tally: Tally
    entry: Entry
    verdict: Literal["grant", "forward", "deny"]
    portions: dict[str, float]
    rest: float = 0.0
    next_key: str = ""
    seen_spent: float = 0.0
    seen_reserved: float = 0.0
    denial: BudgetDenial | None = None


def reserve(
    tally: Tally,
    entry: Entry | None,
    request: Reservation,
    limit: float | None,
    window: tuple[float, float],
) -> Outcome:
    """Decide ``request`` at its key, given the key's day and what it knew of the call."""
    portions = dict(request.portions)
    if entry is not None and entry.state != "denied":
        # Read before: answer the same way, change nothing.
        if entry.passed_on > EPSILON and entry.state == "reserved":
            portions[request.key] = entry.held
            return _forward(tally, entry, request, portions, entry.passed_on)
        portions[request.key] = entry.held
        return Outcome(tally, entry, "grant", portions)
    if limit is None:  # no limit (any more): hold it so that the settlement releases it
        return _hold(tally, request, portions, request.amount)
    is_shard = request.scope == GLOBAL and request.shards > 1
    cap = limit / request.shards if is_shard else limit
    free = cap - tally.spent - tally.reserved
    fits = request.amount <= free + EPSILON and (request.amount > EPSILON or free > EPSILON)
    if fits:
        return _hold(tally, request, portions, request.amount)
    if is_shard and request.hops < request.shards - 1:
        take = max(0.0, min(request.amount, free))
        held = replace(tally, reserved=tally.reserved + take)
        passed = Entry("reserved", held=take, passed_on=request.amount - take)
        portions[request.key] = take
        return _forward(held, passed, request, portions, request.amount - take)
    spent = tally.spent + (request.seen_spent if is_shard else 0.0)
    reserved = tally.reserved + (request.seen_reserved if is_shard else 0.0)
    reserved = max(0.0, reserved - sum(request.portions.values()))  # not this call's own
    denial = BudgetDenial(
        scope=request.scope,
        limit=limit,
        spent=spent,
        reserved=reserved,
        remaining=limit - spent - reserved,
        requested=request.amount,
        window_start=window[0],
        window_end=window[1],
    )
    return Outcome(tally, Entry("denied"), "deny", portions, denial=denial)


def _hold(tally: Tally, request: Reservation, portions: dict[str, float], amount: float) -> Outcome:
    held = replace(tally, reserved=tally.reserved + amount, calls=tally.calls + 1)
    portions[request.key] = amount
    return Outcome(held, Entry("reserved", held=amount), "grant", portions)


def _forward(
    tally: Tally, entry: Entry, request: Reservation, portions: dict[str, float], rest: float
) -> Outcome:
    n = int(request.key.partition("#")[2] or 0)
    return Outcome(
        tally,
        entry,
        "forward",
        portions,
        rest=rest,
        next_key=f"{GLOBAL}#{(n + 1) % request.shards}",
        seen_spent=request.seen_spent + tally.spent,
        seen_reserved=request.seen_reserved + tally.reserved,
    )


def settle(tally: Tally, entry: Entry | None, actual: float) -> tuple[Tally, Entry]:
    """Charge ``actual`` for a call and release what was held for it; once per call."""
    if entry is not None and entry.state in ("settled", "denied"):
        return tally, entry
    held = entry.held if entry is not None else 0.0
    calls = tally.calls + (0 if entry is not None else 1)
    reserved = max(0.0, tally.reserved - held)
    if reserved < EPSILON:
        reserved = 0.0
    return (
        replace(tally, spent=tally.spent + actual, reserved=reserved, calls=calls),
        Entry("settled", charged=actual),
    )


def crossed(spent: float, limit: float | None, share: float, alerted: bool) -> bool:
    """Whether spend has just reached ``share`` of the limit and no alert was raised yet."""
    if alerted or limit is None or spent <= 0.0:
        return False
    return spent >= share * limit - EPSILON


def split_charge(
    portions: Mapping[str, float], actual: float, fallback_key: str
) -> dict[str, float]:
    """What each key that reserved for a call is charged of its ``actual`` cost: in proportion
    to what it held (all on ``fallback_key`` when nothing was held)."""
    held = sum(portions.values())
    if held <= EPSILON:
        keys = list(portions) or [fallback_key]
        return {key: (actual if n == 0 else 0.0) for n, key in enumerate(keys)}
    return {key: actual * amount / held for key, amount in portions.items()}
