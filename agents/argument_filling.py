"""A tool's arguments from the intent, read off the tool's JSON Schema.

Each property gets a *kind* from its schema (type, ``format``, ``enum``,
``pattern``) and its name and description: a time zone, a URL, an e-mail
address, a file path, a date, a time of day, a number, a unit, an enum, free
text, or a plain string. Values found in the text (``agents/argument_values``)
fill the properties of their kind; several properties of one kind are told
apart by the words before the values ("from", "to", "in"). Arguments the
intent gives always win, then the tool's own declared patterns, then this.

Free text (a query, a message, a prompt) gets what is left of the clause, but
only a property that says it is free text: never one with a ``format``, an
``enum`` or a ``pattern``, and never a plain string such as a name or an id.
The result is coerced to the schema's types and validated with jsonschema; a
value that fails is dropped, so the tool is planned only with arguments it
accepts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

from agents.argument_values import Extraction, Found, extract
from models import ToolSpec
from tools import argument_errors, coerce_arguments
from tools.patterns import LinearPattern, compile_linear, linear_or_none

# Property names that say "free text": what the user wants said, asked or searched.
FREE_TEXT_NAMES = frozenset(
    "query q question prompt message text content body input search searchterm keywords "
    "topic instruction instructions request task utterance".split()
)
# Description words that say the same of a property with a less telling name.
_FREE_TEXT_HINTS = ("search query", "natural language", "free text", "free-form", "the prompt")
_SOURCE_WORDS = frozenset({"from", "source", "src", "origin", "start", "input"})
_TARGET_WORDS = frozenset({"to", "target", "dest", "destination", "end", "output", "into"})
# Words before a value that mark it as a source or a target.
_SOURCE_BEFORE = frozenset({"from"})
_TARGET_BEFORE = frozenset({"to", "into"})
# Leading words of a clause that ask for the tool rather than say what to send it.
_LEAD_WORDS = frozenset(
    "please can could would will you i we want need like to me us the a an for about on "
    "regarding up look lookup search find query echo say repeat back tell show give get run do "
    "web internet online google docs documentation and then just some information info "
    "send".split()
)
_FORMAT_KINDS = {
    "date": "date",
    "date-time": "datetime",
    "time": "time",
    "email": "email",
    "idn-email": "email",
    "uri": "url",
    "url": "url",
    "iri": "url",
    "uri-reference": "url",
    "iri-reference": "url",
}
# The kinds a value found in the text can fill, by property kind.
_VALUE_KIND = {
    "timezone": "timezone",
    "url": "url",
    "email": "email",
    "path": "path",
    "date": "date",
    "datetime": "datetime",
    "time": "time",
}
_DESCRIBED = {
    "timezone": "an IANA time zone such as 'Europe/Paris', or a city or country",
    "url": "a URL (http:// or https://)",
    "email": "an e-mail address",
    "path": "a file path",
    "date": "a date (YYYY-MM-DD, 'May 3', 'tomorrow')",
    "datetime": "a date and time (YYYY-MM-DDTHH:MM)",
    "time": "a time of day (HH:MM, '3pm')",
    "number": "a number",
    "integer": "a whole number",
    "enum": "one of",
    "unit": "a unit after a number ('5 km') or after 'to'",
    "free_text": "text",
}


@dataclass(frozen=True)
class Filled:
    """The arguments found for one tool, and what is still missing."""

    arguments: dict[str, Any]
    missing: tuple[str, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)
    """Where each argument came from: 'given', 'pattern', or the text it was read from."""
    problem: str | None = None
    """Why arguments the intent gave fail the schema, if they do: shown, not held against
    the tool. The tool judges what the agent sent (its invalid_arguments answer says more
    than a guess), and a content part sent by reference gets its bytes only at the call."""
    covered: int = 0
    """How many of the values found in the clause (numbers, times, zones, URLs, ...) the
    arguments use: of two tools that both fit, the one that uses more of what the
    intent says ('18:00 in Berlin ... in Chicago') fits it better."""

    @property
    def complete(self) -> bool:
        return not self.missing


def fill_arguments(
    spec: ToolSpec,
    clause: str,
    given: Mapping[str, Any],
    *,
    today: date | None = None,
    extraction: Extraction | None = None,
) -> Filled:
    """The tool's arguments for this clause: given ones, its patterns', then the text's."""
    schema = spec.input_schema
    properties: dict[str, Any] = dict(schema.get("properties") or {})
    required = [name for name in schema.get("required") or [] if isinstance(name, str)]
    if not properties:
        return Filled(dict(given), tuple(n for n in required if n not in given))
    arguments = {k: v for k, v in given.items() if k in properties}
    sources = dict.fromkeys(arguments, "given")
    spans: dict[str, tuple[int, int]] = {}
    for name, (value, span) in _from_patterns(spec, clause).items():
        if name in properties and name not in arguments:
            arguments[name], sources[name] = value, "the tool's pattern"
            spans[name] = span
    found = extraction if extraction is not None else extract(clause, today)
    spans |= _from_text(spec, clause, properties, required, found, arguments, sources)
    arguments = coerce_arguments(schema, arguments)
    errors = argument_errors(schema, arguments)
    dropped = [k for k in errors if k in arguments and sources.get(k) != "given"]
    for name in dropped:
        del arguments[name], sources[name]
    problem = None
    if dropped:
        errors = argument_errors(schema, arguments)
    if errors:
        problem = "; ".join(f"{k or 'arguments'}: {v}" for k, v in sorted(errors.items()))
    missing = tuple(name for name in required if name not in arguments)
    covered = _covered(found, [span for name, span in spans.items() if name in arguments])
    return Filled(arguments, missing, sources, problem, covered)


def _covered(found: Extraction, spans: Sequence[tuple[int, int]]) -> int:
    """How many typed values of the clause lie inside the spans the arguments came from."""
    return sum(
        1
        for value in found.found
        if value.kind != "quoted"
        and any(start <= value.start and value.end <= end for start, end in spans)
    )


def describe_missing(spec: ToolSpec, missing: Sequence[str]) -> str:
    """'timezone (an IANA time zone ...), time (a time of day ...)' for an error message."""
    properties = spec.input_schema.get("properties") or {}
    parts = []
    for name in missing:
        schema = _resolved(properties.get(name) or {})
        kind = field_kind(name, schema)
        what = _DESCRIBED.get(kind)
        if kind == "enum":
            what = "one of " + ", ".join(repr(v) for v in _enum(schema)[:8])
        parts.append(f"{name} ({what})" if what else name)
    return ", ".join(parts)


def field_kind(name: str, schema: Mapping[str, Any]) -> str:
    """What a property holds, read from its schema, name and description."""
    schema = _resolved(schema)
    if "enum" in schema or "const" in schema:
        return "enum"
    types = _types(schema)
    if types and types <= {"number", "integer", "null"}:
        return "integer" if "number" not in types else "number"
    if "boolean" in types:
        return "boolean"
    if types and "string" not in types:
        return "other"
    tokens = set(_name_tokens(name))
    joined = "".join(_name_tokens(name))
    description = str(schema.get("description") or "").lower()
    fmt = schema.get("format")
    if isinstance(fmt, str):
        return _FORMAT_KINDS.get(fmt, "formatted")
    if "timezone" in joined or "tz" in tokens or "time zone" in description:
        return "timezone"
    if tokens & {"url", "uri", "link", "href", "endpoint", "website"}:
        return "url"
    if tokens & {"email", "mail"}:
        return "email"
    if tokens & {"path", "file", "filename", "filepath", "dir", "directory", "folder"}:
        return "path"
    if "pattern" in schema:
        return "patterned"
    if "date" in tokens or "yyyy-mm-dd" in description:
        return "date"
    if "time" in tokens and ("hh:mm" in description or "24-hour" in description):
        return "time"
    if tokens & {"unit", "units"}:
        return "unit"
    if _is_free_text(tokens, description):
        return "free_text"
    return "string"


def _is_free_text(tokens: set[str], description: str) -> bool:
    if tokens & FREE_TEXT_NAMES:
        return not tokens & {"id", "ids", "key", "name", "code", "type"}
    return any(hint in description for hint in _FREE_TEXT_HINTS)


def _name_tokens(name: str) -> list[str]:
    spaced = "".join(f" {c}" if c.isupper() else c for c in name)
    return [t for t in spaced.lower().replace("-", " ").replace("_", " ").split() if t]


def _resolved(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """An ``anyOf``/``oneOf`` of one type and null (pydantic's Optional) read as that type."""
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list):
            real = [o for o in options if isinstance(o, Mapping) and o.get("type") != "null"]
            if len(real) == 1:
                return {**{k: v for k, v in schema.items() if k != key}, **real[0]}
    return schema


def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return {t for t in declared if isinstance(t, str)}
    return set()


def _enum(schema: Mapping[str, Any]) -> list[Any]:
    if "const" in schema:
        return [schema["const"]]
    values = schema.get("enum")
    return list(values) if isinstance(values, list) else []


def _from_patterns(spec: ToolSpec, clause: str) -> dict[str, tuple[str, tuple[int, int]]]:
    """The first matching pattern's named groups: value and where it stands."""
    for pattern in spec.patterns:
        compiled = linear_or_none(pattern, ignore_case=True)
        match = compiled.search(clause) if compiled is not None else None
        if compiled is not None and match is not None:
            # RE2's span() takes a group's number, not its name.
            return {
                k: (v.strip(), match.span(compiled.groupindex[k]))
                for k, v in match.groupdict().items()
                if v and v.strip()
            }
    return {}


def _from_text(
    spec: ToolSpec,
    clause: str,
    properties: Mapping[str, Any],
    required: Sequence[str],
    found: Extraction,
    arguments: dict[str, Any],
    sources: dict[str, str],
) -> dict[str, tuple[int, int]]:
    """Fill ``arguments`` from the text; return where each typed value stood."""
    kinds = {name: field_kind(name, _resolved(s or {})) for name, s in properties.items()}
    open_fields = [name for name in properties if name not in arguments]
    used: list[Found] = []
    spans: dict[str, tuple[int, int]] = {}

    def put(name: str, value: Any, source: Found | None, why: str) -> None:
        arguments[name] = value
        sources[name] = why
        if source is not None:
            used.append(source)
            spans[name] = (source.start, source.end)

    for kind, value_kind in _VALUE_KIND.items():
        fields = [n for n in open_fields if kinds[n] == kind]
        for name, chosen in _assign(fields, found.of(value_kind)).items():
            put(name, chosen.value, chosen, f"{kind} {chosen.text!r}")
    numbers = [n for n in open_fields if kinds[n] in ("number", "integer")]
    numbered = _assign_numbers(numbers, kinds, required, found.of("number"), properties)
    for name, chosen in numbered.items():
        put(name, chosen.value, chosen, f"number {chosen.text!r}")
    units = [n for n in open_fields if kinds[n] == "unit"]
    for name, chosen in _assign(units, _units(clause, found)).items():
        put(name, chosen.value, chosen, f"unit {chosen.text!r}")
    for name, chosen in _assign_enums(open_fields, kinds, properties, clause).items():
        put(name, chosen.value, chosen, f"enum value {chosen.text!r}")
    quoted = [f for f in found.of("quoted") if f not in used]
    plain = [n for n in open_fields if n not in arguments and kinds[n] in _QUOTED_KINDS]
    for name, chosen in zip(plain, quoted, strict=False):
        put(name, chosen.value, chosen, f"quoted {chosen.text!r}")
    free = [
        n for n in required if n in open_fields and n not in arguments and kinds[n] == "free_text"
    ]
    if free:
        rest = _remaining(clause, used, spec)
        if rest:
            put(free[0], rest, None, "the rest of the clause")
            # The rest holds every value no other field took.
            start = min((f.start for f in found.found if f not in used), default=0)
            end = max((f.end for f in found.found if f not in used), default=0)
            spans[free[0]] = (start, end)
    return spans


_QUOTED_KINDS = frozenset({"free_text", "string", "patterned", "formatted"})


def _role(name: str) -> str:
    tokens = set(_name_tokens(name))
    if tokens & _SOURCE_WORDS:
        return "source"
    if tokens & _TARGET_WORDS:
        return "target"
    return ""


def _assign(fields: Sequence[str], candidates: Sequence[Found]) -> dict[str, Found]:
    """Values to fields of one kind: 'from X' to a source field, 'to Y' to a target field,
    the rest in text order (a lone target field takes the last value, a source the first)."""
    left = list(candidates)
    chosen: dict[str, Found] = {}
    if not fields or not left:
        return chosen
    for name in fields:
        role = _role(name)
        marked = _SOURCE_BEFORE if role == "source" else _TARGET_BEFORE if role else None
        pick = next((c for c in left if marked and c.before in marked), None)
        if pick is not None:
            chosen[name] = pick
            left.remove(pick)
    for name in fields:
        if name in chosen or not left:
            continue
        pick = left[-1] if _role(name) == "target" else left[0]
        chosen[name] = pick
        left.remove(pick)
    return chosen


def _assign_numbers(
    fields: Sequence[str],
    kinds: Mapping[str, str],
    required: Sequence[str],
    numbers: Sequence[Found],
    properties: Mapping[str, Any],
) -> dict[str, Found]:
    """Numbers to numeric fields. A number labelled by a field's words ('top 5', 'the
    first 10 lines' for a field described 'the first N lines') goes to that field;
    required fields take the others in text order; optional ones only labelled numbers."""
    left = list(numbers)
    chosen: dict[str, Found] = {}
    labels = {name: _label_words(name, properties.get(name) or {}) for name in fields}
    scored = sorted(
        (
            (-_label_score(n, *labels[name]), i, name, n)
            for name in fields
            for i, n in enumerate(left)
            if _fits(n, kinds[name])
        ),
        key=lambda item: item[:2],
    )
    for negative, _, name, number in scored:
        if negative < 0 and name not in chosen and number in left:
            chosen[name] = number
            left.remove(number)
    for name in [f for f in fields if f in required and f not in chosen]:
        pick = next((n for n in left if _fits(n, kinds[name])), None)
        if pick is not None:
            chosen[name] = pick
            left.remove(pick)
    return chosen


def _label_words(name: str, schema: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    described = str(_resolved(schema).get("description") or "").lower()
    words = {w.strip(",.:;()'\"") for w in described.split()}
    return _with_plurals(_name_tokens(name)), words - _LABEL_STOP - {""}


def _label_score(number: Found, named: set[str], described: set[str]) -> int:
    """How strongly the words around a number point at a field: its name counts double."""
    around = {number.before, (number.unit or "").lower()} - {""}
    return 2 * len(around & named) + len(around & described)


# Words too common in descriptions to label a number.
_LABEL_STOP = frozenset(
    "a an and the of to in on for by at is are be or if it its this that with from as "
    "n number value default max min".split()
)


def _with_plurals(tokens: Sequence[str]) -> set[str]:
    return {t for token in tokens for t in (token, token + "s", token.removesuffix("s"))} - {""}


def _fits(number: Found, kind: str) -> bool:
    return kind != "integer" or float(number.value).is_integer()


def _units(clause: str, found: Extraction) -> list[Found]:
    """A number's unit ('5 km') or the word after 'from' is a source; the word after
    'to'/'into'/'in' a target."""
    units = []
    for number in found.of("number"):
        if number.unit:
            start = clause.find(number.unit, number.end)
            end = start + len(number.unit)
            units.append(Found("unit", number.unit, start, end, number.unit, "from"))
    for m in _unit_after_preposition().finditer(clause):
        start, end = m.span(2)
        if not any(u.start <= start < u.end for u in units):
            before = (m.group(1) or "").lower()
            units.append(Found("unit", m.group(2), start, end, m.group(2) or "", before))
    return sorted(units, key=lambda u: u.start)


@cache
def _unit_after_preposition() -> LinearPattern:
    return compile_linear(r"(?i)\b(from|to|into|in)\s+(?:degrees?\s+)?([\pL°µ][\pL°µ²³/]*)")


def _assign_enums(
    fields: Sequence[str],
    kinds: Mapping[str, str],
    properties: Mapping[str, Any],
    clause: str,
) -> dict[str, Found]:
    """Enum values named in the text; fields sharing one enum split them by role."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in fields:
        if kinds[name] == "enum":
            values = _enum(_resolved(properties[name] or {}))
            groups.setdefault(tuple(repr(v) for v in values), []).append(name)
    chosen: dict[str, Found] = {}
    for names in groups.values():
        values = _enum(_resolved(properties[names[0]] or {}))
        chosen.update(_assign(names, _enum_mentions(values, clause)))
    return chosen


def _enum_mentions(values: Sequence[Any], clause: str) -> list[Found]:
    by_key = {_enum_key(str(v)): v for v in values if isinstance(v, str | int | float)}
    by_key.pop("", None)
    if not by_key:
        return []
    pattern = _enum_pattern(tuple(sorted(by_key, key=len, reverse=True)))
    mentions = []
    words = [w.lower() for w in clause.split()]
    for m in pattern.finditer(clause):
        start, end = m.span(1)
        key = _enum_key(m.group(1) or "")
        if key in by_key:
            before = _word_before(clause, start, words)
            mentions.append(Found("enum", by_key[key], start, end, m.group(1) or "", before))
    return mentions


def _word_before(clause: str, start: int, words: Sequence[str]) -> str:
    previous = [w for w in clause[:start].lower().split() if w not in ("the", "a", "an")]
    return previous[-1].strip(",.;:") if previous else ""


def _enum_key(value: str) -> str:
    return " ".join(value.lower().replace("_", " ").replace("-", " ").split())


@cache
def _enum_pattern(keys: tuple[str, ...]) -> LinearPattern:
    # Separators written as space, '_' or '-'; a trailing plural 's' allowed ('miles').
    alternatives = "|".join(r"[\s_\-]+".join(_escape(part) for part in key.split()) for key in keys)
    return compile_linear(rf"(?i)(?:^|[^\pL\pN])((?:{alternatives})(?:e?s)?)(?:$|[^\pL\pN])")


def _escape(text: str) -> str:
    return "".join(c if c.isalnum() else "\\" + c if c.isascii() else c for c in text)


def _remaining(clause: str, used: Sequence[Found], spec: ToolSpec) -> str:
    """The clause without the values other fields took and the words asking for the tool.

    "search the docs about exactly-once delivery" leaves "exactly-once delivery": a
    leading run of asking words, tool-name and description words up to 'about',
    'for', 'on' is dropped; without such a word, only the asking words are.
    """
    text = clause
    for value in sorted(used, key=lambda f: f.start, reverse=True):
        text = text[: value.start] + " " + text[value.end :]
    words = text.split()
    asking = _LEAD_WORDS | set(_name_tokens(spec.tool)) | set(_name_tokens(spec.server))
    described = asking | {w.lower().strip(",.:;!?()") for w in spec.description.split()}
    plain = [w.lower().strip(",.:;!?") for w in words]
    cut = next((i for i, w in enumerate(plain) if w in _TOPIC_WORDS), None)
    if cut is not None and all(w in described for w in plain[:cut]):
        words = words[cut + 1 :]
    while words and words[0].lower().strip(",.:;!?") in asking:
        words.pop(0)
    while words and words[-1].lower().strip(",.:;!?") in {"please", "thanks"}:
        words.pop()
    return " ".join(words).strip(" ,.;:!?")


_TOPIC_WORDS = frozenset({"about", "for", "on", "regarding", "saying"})
