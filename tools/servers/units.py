"""MCP server ``units``: length, area, mass, time, temperature, data, speed, volume conversion."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult
from pydantic import BaseModel

from tools.conventions import LOCAL_READ_ONLY, tool_error, tool_meta, tool_result
from tools.servers._serve import SERVER_LOG_LEVEL, main_for

__all__ = ["Unit", "UnitError", "build_server", "convert_units", "find_unit", "main"]


class UnitError(ValueError):
    """Unknown unit, units of different dimensions, or a value that cannot be converted."""


@dataclass(frozen=True)
class Unit:
    symbol: str
    dimension: str
    # Size in the dimension's base unit (m, m², kg, s, B, m/s, m³); unused for temperature.
    factor: float


_EXACT: dict[str, Unit] = {}
_FOLDED: dict[str, Unit] = {}


def _define(dimension: str, factor: float, *names: str) -> None:
    unit = Unit(names[0], dimension, factor)
    for name in names:
        _EXACT.setdefault(name, unit)
        # Case-insensitive lookup keeps the first definition: bytes are defined
        # before bits, so a lowercase 'mb' reads as megabytes, as people mean it.
        _FOLDED.setdefault(name.lower(), unit)


def _plural(*names: str) -> tuple[str, ...]:
    return tuple(n for name in names for n in (name, name + "s"))


# Length, base metre.
_define("length", 1.0, "m", *_plural("meter", "metre"))
_define("length", 1e3, "km", *_plural("kilometer", "kilometre"))
_define("length", 1e-2, "cm", *_plural("centimeter", "centimetre"))
_define("length", 1e-3, "mm", *_plural("millimeter", "millimetre"))
_define("length", 1e-6, "µm", "um", *_plural("micrometer", "micron"))
_define("length", 1e-9, "nm", *_plural("nanometer"))
_define("length", 1609.344, "mi", *_plural("mile"))
_define("length", 0.9144, "yd", *_plural("yard"))
_define("length", 0.3048, "ft", "foot", "feet")
_define("length", 0.0254, "in", "inch", "inches")
_define("length", 1852.0, "nmi")
_define("length", 149_597_870_700.0, "au")
_define("length", 9_460_730_472_580_800.0, "ly", *_plural("lightyear"))
# Area, base square metre.
_define("area", 1.0, "m²", "m2", "sqm")
_define("area", 1e6, "km²", "km2")
_define("area", 1e-4, "cm²", "cm2")
_define("area", 1e4, "ha", *_plural("hectare"))
_define("area", 4046.8564224, "acre", "acres")
_define("area", 0.09290304, "ft²", "ft2", "sqft")
_define("area", 2_589_988.110336, "mi²", "mi2", "sqmi")
# Mass, base kilogram.
_define("mass", 1.0, "kg", *_plural("kilogram"), "kilo", "kilos")
_define("mass", 1e-3, "g", *_plural("gram"))
_define("mass", 1e-6, "mg", *_plural("milligram"))
_define("mass", 1e-9, "µg", "ug", *_plural("microgram"))
_define("mass", 1e3, "t", *_plural("tonne"))
_define("mass", 907.18474, "ton", "tons")  # US short ton
_define("mass", 0.45359237, "lb", "lbs", *_plural("pound"))
_define("mass", 0.028349523125, "oz", *_plural("ounce"))
_define("mass", 6.35029318, "st", *_plural("stone"))
# Time, base second. Month and year are Gregorian averages (365.2425 days).
_define("time", 1e-9, "ns", *_plural("nanosecond"))
_define("time", 1e-6, "µs", "us", *_plural("microsecond"))
_define("time", 1e-3, "ms", *_plural("millisecond"))
_define("time", 1.0, "s", "sec", "secs", *_plural("second"))
_define("time", 60.0, "min", "mins", *_plural("minute"))
_define("time", 3600.0, "h", "hr", "hrs", *_plural("hour"))
_define("time", 86400.0, "d", *_plural("day"))
_define("time", 604800.0, "wk", *_plural("week"))
_define("time", 2_629_746.0, "mo", *_plural("month"))
_define("time", 31_556_952.0, "yr", "y", "yrs", *_plural("year"))
# Data size, base byte: decimal (kB = 1000 B) and binary (KiB = 1024 B) prefixes.
_define("data", 1.0, "B", *_plural("byte"))
_define("data", 1e3, "kB", "KB", *_plural("kilobyte"))
_define("data", 1e6, "MB", *_plural("megabyte"))
_define("data", 1e9, "GB", *_plural("gigabyte"))
_define("data", 1e12, "TB", *_plural("terabyte"))
_define("data", 1e15, "PB", *_plural("petabyte"))
_define("data", 1024.0, "KiB", *_plural("kibibyte"))
_define("data", 1024.0**2, "MiB", *_plural("mebibyte"))
_define("data", 1024.0**3, "GiB", *_plural("gibibyte"))
_define("data", 1024.0**4, "TiB", *_plural("tebibyte"))
_define("data", 0.125, "b", "bit", "bits")
_define("data", 125.0, "kb", "Kb", "kbit", *_plural("kilobit"))
_define("data", 125e3, "Mb", "Mbit", *_plural("megabit"))
_define("data", 125e6, "Gb", "Gbit", *_plural("gigabit"))
_define("data", 125e9, "Tb", "Tbit", *_plural("terabit"))
# Speed, base metre per second.
_define("speed", 1.0, "m/s", "mps")
_define("speed", 1 / 3.6, "km/h", "kmh", "kph", "kmph")
_define("speed", 0.44704, "mph")
_define("speed", 1852 / 3600, "kn", "kt", *_plural("knot"))
_define("speed", 0.3048, "ft/s", "fps")
# Volume, base cubic metre; gallons, quarts, pints, cups and fluid ounces are US.
_define("volume", 1.0, "m³", "m3")
_define("volume", 1e-3, "L", "l", *_plural("liter", "litre"))
_define("volume", 1e-4, "dL", "dl")
_define("volume", 1e-5, "cL", "cl")
_define("volume", 1e-6, "mL", "ml", "cc", "cm3", *_plural("milliliter", "millilitre"))
_define("volume", 3.785411784e-3, "gal", *_plural("gallon"))
_define("volume", 9.46352946e-4, "qt", *_plural("quart"))
_define("volume", 4.73176473e-4, "pt", *_plural("pint"))
_define("volume", 2.365882365e-4, "cup", "cups")
_define("volume", 2.95735295625e-5, "floz", "fl_oz")
_define("volume", 1.478676478125e-5, "tbsp", *_plural("tablespoon"))
_define("volume", 4.92892159375e-6, "tsp", *_plural("teaspoon"))
# Temperature: affine, converted through kelvin.
_define("temperature", 0.0, "°C", "C", "degC", "celsius")
_define("temperature", 0.0, "°F", "F", "degF", "fahrenheit")
_define("temperature", 0.0, "K", "kelvin", "kelvins")

_TO_KELVIN = {
    "°C": lambda v: v + 273.15,
    "°F": lambda v: (v - 32) * 5 / 9 + 273.15,
    "K": lambda v: v,
}
_FROM_KELVIN = {
    "°C": lambda k: k - 273.15,
    "°F": lambda k: (k - 273.15) * 9 / 5 + 32,
    "K": lambda k: k,
}


def find_unit(name: str) -> Unit:
    """The unit called ``name``: exact spelling first, then case-insensitively."""
    key = name.strip()
    unit = _EXACT.get(key) or _FOLDED.get(key.lower())
    if unit is None and key.lower().startswith("degree"):
        unit = _FOLDED.get(key.lower().removeprefix("degrees").removeprefix("degree").strip())
    if unit is None:
        raise UnitError(f"unknown unit {name!r}; known dimensions: {', '.join(dimensions())}")
    return unit


def dimensions() -> list[str]:
    return sorted({unit.dimension for unit in _EXACT.values()})


def convert_units(value: float, from_unit: str, to_unit: str) -> tuple[float, Unit, Unit]:
    """``value`` in ``from_unit`` expressed in ``to_unit``; raises UnitError."""
    if not math.isfinite(value):
        raise UnitError("the value must be a finite number")
    source, target = find_unit(from_unit), find_unit(to_unit)
    if source.dimension != target.dimension:
        raise UnitError(
            f"cannot convert {source.dimension} ({source.symbol}) "
            f"to {target.dimension} ({target.symbol})"
        )
    if source.dimension == "temperature":
        kelvin = _TO_KELVIN[source.symbol](value)
        if kelvin < 0:
            raise UnitError(f"{value:g} {source.symbol} is below absolute zero")
        return _FROM_KELVIN[target.symbol](kelvin), source, target
    return value * source.factor / target.factor, source, target


class Conversion(BaseModel):
    value: float
    unit: str
    from_value: float
    from_unit: str
    dimension: str


_PATTERNS = (
    # '5 km to mi', '60 mph in km/h', '30 degrees celsius to fahrenheit'.
    r"(?P<value>-?\d+(?:\.\d+)?)\s*(?:degrees?\s+)?(?P<from_unit>[a-zA-Z°µ][a-zA-Z°µ/²³]*)"
    r"\s+(?:to|in|into)\s+(?:degrees?\s+)?(?P<to_unit>[a-zA-Z°µ][a-zA-Z°µ/²³]*)",
)
_KEYWORDS = (
    "convert", "conversion", "unit", "units", "how many", "km", "miles", "celsius",
    "fahrenheit", "kg", "pounds", "feet", "meters", "liters", "gallons", "bytes",
)  # fmt: skip


def build_server() -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("units", version="1", log_level=SERVER_LOG_LEVEL)

    def convert(
        value: float, from_unit: str, to_unit: str
    ) -> Annotated[CallToolResult, Conversion]:
        """Convert between units of one dimension: 5 mi to km, 100 °F to °C, 3 GiB to MB."""
        try:
            result, source, target = convert_units(value, from_unit, to_unit)
        except UnitError as exc:
            return tool_error(str(exc))
        out = Conversion(
            value=result,
            unit=target.symbol,
            from_value=value,
            from_unit=source.symbol,
            dimension=source.dimension,
        )
        return tool_result(
            out.model_dump(), f"{value:.10g} {source.symbol} = {result:.6g} {target.symbol}"
        )

    server.add_tool(
        convert,
        annotations=LOCAL_READ_ONLY,
        meta=tool_meta(patterns=_PATTERNS, keywords=_KEYWORDS, version="1", cacheable=True),
    )
    return server


main = main_for("units", "Unit conversion over MCP.", lambda _args: build_server())

if __name__ == "__main__":
    main(None)
