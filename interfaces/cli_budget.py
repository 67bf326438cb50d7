"""`toolwise budget set SCOPE LIMIT` and `toolwise budget show [SCOPE]`: daily spend limits.

A limit is a ``BudgetLimitSet`` record on the compacted budget-limits topic, keyed by scope;
every worker reads the whole topic, so a new limit applies to the next reservation anywhere.
``show`` reads the limits and the spend table's changelog (every worker's share) directly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from streams.settings import Settings


def register(sub: Any) -> None:
    budget = sub.add_parser("budget", help="daily spend limits per scope: set, show")
    actions = budget.add_subparsers(dest="action", metavar="ACTION", required=True)
    set_ = actions.add_parser(
        "set", help="set a scope's daily limit (in the unit of tool costs; 'none' removes it)"
    )
    set_.add_argument("scope", help="global | team:T | user:U | tool:SERVER.TOOL")
    set_.add_argument("limit", help="a number >= 0, or 'none' for no limit")
    set_.set_defaults(run=_set)
    show = actions.add_parser(
        "show", help="limit, spent today, reserved, remaining, window start and end (JSON)"
    )
    show.add_argument("scope", nargs="?", help="default: every scope with a limit or spend")
    show.set_defaults(run=_show)


def parse_limit(text: str) -> float | None:
    """``LIMIT`` as a number >= 0, or None for 'none'; SystemExit saying what is wanted."""
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise SystemExit(f"LIMIT must be a number >= 0 or 'none', got {text!r}")
    return value


def _scope(text: str) -> str:
    from models.budget_scopes import BudgetScopeError, parse_scope

    try:
        return parse_scope(text)
    except BudgetScopeError as exc:
        raise SystemExit(str(exc)) from None


def _set(args: argparse.Namespace, settings: Settings) -> int:
    from aiokafka import AIOKafkaProducer

    from models.budgets import BudgetLimitSet
    from streams.topics import ensure_topics

    event = BudgetLimitSet(
        scope=_scope(args.scope), limit=parse_limit(args.limit), set_by="toolwise budget set"
    )

    async def go() -> None:
        await ensure_topics(settings)
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                settings.topic_name("budget-limits"), event.to_bytes(), key=event.scope.encode()
            )
        finally:
            await producer.stop()

    asyncio.run(go())
    print(json.dumps({"scope": event.scope, "limit": event.limit}))
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    scope = _scope(args.scope) if args.scope else None
    print(json.dumps(asyncio.run(budget_status(settings, scope)), indent=2))
    return 0


async def budget_status(settings: Settings, scope: str | None) -> list[dict[str, Any]]:
    from agents.budget_view import budget_report
    from agents.budget_windows import BudgetWindows
    from interfaces.cli_experiments import read_changelog
    from tables.budgets import spend_changelog_topic

    limits = await read_changelog(settings, settings.topic_name("budget-limits"))
    spend = await read_changelog(settings, spend_changelog_topic(settings.app_id))
    windows = BudgetWindows(settings.budget_timezone, settings.budget_window_s)
    return budget_report(
        limits.items(), spend.items(), windows, settings.budget_default_limits, time.time(), scope
    )
