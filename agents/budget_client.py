"""The caller's side of budgets: check before planning, reserve before calls, settle after.

A call counts against several scopes (global, its intent's team and user, its tool), each owned
by whichever worker reads the scope key's partition of ``budget-ledger`` (``keep-budgets``).
``reserve`` sends one reservation per limited scope of each call, all at once, and waits for
every answer on ``budget-decisions`` (read by every worker, no group); if any is denied, or the
answers do not come within ``timeout_s``, everything granted is released and nothing runs.
``settle`` charges what a call cost to every scope it counts against (unlimited ones too, so
that ``toolwise budget show`` knows their spend) and releases its reservations.

``precheck`` reads the whole deployment's spend from the spend table's changelog (a replica,
milliseconds behind): enough to refuse an intent its scopes cannot afford before any planning;
the reservations are what keep the limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from agents.budget_ledger import EPSILON, Tally, split_charge
from agents.budget_view import BudgetLimits, ScopeStatus, SpendIndex, limits_from_records
from agents.budget_windows import BudgetWindows
from models.budget_scopes import BudgetDenial, scope_key, shard_number
from models.budgets import BudgetDecided, ChargeAction, ChargeBudget
from models.ids import derived_id

log = logging.getLogger(__name__)

SendAndWait = Callable[[ChargeBudget], Awaitable[None]]
SendSoon = Callable[[ChargeBudget], None]


@dataclass(frozen=True)
class CallCharge:
    """One call's claim on budgets: the scopes it counts against and its estimated cost."""

    call_id: str
    intent_id: str
    scopes: tuple[str, ...]
    estimate: float


@dataclass
class Admission:
    """What ``reserve`` got: per (call, scope) the portions held by scope key, or why not."""

    at: float
    held: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    denial: BudgetDenial | None = None
    unavailable: str | None = None

    @property
    def granted(self) -> bool:
        return self.denial is None and self.unavailable is None


class BudgetClient:
    def __init__(
        self,
        windows: BudgetWindows,
        defaults: Mapping[str, float],
        shards: int,
        send: SendAndWait,
        send_soon: SendSoon,
        limit_records: Callable[[], Iterable[tuple[str, object]]],
        spend_records: Callable[[], Iterable[tuple[str, object]]],
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.windows = windows
        self.index = SpendIndex(windows)
        self.defaults = dict(defaults)
        self.shards = shards
        self.timeout_s = timeout_s
        self.clock = clock
        self._send = send
        self._send_soon = send_soon
        self._limit_records = limit_records
        self._spend_records = spend_records
        self._waiting: dict[str, list[asyncio.Future[BudgetDecided]]] = {}

    # --- views ---------------------------------------------------------------------------

    def limits(self) -> BudgetLimits:
        return BudgetLimits(limits_from_records(self._limit_records()), self.defaults)

    def tallies(self, at: float) -> dict[str, Tally]:
        return self.index.tallies(self._spend_records(), at)

    def status(self, scope: str, at: float | None = None) -> ScopeStatus:
        when = self.clock() if at is None else at
        return self.index.status(scope, self.tallies(when), self.limits(), when)

    def statuses(self, at: float | None = None) -> list[ScopeStatus]:
        when = self.clock() if at is None else at
        tallies, limits = self.tallies(when), self.limits()
        return [
            self.index.status(s, tallies, limits, when) for s in self.index.scopes(tallies, limits)
        ]

    def global_totals(self, at: float, besides: str) -> tuple[float, float]:
        """(spent, reserved) of every global shard but ``besides``, as the replica shows them."""
        spent = reserved = 0.0
        for key, tally in self.tallies(at).items():
            if key != besides and shard_number(key) is not None:
                spent += tally.spent
                reserved += tally.reserved
        return spent, reserved

    def precheck(self, wanted: Mapping[str, float], at: float | None = None) -> BudgetDenial | None:
        """The first scope that cannot afford what ``wanted`` (scope -> amount) asks of it."""
        when = self.clock() if at is None else at
        tallies, limits = self.tallies(when), self.limits()
        for scope, amount in wanted.items():
            if limits.limit_of(scope) is None:
                continue
            denial = self.index.status(scope, tallies, limits, when).denial(amount)
            if denial is not None:
                return denial
        return None

    # --- reserve and settle ----------------------------------------------------------------

    def on_decision(self, decision: BudgetDecided) -> None:
        """A decision read from ``budget-decisions``: wake whoever waits for it here."""
        for future in self._waiting.pop(decision.request_id, []):
            if not future.done():
                future.set_result(decision)

    async def reserve(self, calls: Sequence[CallCharge], at: float | None = None) -> Admission:
        """Reserve every call's estimate in each of its limited scopes, or none of it."""
        when = self.clock() if at is None else at
        admission = Admission(when)
        limits = self.limits()
        wanted = [(c, s) for c in calls for s in c.scopes if limits.limit_of(s) is not None]
        if not wanted:
            return admission
        loop = asyncio.get_running_loop()
        pending: dict[str, tuple[CallCharge, str, asyncio.Future[BudgetDecided]]] = {}
        for call, scope in wanted:
            request_id = derived_id("reserve", call.call_id, scope)
            future: asyncio.Future[BudgetDecided] = loop.create_future()
            self._waiting.setdefault(request_id, []).append(future)
            pending[request_id] = (call, scope, future)
        try:
            for request_id, (call, scope, _f) in pending.items():
                await self._send(self._command("reserve", call, scope, call.estimate, when,
                                               request_id=request_id))  # fmt: skip
            futures = [f for _c, _s, f in pending.values()]
            await asyncio.wait_for(asyncio.gather(*futures), self.timeout_s)
        except TimeoutError:
            self._abandon(pending, when)
            admission.unavailable = (
                f"the budget keepers did not answer {len(pending)} reservation(s) within "
                f"{self.timeout_s:g} s (a rebalance, or no worker reading budget-ledger)"
            )
            return admission
        decisions = [(c, s, f.result()) for c, s, f in pending.values()]
        for call, scope, decision in decisions:
            if decision.portions:
                admission.held[(call.call_id, scope)] = dict(decision.portions)
            if not decision.granted and admission.denial is None:
                admission.denial = decision.denial or BudgetDenial(
                    scope=scope, limit=0.0, spent=0.0, reserved=0.0, remaining=0.0
                )
        if admission.denial is not None:
            self.release(admission)
            admission.held.clear()
        return admission

    def _abandon(
        self,
        pending: Mapping[str, tuple[CallCharge, str, asyncio.Future[BudgetDecided]]],
        at: float,
    ) -> None:
        # Release whatever may still be granted: a release sent after a reservation to the same
        # key is read after it. (A global reservation that walked on to further shards leaves
        # its portions there until the day ends.)
        for request_id, (call, scope, future) in pending.items():
            waiting = self._waiting.get(request_id, [])
            if future in waiting:
                waiting.remove(future)
            if not waiting:
                self._waiting.pop(request_id, None)
            if future.done() and not future.cancelled():
                portions = future.result().portions
            else:
                future.cancel()
                portions = {scope_key(scope, call.call_id, self.shards): 0.0}
            for key in portions:
                self._send_soon(self._command("settle", call, scope, 0.0, at, key=key))

    def release(self, admission: Admission, calls: Iterable[str] | None = None) -> None:
        """Give back what ``admission`` holds (for ``calls`` only, if given) without charging."""
        wanted = None if calls is None else set(calls)
        for (call_id, scope), portions in admission.held.items():
            if wanted is not None and call_id not in wanted:
                continue
            for key in portions:
                self._send_soon(ChargeBudget(
                    action="settle", call_id=call_id, scope=scope, scope_key=key, amount=0.0,
                    window_at=admission.at, shards=self.shards,
                ))  # fmt: skip

    def settle(self, admission: Admission | None, call: CallCharge, actual: float) -> None:
        """Charge ``actual`` to every scope ``call`` counts against; release its reservations."""
        at = admission.at if admission is not None else self.clock()
        for scope in call.scopes:
            portions = admission.held.get((call.call_id, scope)) if admission is not None else None
            fallback = scope_key(scope, call.call_id, self.shards)
            charges = split_charge(portions or {}, actual, fallback)
            for key, amount in charges.items():
                if amount <= EPSILON and not portions:
                    continue  # nothing held, nothing spent: nothing to say
                self._send_soon(self._command("settle", call, scope, amount, at, key=key))

    def settle_again(self, call: CallCharge, actual: float, at: float) -> None:
        """Settle a call answered before a redelivery (its worker may have died before it
        settled): a settlement already read is ignored at every key, so nothing is charged
        twice, and one that never came releases the reservation. ``at`` picks the day (the
        plan's time). A global reservation that walked past its first shard is released there
        only; the later shards' portions stay held until the day ends."""
        held = {
            (call.call_id, scope): {scope_key(scope, call.call_id, self.shards): 0.0}
            for scope in call.scopes
        }
        self.settle(Admission(at, held), call, actual)

    def _command(
        self,
        action: ChargeAction,
        call: CallCharge,
        scope: str,
        amount: float,
        at: float,
        key: str | None = None,
        request_id: str = "",
    ) -> ChargeBudget:
        return ChargeBudget(
            action=action,
            request_id=request_id,
            call_id=call.call_id,
            intent_id=call.intent_id,
            scope=scope,
            scope_key=key or scope_key(scope, call.call_id, self.shards),
            amount=max(0.0, amount),
            window_at=at,
            shards=self.shards,
        )
