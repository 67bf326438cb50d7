"""keep_budgets: ChargeBudget -> the scope's day in the windowed tables, decisions and alerts.

Records are keyed by scope key, so the worker that reads a key's partition is the only one that
counts it: reservations are decided one at a time against exact numbers. The arithmetic is
``agents.budget_ledger``; this module reads and writes the tables and sends the answers:
``BudgetDecided`` to the caller, the rest of a global reservation to the next shard, and
``BudgetThresholdReached`` once per scope and day.

The global scope's alert needs every shard's spend: a shard's owner that sees (its own exact
tally plus the others' from the spend changelog's replica) pass the alert share forwards an
``alert`` command to the key ``global``, whose one owner raises the alert once.
"""

from __future__ import annotations

import logging
from typing import Any

from agents.boundary import each_message
from agents.budget_client import BudgetClient
from agents.budget_ledger import Entry, Outcome, Reservation, Tally, crossed, reserve, settle
from agents.runtime import get_runtime
from models.budget_scopes import GLOBAL, shard_number
from models.budgets import BudgetDecided, BudgetThresholdReached, ChargeBudget
from models.ids import derived_id
from streams.app import app, settings
from streams.topics import budget_alerts_topic, budget_decisions_topic, budget_ledger_topic
from tables.budgets import budget_calls, budget_spend, read, write

log = logging.getLogger(__name__)


@app.agent(budget_ledger_topic, name="keep-budgets")
async def keep_budgets(stream: Any) -> None:
    models = {budget_ledger_topic.get_topic_name(): ChargeBudget}
    # No answer: a bad command is only dead-lettered (its caller times out and releases).
    await each_message(stream, models, _apply)


async def _apply(event: Any, command: ChargeBudget) -> None:
    budgets = (await get_runtime(settings)).spend.budgets
    if budgets is None:
        return  # budgets are off on this worker: nothing is counted
    windows = budgets.windows
    shifted = windows.shifted(command.window_at)
    window = windows.bounds(command.window_at)
    key = command.scope_key
    tally = Tally.of(read(budget_spend, key, shifted))
    entry_key = f"{key}|{command.call_id}"
    entry = Entry.of(read(budget_calls, entry_key, shifted))
    limit = budgets.limits().limit_of(command.scope)
    if command.action == "alert":
        await _alert(command, tally, limit, shifted, window)
        return
    if command.action == "settle":
        new_tally, new_entry = settle(tally, entry, command.amount)
    else:
        request = Reservation(
            command.scope,
            key,
            command.amount,
            shards=command.shards,
            hops=command.hops,
            portions=command.portions,
            seen_spent=command.seen_spent,
            seen_reserved=command.seen_reserved,
        )
        outcome = reserve(tally, entry, request, limit, window)
        new_tally, new_entry = outcome.tally, outcome.entry
        await _answer(command, outcome)
    if new_entry != entry:
        write(budget_calls, entry_key, shifted, new_entry.value(), window[1])
    new_tally = await _maybe_alert(budgets, command, new_tally, limit, window)
    if new_tally != tally:
        write(budget_spend, key, shifted, new_tally.value(), window[1])


async def _answer(command: ChargeBudget, outcome: Outcome) -> None:
    if outcome.verdict == "forward":
        onward = command.model_copy(
            update={
                "event_id": derived_id(command.request_id, str(command.hops + 1)),
                "scope_key": outcome.next_key,
                "amount": outcome.rest,
                "hops": command.hops + 1,
                "portions": outcome.portions,
                "seen_spent": outcome.seen_spent,
                "seen_reserved": outcome.seen_reserved,
            }
        )
        await budget_ledger_topic.send(key=onward.scope_key.encode(), value=onward.to_bytes())
        return
    decision = BudgetDecided(
        event_id=derived_id("decided", command.request_id),
        request_id=command.request_id,
        call_id=command.call_id,
        intent_id=command.intent_id,
        scope=command.scope,
        granted=outcome.verdict == "grant",
        portions=outcome.portions,
        denial=outcome.denial,
    )
    key = (command.intent_id or command.call_id).encode()
    await budget_decisions_topic.send(key=key, value=decision.to_bytes())


async def _maybe_alert(
    budgets: BudgetClient,
    command: ChargeBudget,
    tally: Tally,
    limit: float | None,
    window: tuple[float, float],
) -> Tally:
    """The tally, marked once its alert is raised (or, a global shard, passed on)."""
    share = settings.budget_alert_share
    if shard_number(command.scope_key) is None:
        if crossed(tally.spent, limit, share, tally.alerted):
            await _send_alert(command.scope, share, limit, tally.spent, tally.reserved, window)
            return Tally(tally.spent, tally.reserved, tally.calls, alerted=True)
        return tally
    others_spent, others_reserved = budgets.global_totals(command.window_at, command.scope_key)
    spent = tally.spent + others_spent
    if not crossed(spent, limit, share, tally.alerted):
        return tally
    alert = command.model_copy(
        update={
            "event_id": derived_id("alert", command.scope_key, str(window[0])),
            "action": "alert",
            "scope_key": GLOBAL,
            "seen_spent": spent,
            "seen_reserved": tally.reserved + others_reserved,
        }
    )
    await budget_ledger_topic.send(key=GLOBAL.encode(), value=alert.to_bytes())
    return Tally(tally.spent, tally.reserved, tally.calls, alerted=True)


async def _alert(
    command: ChargeBudget,
    tally: Tally,
    limit: float | None,
    shifted: float,
    window: tuple[float, float],
) -> None:
    """The global scope's one alert of the day, whichever shard saw the share passed first."""
    if tally.alerted or limit is None:
        return
    share = settings.budget_alert_share
    await _send_alert(GLOBAL, share, limit, command.seen_spent, command.seen_reserved, window)
    marked = Tally(tally.spent, tally.reserved, tally.calls, alerted=True)
    write(budget_spend, command.scope_key, shifted, marked.value(), window[1])


async def _send_alert(
    scope: str,
    share: float,
    limit: float | None,
    spent: float,
    reserved: float,
    window: tuple[float, float],
) -> None:
    assert limit is not None
    alert = BudgetThresholdReached(
        event_id=derived_id("budget-alert", scope, f"{window[0]:.0f}"),
        scope=scope,
        share=share,
        limit=limit,
        spent=spent,
        reserved=reserved,
        window_start=window[0],
        window_end=window[1],
    )
    log.warning(
        "budget %s: %.6g of %.6g spent today (alert at %.0f %%)", scope, spent, limit, share * 100
    )
    await budget_alerts_topic.send(key=scope.encode(), value=alert.to_bytes())
