"""Unit conversion: factors, temperature, spelling, and clear refusals."""

from __future__ import annotations

import pytest

from tools.servers.units import UnitError, convert_units, find_unit


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        (5, "mi", "km", 8.04672),
        (1, "km", "m", 1000),
        (12, "inches", "feet", 1),
        (1, "acre", "m2", 4046.8564224),
        (10, "kg", "lb", 22.0462262185),
        (1, "stone", "pounds", 14),
        (90, "minutes", "hours", 1.5),
        (1, "day", "s", 86400),
        (3, "GiB", "MB", 3221.225472),
        (1, "MB", "KB", 1000),
        (8, "bits", "bytes", 1),
        (100, "Mb", "MB", 12.5),
        (100, "km/h", "m/s", 27.7777777778),
        (60, "mph", "kph", 96.56064),
        (1, "gallon", "liters", 3.785411784),
        (500, "ml", "L", 0.5),
        (100, "°C", "°F", 212),
        (32, "F", "C", 0),
        (0, "celsius", "kelvin", 273.15),
        (-40, "fahrenheit", "celsius", -40),
        (1, "degrees celsius", "K", 274.15),
    ],
)
def test_converts(value: float, source: str, target: str, expected: float) -> None:
    result, _, _ = convert_units(value, source, target)
    assert result == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_exact_spelling_wins_over_case_folding() -> None:
    assert find_unit("b").symbol == "b"  # bit
    assert find_unit("B").symbol == "B"  # byte
    assert find_unit("mb").symbol == "MB"  # people mean megabytes
    assert find_unit("Mb").symbol == "Mb"
    assert find_unit("KM").symbol == "km"


def test_unknown_unit_names_it() -> None:
    with pytest.raises(UnitError, match="unknown unit 'furlong'"):
        convert_units(1, "furlong", "m")


def test_incompatible_units_name_both_dimensions() -> None:
    with pytest.raises(UnitError, match=r"cannot convert mass \(kg\) to length \(km\)"):
        convert_units(1, "kg", "km")


def test_below_absolute_zero_is_refused() -> None:
    with pytest.raises(UnitError, match="absolute zero"):
        convert_units(-300, "C", "K")


def test_non_finite_value_is_refused() -> None:
    with pytest.raises(UnitError, match="finite"):
        convert_units(float("nan"), "m", "km")
