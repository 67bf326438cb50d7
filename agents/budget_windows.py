"""Budget days: which window a moment falls in, in the configured time zone.

Faust's tumbling windows start at multiples of their size since the Unix epoch, that is at UTC
midnight for a day (``(ts // size) * size``). A budget day starts at local midnight, so the
timestamps handed to the windowed tables are *shifted*: the moment plus the zone's UTC offset at
that moment, i.e. the local wall-clock time read as if it were UTC. A shifted window
``[k * size, (k + 1) * size)`` is then a local day, whatever the zone, and daylight-saving days
of 23 or 25 hours come out right because the offset is taken at each moment.

Everything here is pure: the clock is whatever the caller passes in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

# Faust's WindowRange_from_start: a window's end is its start plus the size less 0.1 s.
_FAUST_END_GAP_S = 0.1


@dataclass(frozen=True)
class BudgetWindows:
    """Tumbling windows of ``size_s`` seconds starting at local midnight of ``timezone``."""

    timezone: str = "UTC"
    """IANA name; the budget day starts at this zone's midnight."""

    size_s: int = 86400
    """A day. Tests use seconds to cross a boundary without waiting for midnight."""

    def shifted(self, at: float) -> float:
        """The timestamp a windowed table is given for the Unix time ``at``."""
        offset = datetime.fromtimestamp(at, ZoneInfo(self.timezone)).utcoffset()
        return at + (offset.total_seconds() if offset is not None else 0.0)

    def key_start(self, at: float) -> float:
        """The start of ``at``'s window in shifted time: the window part of the table's key."""
        shifted = self.shifted(at)
        return float(int((shifted // self.size_s) * self.size_s))

    def faust_range(self, at: float) -> tuple[float, float]:
        """``(start, end)`` as Faust keys the window of ``at`` (shifted time)."""
        start = self.key_start(at)
        return start, start + self.size_s - _FAUST_END_GAP_S

    def bounds(self, at: float) -> tuple[float, float]:
        """Unix times at which ``at``'s window begins and ends."""
        start = self.key_start(at)
        return self.real(start), self.real(start + self.size_s)

    def real(self, shifted: float) -> float:
        """The Unix time whose local wall clock reads ``shifted`` (read as UTC)."""
        wall = datetime.fromtimestamp(shifted, UTC).replace(tzinfo=ZoneInfo(self.timezone))
        return wall.timestamp()
