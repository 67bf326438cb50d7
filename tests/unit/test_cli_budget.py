"""`toolwise budget set` refuses what is not a scope or a limit, saying what is wanted."""

from __future__ import annotations

import pytest

from interfaces.cli import main
from interfaces.cli_budget import parse_limit
from models.budget_scopes import BudgetScopeError, parse_scope


def test_limits_are_numbers_at_least_zero_or_none() -> None:
    assert parse_limit("2.5") == 2.5 and parse_limit("0") == 0.0 and parse_limit("None") is None
    for bad in ("-1", "nan", "inf", "five"):
        with pytest.raises(SystemExit, match="number >= 0 or 'none'"):
            parse_limit(bad)


def test_scopes_are_one_of_four_forms() -> None:
    assert [parse_scope(s) for s in ("global", "team:ops", "user:ann", "tool:a.b")] == [
        "global", "team:ops", "user:ann", "tool:a.b",
    ]  # fmt: skip
    for bad in ("team", "user:", "org:x", "user:a b", "global#1"):
        with pytest.raises(BudgetScopeError, match="'global', 'team:NAME'"):
            parse_scope(bad)


def test_the_cli_says_what_a_scope_looks_like_before_touching_kafka() -> None:
    with pytest.raises(SystemExit, match="is not a budget scope"):
        main(["budget", "set", "everyone", "5"])
