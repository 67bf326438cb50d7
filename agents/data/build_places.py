"""Regenerate places.tsv from the IANA tz database's zone.tab and iso3166.tab.

    python agents/data/build_places.py /usr/share/zoneinfo > agents/data/places.tsv

Cities come from the zone names themselves (``Asia/Tokyo`` -> "tokyo"), countries
from iso3166.tab joined with zone.tab; the hand-kept lists below add large cities
that are not zone names, the dominant zone of a few countries with several, common
short names, and abbreviations. The tz database is in the public domain.
"""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

# Large cities that are not zone names, each in the zone its region keeps (checked
# against zone.tab's comments and the countries' single zones).
EXTRA_CITIES = {
    "abu dhabi": "Asia/Dubai",
    "atlanta": "America/New_York",
    "austin": "America/Chicago",
    "bangalore": "Asia/Kolkata",
    "bengaluru": "Asia/Kolkata",
    "barcelona": "Europe/Madrid",
    "beijing": "Asia/Shanghai",
    "boston": "America/New_York",
    "bombay": "Asia/Kolkata",
    "calcutta": "Asia/Kolkata",
    "canberra": "Australia/Sydney",
    "chennai": "Asia/Kolkata",
    "dallas": "America/Chicago",
    "delhi": "Asia/Kolkata",
    "new delhi": "Asia/Kolkata",
    "edinburgh": "Europe/London",
    "frankfurt": "Europe/Berlin",
    "geneva": "Europe/Zurich",
    "guangzhou": "Asia/Shanghai",
    "hamburg": "Europe/Berlin",
    "hanoi": "Asia/Bangkok",
    "houston": "America/Chicago",
    "hyderabad": "Asia/Kolkata",
    "kiev": "Europe/Kyiv",
    "kyoto": "Asia/Tokyo",
    "las vegas": "America/Los_Angeles",
    "manchester": "Europe/London",
    "miami": "America/New_York",
    "milan": "Europe/Rome",
    "montreal": "America/Toronto",
    "mumbai": "Asia/Kolkata",
    "munich": "Europe/Berlin",
    "osaka": "Asia/Tokyo",
    "ottawa": "America/Toronto",
    "philadelphia": "America/New_York",
    "portland": "America/Los_Angeles",
    "rio de janeiro": "America/Sao_Paulo",
    "rio": "America/Sao_Paulo",
    "saigon": "Asia/Ho_Chi_Minh",
    "san diego": "America/Los_Angeles",
    "san francisco": "America/Los_Angeles",
    "seattle": "America/Los_Angeles",
    "shenzhen": "Asia/Shanghai",
    "st petersburg": "Europe/Moscow",
    "saint petersburg": "Europe/Moscow",
    "washington": "America/New_York",
    "washington dc": "America/New_York",
    "silicon valley": "America/Los_Angeles",
    "salt lake city": "America/Denver",
    "minneapolis": "America/Chicago",
    "new orleans": "America/Chicago",
    "quebec": "America/Toronto",
    "krakow": "Europe/Warsaw",
    "rotterdam": "Europe/Amsterdam",
    "zurich": "Europe/Zurich",
    "cologne": "Europe/Berlin",
    "florence": "Europe/Rome",
    "venice": "Europe/Rome",
    "naples": "Europe/Rome",
    "marseille": "Europe/Paris",
    "lyon": "Europe/Paris",
    "porto": "Europe/Lisbon",
    "seville": "Europe/Madrid",
    "valencia": "Europe/Madrid",
    "tel aviv": "Asia/Jerusalem",
    "mecca": "Asia/Riyadh",
    "jeddah": "Asia/Riyadh",
    "islamabad": "Asia/Karachi",
    "lahore": "Asia/Karachi",
    "cape town": "Africa/Johannesburg",
    "marrakesh": "Africa/Casablanca",
    "ho chi minh city": "Asia/Ho_Chi_Minh",
    "perth": "Australia/Perth",
}
# Countries with several zones where one holds most people (zone.tab lists it first).
DOMINANT = {
    "AR": "America/Argentina/Buenos_Aires",
    "BR": "America/Sao_Paulo",
    "CD": "Africa/Kinshasa",
    "CL": "America/Santiago",
    "CN": "Asia/Shanghai",
    "CY": "Asia/Nicosia",
    "DE": "Europe/Berlin",
    "EC": "America/Guayaquil",
    "ES": "Europe/Madrid",
    "ID": "Asia/Jakarta",
    "KZ": "Asia/Almaty",
    "MX": "America/Mexico_City",
    "MY": "Asia/Kuala_Lumpur",
    "NZ": "Pacific/Auckland",
    "PT": "Europe/Lisbon",
    "RU": "Europe/Moscow",
    "UA": "Europe/Kyiv",
    "UZ": "Asia/Tashkent",
    "PS": "Asia/Gaza",
    "PG": "Pacific/Port_Moresby",
}
COUNTRY_ALIASES = {
    "GB": ["united kingdom", "uk", "england", "scotland", "wales", "great britain"],
    "US": ["usa", "america", "the united states"],
    "KR": ["south korea"],
    "KP": ["north korea"],
    "NL": ["holland", "the netherlands"],
    "CZ": ["czechia"],
    "AE": ["uae"],
    "CD": ["drc"],
    "MM": ["burma"],
    "CI": ["ivory coast"],
    "SZ": ["swaziland"],
    "TL": ["timor-leste"],
    "VA": ["vatican"],
}
# Zone-name cities that are also common words, or stations rather than cities.
NOT_CITIES = {
    "casey",
    "center",
    "christmas",
    "davis",
    "easter",
    "mawson",
    "mcmurdo",
    "midway",
    "palmer",
    "reunion",
    "rothera",
    "stanley",
    "syowa",
    "troll",
    "vostok",
    "wake",
    "canary",
    "knox",
    "marengo",
    "petersburg",
    "tell city",
    "vevay",
    "vincennes",
    "winamac",
    "beulah",
    "new salem",
    "monticello",
    "macquarie",
    "dumontdurville",
    "regina",
}
# Uppercase abbreviations people write after a time ("3pm EST"); matched case-sensitively.
ABBREVIATIONS = {
    "UTC": "UTC",
    "GMT": "Etc/GMT",
    "EST": "America/New_York",
    "EDT": "America/New_York",
    "CST": "America/Chicago",
    "CDT": "America/Chicago",
    "MST": "America/Denver",
    "MDT": "America/Denver",
    "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles",
    "BST": "Europe/London",
    "CET": "Europe/Paris",
    "CEST": "Europe/Paris",
    "JST": "Asia/Tokyo",
    "AEST": "Australia/Sydney",
    "AEDT": "Australia/Sydney",
    "HKT": "Asia/Hong_Kong",
    "SGT": "Asia/Singapore",
    "KST": "Asia/Seoul",
}


def _plain(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded if not unicodedata.combining(c)).lower().replace("_", " ")


def _rows(folder: Path) -> list[tuple[str, str, str]]:
    zones: dict[str, list[str]] = {}
    for line in (folder / "zone.tab").read_text().splitlines():
        if line and not line.startswith("#"):
            code, _, zone, *_ = line.split("\t")
            zones.setdefault(code, []).append(zone)
    rows: dict[str, tuple[str, str]] = {}
    for zone in sorted({z for zs in zones.values() for z in zs}):
        area, *rest = zone.split("/")
        if area == "Antarctica":
            continue
        city = _plain(rest[-1]).replace("-", " ")
        if city not in NOT_CITIES:
            rows.setdefault(city, (zone, "city"))
    for city, zone in EXTRA_CITIES.items():
        rows.setdefault(city, (zone, "city"))
    for line in (folder / "iso3166.tab").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        code, name = line.split("\t")
        in_country = zones.get(code, [])
        if len(in_country) == 1:
            zone, kind = in_country[0], "country"
        elif code in DOMINANT:
            zone, kind = DOMINANT[code], "country"
        elif in_country:
            zone, kind = str(len(in_country)), "ambiguous"
        else:
            continue
        names = [name.split(" (")[0], *COUNTRY_ALIASES.get(code, [])]
        if "(" in name and code not in COUNTRY_ALIASES:
            names.append(name)  # 'Korea (South)' as written
        for each in names:
            rows.setdefault(_plain(each).replace("&", "and"), (zone, kind))
    out = [(name, zone, kind) for name, (zone, kind) in sorted(rows.items())]
    out += [(abbr, zone, "abbreviation") for abbr, zone in sorted(ABBREVIATIONS.items())]
    return out


def main(folder: str) -> None:
    print("# Place names -> IANA time zone, for agents/argument_filling.py.")
    print("# Built by agents/data/build_places.py from the IANA tz database (public domain):")
    print("# zone.tab (zones per country) and iso3166.tab (country names), tzdata as shipped")
    print("# by Debian, plus the hand-kept cities, aliases and abbreviations listed there.")
    print("# kind: city | country | abbreviation (case-sensitive) | ambiguous (zone = count)")
    for name, zone, kind in _rows(Path(folder)):
        print(f"{name}\t{zone}\t{kind}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/zoneinfo")
