"""Budget days start at local midnight of the configured zone, as Faust keys its windows."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from agents.budget_windows import BudgetWindows


def at(text: str, zone: str = "UTC") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def test_utc_days_change_at_midnight() -> None:
    days = BudgetWindows()
    before, after = at("2026-12-02T23:59:59.9"), at("2026-12-03T00:00:00")
    assert days.key_start(before) != days.key_start(after)
    assert days.bounds(before) == (at("2026-12-02T00:00"), at("2026-12-03T00:00"))
    assert days.bounds(after)[0] == at("2026-12-03T00:00")
    start, end = days.faust_range(before)
    assert start == days.key_start(before) and end == start + 86400 - 0.1


def test_a_zone_day_starts_at_its_own_midnight() -> None:
    paris = BudgetWindows("Europe/Paris")
    # 23:30 UTC on the 2nd is 00:30 on the 3rd in Paris: a new budget day there, not in UTC.
    late = at("2026-12-02T23:30")
    assert paris.bounds(late) == (at("2026-12-03T00:00", "Europe/Paris"),
                                  at("2026-12-04T00:00", "Europe/Paris"))  # fmt: skip
    assert paris.key_start(late) != paris.key_start(at("2026-12-02T22:30"))
    assert BudgetWindows().key_start(late) == BudgetWindows().key_start(at("2026-12-02T22:30"))


def test_daylight_saving_days_last_23_and_25_hours() -> None:
    paris = BudgetWindows("Europe/Paris")
    spring = paris.bounds(at("2026-03-29T12:00", "Europe/Paris"))
    autumn = paris.bounds(at("2026-10-25T12:00", "Europe/Paris"))
    assert spring[1] - spring[0] == 23 * 3600
    assert autumn[1] - autumn[0] == 25 * 3600


def test_short_windows_for_tests_cross_a_boundary_in_seconds() -> None:
    windows = BudgetWindows(size_s=2)
    assert windows.key_start(100.0) == windows.key_start(101.9) != windows.key_start(102.0)
