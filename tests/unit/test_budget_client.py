"""Reserve, deny and settle through the client, against an in-memory keeper that applies the
ledger's arithmetic as ``keep-budgets`` does (one owner per scope key); and the views."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from agents.budget_client import BudgetClient, CallCharge
from agents.budget_ledger import Entry, Reservation, Tally, reserve, settle
from agents.budget_view import BudgetLimits, SpendIndex, limits_from_records, parse_window_key
from agents.budget_windows import BudgetWindows
from models.budgets import BudgetDecided, ChargeBudget

NOW = 1_800_000_000.0
WINDOWS = BudgetWindows()


class Keeper:
    """Every scope key's tally and entries, changed by commands in the order they are sent."""

    def __init__(self, limits: dict[str, float]) -> None:
        self.limits = limits
        self.tallies: dict[str, Tally] = {}
        self.entries: dict[str, Entry] = {}
        self.clients: list[BudgetClient] = []
        self.silent = False

    def client(self, shards: int = 1, timeout_s: float = 1.0) -> BudgetClient:
        client = BudgetClient(
            WINDOWS, {}, shards, self.send, self.send_soon,
            lambda: [(s, {"scope": s, "limit": v}) for s, v in self.limits.items()],
            self.spend_records, timeout_s=timeout_s, clock=lambda: NOW,
        )  # fmt: skip
        self.clients.append(client)
        return client

    def spend_records(self) -> list[tuple[str, Any]]:
        start, end = WINDOWS.faust_range(NOW)
        return [(json.dumps([k, [start, end]]), t.value()) for k, t in self.tallies.items()]

    async def send(self, command: ChargeBudget) -> None:
        self.apply(command)

    def send_soon(self, command: ChargeBudget) -> None:
        self.apply(command)

    def apply(self, c: ChargeBudget) -> None:
        if self.silent and c.action == "reserve":
            return
        tally = self.tallies.get(c.scope_key, Tally())
        entry_key = f"{c.scope_key}|{c.call_id}"
        entry = self.entries.get(entry_key)
        if c.action == "settle":
            self.tallies[c.scope_key], self.entries[entry_key] = settle(tally, entry, c.amount)
            return
        request = Reservation(c.scope, c.scope_key, c.amount, c.shards, c.hops, c.portions,
                              c.seen_spent, c.seen_reserved)  # fmt: skip
        out = reserve(tally, entry, request, self.limits.get(c.scope), WINDOWS.bounds(NOW))
        self.tallies[c.scope_key], self.entries[entry_key] = out.tally, out.entry
        if out.verdict == "forward":
            self.apply(c.model_copy(update={
                "scope_key": out.next_key, "amount": out.rest, "hops": c.hops + 1,
                "portions": out.portions, "seen_spent": out.seen_spent,
                "seen_reserved": out.seen_reserved,
            }))  # fmt: skip
            return
        decision = BudgetDecided(
            request_id=c.request_id, call_id=c.call_id, scope=c.scope,
            granted=out.verdict == "grant", portions=out.portions, denial=out.denial,
        )  # fmt: skip
        for client in self.clients:
            client.on_decision(decision)


def call(n: int, user: str = "ann", cost: float = 1.0) -> CallCharge:
    return CallCharge(f"c{n}", f"i{n}", ("global", f"user:{user}", "tool:a.b"), cost)


async def test_two_workers_share_one_users_budget() -> None:
    keeper = Keeper({"user:ann": 3.0})
    workers = [keeper.client(), keeper.client()]
    admissions = await asyncio.gather(*(workers[n % 2].reserve([call(n)]) for n in range(8)))
    assert sum(a.granted for a in admissions) == 3
    denied = next(a for a in admissions if not a.granted)
    assert denied.denial is not None and denied.denial.scope == "user:ann"
    assert (denied.denial.limit, denied.denial.reserved, denied.denial.remaining) == (3, 3, 0)
    # Settle the granted calls at their actual cost; a redelivered settlement changes nothing.
    for n, admission in enumerate(admissions):
        if admission.granted:
            workers[n % 2].settle(admission, call(n), 0.5)
            workers[n % 2].settle(admission, call(n), 0.5)
    status = workers[0].status("user:ann")
    assert (status.spent, status.reserved, status.remaining) == (1.5, 0.0, 1.5)
    assert workers[1].status("global").spent == 1.5  # counted though unlimited


async def test_a_denied_plan_holds_nothing_in_its_other_scopes() -> None:
    keeper = Keeper({"user:ann": 10.0, "tool:a.b": 1.0})
    client = keeper.client()
    admission = await client.reserve([call(1), call(2)])
    assert not admission.granted and admission.denial is not None
    assert admission.denial.scope == "tool:a.b"
    assert client.status("user:ann").reserved == 0.0


async def test_the_global_limit_holds_across_shards() -> None:
    keeper = Keeper({"global": 4.0})
    client = keeper.client(shards=4)
    admissions = [await client.reserve([call(n)]) for n in range(10)]
    assert sum(a.granted for a in admissions) == 4
    assert client.status("global").reserved == 4.0


async def test_unanswered_reservations_are_released_and_nothing_runs() -> None:
    keeper = Keeper({"user:ann": 3.0})
    keeper.silent = True
    client = keeper.client(timeout_s=0.05)
    admission = await client.reserve([call(1)])
    assert not admission.granted and admission.unavailable is not None
    assert "did not answer" in admission.unavailable


def test_precheck_refuses_an_exhausted_scope_before_planning() -> None:
    keeper = Keeper({"team:ops": 2.0})
    client = keeper.client()
    keeper.tallies["team:ops"] = Tally(spent=2.0)
    denial = client.precheck({"global": 0.0, "team:ops": 0.0})
    assert denial is not None and denial.scope == "team:ops" and denial.remaining == 0.0
    assert client.precheck({"global": 0.0}) is None


def test_views_read_todays_window_only_and_limits_override_defaults() -> None:
    start, end = WINDOWS.faust_range(NOW)
    yesterday = start - 86400
    records = [
        (json.dumps(["user:ann", [start, end]]), {"spent": 2.0}),
        (json.dumps(["user:ann", [yesterday, yesterday + 86399.9]]), {"spent": 9.0}),
        (json.dumps(["global#0", [start, end]]), {"spent": 1.0}),
        (json.dumps(["global#3", [start, end]]), {"spent": 0.5, "reserved": 1.0}),
        ("not json", {}),
    ]
    tallies = SpendIndex(WINDOWS).tallies(records, NOW)
    assert tallies["user:ann"].spent == 2.0
    limits = BudgetLimits(
        limits_from_records([("user:bob", {"scope": "user:bob", "limit": None})]),
        {"user": 5.0, "global": 10.0},
    )
    ann = SpendIndex(WINDOWS).status("user:ann", tallies, limits, NOW)
    assert (ann.limit, ann.remaining) == (5.0, 3.0)
    assert limits.limit_of("user:bob") is None  # explicitly unlimited beats the default
    total = SpendIndex(WINDOWS).status("global", tallies, limits, NOW).as_dict()
    assert (total["spent"], total["reserved"], total["remaining"]) == (1.5, 1.0, 7.5)
    assert parse_window_key('["k", [1.0, 2.0]]') == ("k", 1.0)


async def test_settling_again_after_a_redelivery_releases_a_lost_settlement() -> None:
    keeper = Keeper({"user:ann": 3.0, "global": 8.0})
    client = keeper.client(shards=4)
    admitted = await client.reserve([call(1), call(2)])
    assert admitted.granted
    client.settle(admitted, call(1), 0.5)  # call 2's settlement was lost with its worker
    for _ in range(2):  # the plan redelivered twice: both calls settled again
        client.settle_again(call(1), 0.5, NOW)
        client.settle_again(call(2), 0.75, NOW)
    ann, total = client.status("user:ann"), client.status("global")
    assert (ann.spent, ann.reserved) == (1.25, 0.0)
    assert (total.spent, total.reserved) == (1.25, 0.0)
