"""Typed values found in intent text: quoted strings, URLs, e-mail addresses, file paths,
dates, times, time zones and numbers, each with where it stands and the word before it.

Pure and linear-time: every pattern runs on RE2, and place names are looked up
word by word. ``agents/argument_filling.py`` decides which value fills which field.
"""

from __future__ import annotations

import bisect
import unicodedata
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from tools.patterns import LinearPattern, compile_linear

PLACES_FILE = Path(__file__).with_name("data") / "places.tsv"

# Words that carry no role and stand between a preposition and its value ("to the UK").
_ARTICLES = frozenset({"the", "a", "an"})
_NUMBER_WORDS = {
    word: n
    for n, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80}
_NUMBER_WORDS |= {"ninety": 90, "hundred": 100, "thousand": 1000}
_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            "january jan",
            "february feb",
            "march mar",
            "april apr",
            "may",
            "june jun",
            "july jul",
            "august aug",
            "september sep sept",
            "october oct",
            "november nov",
            "december dec",
        ]
    )
    for name in names.split()
}
_RELATIVE_DAYS = {"today": 0, "tomorrow": 1, "yesterday": -1}
# Longer runs of digits are not read as values: no argument needs them, and a float
# of 309 digits or more is not finite (a JSON tool argument must be).
_MAX_NUMBER_CHARS = 40
_ORDINAL_SUFFIXES = frozenset({"st", "nd", "rd", "th"})
# Words after a number that are not its unit ("add 3 and 4").
_NOT_UNITS = frozenset(
    "and or to in into of the a an by from times plus minus with for is at on per".split()
)
_FILE_EXTENSIONS = (
    "txt|md|markdown|pdf|csv|tsv|json|jsonl|yaml|yml|toml|xml|html|htm|log|py|js|ts|go|rs|"
    "java|c|h|cpp|sh|sql|gz|zip|tar|tgz|png|jpg|jpeg|gif|svg|webp|docx?|xlsx?|pptx?|ini|cfg"
)
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ORDINAL = r"(?:st|nd|rd|th)?"

_P = {
    # Straight double quotes, and curly double and single quotes (RE2 reads \x{...}).
    "dquote": r'"([^"\n]+)"|\x{201c}([^\x{201d}\n]+)\x{201d}|\x{2018}([^\x{2019}\n]+)\x{2019}',
    "squote": r"(?:^|[\s(\[{:=,])'([^'\n]+)'(?:$|[\s.,;:!?)\]}])",
    "url": r"(?i)\b(?:https?://|www\.)[^\s<>\"'`]+",
    "email": r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+",
    "path": r"(?:^|[\s\"'(=])((?:~|\.{1,2})?/[^\s\"'<>|]*[^\s\"'<>|.,;:!?)]"
    r"|[A-Za-z]:\\[^\s\"'<>|]+"
    rf"|[\pL\pN_\-.]*[\pL\pN_\-]\.(?i:{_FILE_EXTENSIONS}))(?:$|[^\pL\pN_])",
    "datetime": r"\b(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(Z|[+-]\d{2}:?\d{2})?",
    "iso_date": r"\b(\d{4})-(\d{2})-(\d{2})\b",
    "month_day": rf"(?i)\b({_MONTH_NAMES})\.?\s+(\d{{1,2}}){_ORDINAL}\b(?:,?\s+(\d{{4}})\b)?",
    "day_month": rf"(?i)\b(\d{{1,2}}){_ORDINAL}\s+(?:of\s+)?({_MONTH_NAMES})\b\.?"
    r"(?:,?\s+(\d{4})\b)?",
    "relative_day": r"(?i)\b(today|tomorrow|yesterday)\b",
    "clock": r"(?i)\b(\d{1,2}):(\d{2})(?::\d{2})?(?:\s*([ap])\.?m\b\.?)?",
    "hour": r"(?i)\b(\d{1,2})\s*([ap])\.?m\b\.?",
    "noon": r"(?i)\b(noon|midday|midnight)\b",
    "iana": r"\b[A-Za-z][A-Za-z_\-]*(?:/[A-Za-z0-9_+\-]+)+",
    "offset": r"\b(?:UTC|GMT)\s*([+-])\s*(\d{1,2})\b",
    "word": r"[\pL][\pL\pN'\x{2019}\-]*\.?",
    "number": r"(?:^|[^\pL\pN_.\-+])([-+]?\d+(?:,\d{3})*(?:\.\d+)?)",
    # 'degrees' is read past: "30 degrees celsius" is in celsius.
    "unit": r"^\s*(?:degrees?\s+)?([\pL°µ][\pL°µ²³/]*)",
}


def _re(name: str) -> LinearPattern:
    return compile_linear(_P[name])


@dataclass(frozen=True)
class Found:
    """One value in the text. ``before`` is the word in front of it, lowercased
    (articles skipped): 'from', 'to', 'in' tell a source from a target."""

    kind: str
    value: Any
    start: int
    end: int
    text: str
    before: str = ""
    unit: str | None = None

    def overlaps(self, start: int, end: int) -> bool:
        return self.start < end and start < self.end


@dataclass(frozen=True)
class Extraction:
    """Everything :func:`extract` found, in text order per kind."""

    found: tuple[Found, ...]
    ambiguous_places: tuple[str, ...] = ()

    def of(self, kind: str) -> list[Found]:
        return [f for f in self.found if f.kind == kind]


class _Spans:
    """Disjoint [start, end) spans; overlap tests by bisection, so long texts stay linear-ish."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def free(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self._starts, end)
        return i == 0 or self._ends[i - 1] <= start

    def add(self, found: Found) -> bool:
        """Take ``found``'s span if it is free; say whether it was."""
        if not self.free(found.start, found.end):
            return False
        i = bisect.bisect_left(self._starts, found.start)
        self._starts.insert(i, found.start)
        self._ends.insert(i, found.end)
        return True

    def keep(self, candidates: Iterable[Found]) -> list[Found]:
        return [f for f in candidates if self.add(f)]


@dataclass(frozen=True)
class _Word:
    text: str
    folded: str
    start: int
    end: int


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    folded = plain.lower().replace("\u2019", "'").rstrip(".")
    return folded[:-2] if folded.endswith("'s") else folded


def _words(text: str) -> list[_Word]:
    return [
        _Word(m.group() or "", _fold(m.group() or ""), m.start(), m.end())
        for m in _re("word").finditer(text)
    ]


@cache
def _places() -> tuple[dict[str, str], dict[str, str], frozenset[str], int]:
    """(place -> zone, abbreviation -> zone, ambiguous places, longest name in words)."""
    places: dict[str, str] = {}
    abbreviations: dict[str, str] = {}
    ambiguous: set[str] = set()
    for line in PLACES_FILE.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        name, zone, kind = line.split("\t")
        if kind == "abbreviation":
            abbreviations[name] = zone
        elif kind == "ambiguous":
            ambiguous.add(name)
        else:
            places[name] = zone
    longest = max(len(name.split()) for name in [*places, *ambiguous])
    return places, abbreviations, frozenset(ambiguous), longest


@cache
def _zone_names() -> dict[str, str]:
    """Every IANA zone name this machine knows, by its lowercase spelling."""
    return {zone.lower(): zone for zone in zoneinfo.available_timezones()}


def extract(text: str, today: date | None = None) -> Extraction:
    """Every typed value in ``text``; ``today`` resolves 'tomorrow' and years left out.

    Typed values never overlap: URLs, e-mail addresses and paths first, then
    dates and times, time zones and last numbers, each in what is left.
    Quoted strings are kept besides them ('Europe/Paris' is both), but no
    number is taken from inside quotes.
    """
    words = _words(text)
    quoted = _Spans().keep(_quoted(text))
    typed = _Spans()
    found = list(quoted)
    for finder in (_urls(text), _emails(text), _paths(text), _datetimes(text)):
        found += typed.keep(finder)
    found += typed.keep(_dates(text, today))
    found += typed.keep(_times(text))
    zones, ambiguous = _zones(text, words, typed)
    found += zones
    inside_quotes = _Spans()
    inside_quotes.keep(quoted)
    numbers = [f for f in _numbers(text, words) if inside_quotes.free(f.start, f.end)]
    found += typed.keep(sorted(numbers, key=lambda f: f.start))
    ends = [w.end for w in words]
    with_roles = [_with_before(f, words, ends) for f in sorted(found, key=lambda f: f.start)]
    return Extraction(tuple(with_roles), tuple(ambiguous))


def _with_before(found: Found, words: list[_Word], ends: list[int]) -> Found:
    i = bisect.bisect_right(ends, found.start)  # words[:i] end before the value starts
    while i > 0 and words[i - 1].folded in _ARTICLES:
        i -= 1
    before = words[i - 1].folded if i > 0 else ""
    return Found(found.kind, found.value, found.start, found.end, found.text, before, found.unit)


def _quoted(text: str) -> Iterator[Found]:
    for name in ("dquote", "squote"):
        for m in _re(name).finditer(text):
            for group in (1, 2, 3):
                inner = _group(m, group)
                if inner.strip():
                    start, end = m.span(group)
                    yield Found("quoted", inner, start - 1, end + 1, inner)
                    break


def _group(match: Any, group: int) -> str:
    try:
        return str(match.group(group) or "")
    except IndexError:
        return ""


def _urls(text: str) -> Iterator[Found]:
    for m in _re("url").finditer(text):
        raw = (m.group() or "").rstrip(".,;:!?)]}")
        url = raw if "://" in raw else f"https://{raw}"
        yield Found("url", url, m.start(), m.start() + len(raw), raw)


def _emails(text: str) -> Iterator[Found]:
    for m in _re("email").finditer(text):
        yield Found("email", m.group(), m.start(), m.end(), m.group() or "")


def _paths(text: str) -> Iterator[Found]:
    for m in _re("path").finditer(text):
        path = m.group(1) or ""
        yield Found("path", path, m.start(1), m.end(1), path)


def _datetimes(text: str) -> Iterator[Found]:
    for m in _re("datetime").finditer(text):
        day, clock, zone = m.group(1), m.group(2), m.group(3) or ""
        try:
            date.fromisoformat(day or "")
        except ValueError:
            continue
        seconds = clock if clock and clock.count(":") == 2 else f"{clock}:00"
        yield Found("datetime", f"{day}T{seconds}{zone}", m.start(), m.end(), m.group() or "")


def _dates(text: str, today: date | None) -> Iterator[Found]:
    for m in _re("iso_date").finditer(text):
        found = _date(int(m.group(1) or 0), int(m.group(2) or 0), int(m.group(3) or 0))
        if found is not None:
            yield Found("date", found.isoformat(), m.start(), m.end(), m.group() or "")
    for name, month_group, day_group in (("month_day", 1, 2), ("day_month", 2, 1)):
        for m in _re(name).finditer(text):
            month = _MONTHS[(m.group(month_group) or "").lower()]
            written = m.group(3)
            year = int(written) if written else (today.year if today else None)
            found = _date(year, month, int(m.group(day_group) or 0)) if year else None
            if found is not None:
                yield Found("date", found.isoformat(), m.start(), m.end(), m.group() or "")
    if today is not None:
        for m in _re("relative_day").finditer(text):
            shift = _RELATIVE_DAYS[(m.group(1) or "").lower()]
            value = (today + timedelta(days=shift)).isoformat()
            yield Found("date", value, m.start(), m.end(), m.group() or "")


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _times(text: str) -> Iterator[Found]:
    for m in _re("clock").finditer(text):
        hour, minute = int(m.group(1) or 0), int(m.group(2) or 0)
        value = _clock(hour, minute, m.group(3))
        if value is not None:
            yield Found("time", value, m.start(), m.end(), m.group() or "")
    for m in _re("hour").finditer(text):
        value = _clock(int(m.group(1) or 0), 0, m.group(2))
        if value is not None:
            yield Found("time", value, m.start(), m.end(), m.group() or "")
    for m in _re("noon").finditer(text):
        value = "00:00" if (m.group(1) or "").lower() == "midnight" else "12:00"
        yield Found("time", value, m.start(), m.end(), m.group() or "")


def _clock(hour: int, minute: int, half: str | None) -> str | None:
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half.lower() == "p" else 0)
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


def _zones(text: str, words: list[_Word], taken: _Spans) -> tuple[list[Found], list[str]]:
    zones: list[Found] = []
    known = _zone_names()
    for m in _re("iana").finditer(text):
        zone = known.get((m.group() or "").lower())
        if zone is not None:
            zones += taken.keep([Found("timezone", zone, m.start(), m.end(), m.group() or "")])
    for m in _re("offset").finditer(text):
        # POSIX signs are inverted in the Etc area: UTC+2 is Etc/GMT-2.
        sign, hours = m.group(1), int(m.group(2) or "0")
        zone = "Etc/GMT" if hours == 0 else f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"
        if zone in known.values():
            zones += taken.keep([Found("timezone", zone, m.start(), m.end(), m.group() or "")])
    places, abbreviations, ambiguous_names, longest = _places()
    ambiguous: list[str] = []
    i = 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            span = words[i : i + n]
            start, end = span[0].start, span[-1].end
            key = " ".join(w.folded for w in span)
            raw = text[start:end]
            zone = abbreviations.get(raw) if n == 1 else None
            zone = zone or places.get(key)
            if zone is not None and taken.add(Found("timezone", zone, start, end, raw)):
                zones.append(Found("timezone", zone, start, end, raw))
                i += n - 1
                break
            if key in ambiguous_names and taken.free(start, end):
                ambiguous.append(raw)
                i += n - 1
                break
        i += 1
    return sorted(zones, key=lambda f: f.start), ambiguous


def _numbers(text: str, words: list[_Word]) -> Iterator[Found]:
    for m in _re("number").finditer(text):
        raw = m.group(1) or ""
        start, end = m.span(1)
        plain = raw.replace(",", "")
        if len(plain) > _MAX_NUMBER_CHARS:
            continue
        value: int | float = float(plain) if "." in plain else int(plain)
        unit = _unit_after(text, end)
        if unit is not None and unit.lower() in _ORDINAL_SUFFIXES:
            continue  # '2nd' ranks something; it is not a value
        yield Found("number", value, start, end, raw, unit=unit)
    for word in words:
        if word.folded in _NUMBER_WORDS:
            value = _NUMBER_WORDS[word.folded]
            unit = _unit_after(text, word.end)
            yield Found("number", value, word.start, word.end, word.text, unit=unit)


def _unit_after(text: str, end: int) -> str | None:
    # 40 characters hold any unit name; the search never looks further.
    m = _re("unit").search(text[end : end + 40])
    unit = m.group(1) if m else None
    return unit if unit and unit.lower() not in _NOT_UNITS else None
