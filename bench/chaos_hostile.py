"""Hostile records for the intents topic, drawn by ``hypothesis`` strategies from a fixed seed.

Each kind of hostility has a strategy that draws a *recipe* (a small value: a dict shaped like
an intent with hostile fields, a depth, a size, a digit count); ``build`` expands the recipe
into the record's bytes. So hypothesis explores the shapes broadly while megabyte values and
100,000-deep nesting are made by plain code, not drawn byte by byte. Hypothesis runs each
strategy under ``@given`` with ``@seed``, generation only (no shrinking, no database): the
same seed gives the same records.

Every record gets a unique key, and every intent id it carries is made unique from that key
(so two records never share an answer by accident); what varies is the id's *shape* (near the
200-character limit, over it, empty, not a string, odd Unicode).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from models.ids import MAX_ID_LENGTH

# Names the hostile intents may ask for: the harness's tools (tools-chaos.toml) and some that
# do not exist. testing.sleep is left out: a valid sleep of 600 s is slow, not hostile.
TOOL_NAMES = (
    "simulated.instant",
    "calculator.evaluate",
    "units.convert",
    "testing.echo",
    "testing.nope",
    "nope",
    "",
    "calculator.evaluate" + "x" * 500,
)
NON_FINITE = ("1e400", "-1e400", "Infinity", "-Infinity", "NaN", "1e999999", "-0e99999")

# Share of each kind in a run (they sum to 1). Oversized values are few: each costs the broker
# megabytes, and one is as telling as a thousand.
KINDS: dict[str, float] = {
    "schema": 0.30,
    "valid_named": 0.10,
    "planned_text": 0.08,
    "raw": 0.08,
    "wrong_type": 0.05,
    "deep": 0.07,
    "non_finite": 0.08,
    "big_int": 0.02,
    "long_ids": 0.08,
    "slow_regex": 0.08,
    "many_steps": 0.04,
    "sizes": 0.0185,
    "oversized": 0.0015,
}


@dataclass(frozen=True)
class Hostile:
    kind: str
    key: bytes | None
    value: bytes | None
    # The id an answer would name: the value's intent_id when it is a usable one, else the key
    # (the README: every intent topic is keyed by intent id); None when neither can be.
    intent_id: str | None


def _json_leaf() -> st.SearchStrategy[Any]:
    return st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)


def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    return st.recursive(
        _json_leaf(),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner),
        max_leaves=max_leaves,
    )


# "plain" thrice: most records carry an ordinary id, so what fails is the rest of the record.
_ID_SHAPES = st.sampled_from(
    [
        *("plain", "plain", "plain"),
        *("near_limit", "at_limit", "over_limit", "empty", "unicode", "int", "null", "list"),
        "absent",
    ]
)
_KEY_SHAPES = st.sampled_from(["same"] * 12 + ["none", "long", "binary"])

_policy = st.fixed_dictionaries(
    {},
    optional={
        # Valid policies are kept short (backoff at most 2 s): a slow intent is not hostile.
        "timeout_s": st.floats(1e-6, 5) | st.sampled_from([0, -1, 1e9]),
        "max_attempts": st.integers(-3, 25),
        "initial_backoff_s": st.floats(0, 2) | st.just(-1.0),
        "multiplier": st.floats(0.5, 3) | st.sampled_from([1e300, 101.0]),
        "max_backoff_s": st.floats(0, 2) | st.just(1e6),
        "jitter": st.booleans(),  # not a field: the policy forbids extras
    },
)
_text = st.text(min_size=0, max_size=300) | st.sampled_from(
    ["calculate 2 + 2", "convert 5 km to miles", "instant answer", " ", "\x00", "\u202e" * 8]
)
_schema_fields = st.fixed_dictionaries(
    {"id_shape": _ID_SHAPES, "key_shape": _KEY_SHAPES},
    optional={
        "text": _text | json_values(5),
        "tool": st.sampled_from(TOOL_NAMES) | st.text(max_size=30) | json_values(3),
        "arguments": st.dictionaries(st.text(max_size=10), json_values(10)) | json_values(5),
        "context": st.dictionaries(st.text(max_size=10), st.text(max_size=20) | json_values(3)),
        "max_cost": st.floats(allow_nan=False, allow_infinity=False) | json_values(2),
        "policy": _policy | json_values(3),
        "schema_version": st.integers(-2, 3) | json_values(1),
        "occurred_at": st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
        "event_id": st.text(max_size=250) | json_values(1),
        "type": st.sampled_from(["IntentSubmitted", "PlanCreated", "intent", ""]),
        "extra": json_values(5),
    },
)
_valid_named = st.fixed_dictionaries(
    {
        "id_shape": st.sampled_from(["plain", "near_limit", "at_limit"]),
        "key_shape": st.just("same"),
        "text": st.text(min_size=1, max_size=200),
        "tool": st.sampled_from(TOOL_NAMES[:4]),
        "arguments": st.fixed_dictionaries(
            {},
            optional={
                "query": st.text(max_size=100) | json_values(3),
                "expression": st.text(max_size=60)
                | st.sampled_from(["9**9**9", "2**4096", "1/0", "(" * 300 + "1" + ")" * 300]),
                "value": st.floats() | st.integers(),
                "from_unit": st.text(max_size=8),
                "to_unit": st.text(max_size=8),
                "text": st.text(max_size=200),
                "data": json_values(10),
            },
        ),
    },
    optional={"policy": _policy, "context": st.dictionaries(st.text(max_size=8), st.text())},
)
_planned_text = st.fixed_dictionaries(
    {
        "id_shape": st.just("plain"),
        "key_shape": st.just("same"),
        "text": st.text(min_size=1, max_size=2000)
        | st.builds(
            lambda verb, body: f"{verb} {body}",
            st.sampled_from(["calculate", "convert", "instant", "echo", "compute", "search"]),
            st.text(max_size=300),
        ),
    },
    optional={"context": st.dictionaries(st.text(max_size=8), st.text(max_size=30))},
)

STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "schema": _schema_fields,
    "valid_named": _valid_named,
    "planned_text": _planned_text,
    "raw": st.binary(max_size=3000) | st.text(max_size=500).map(str.encode) | st.none(),
    "wrong_type": st.sampled_from(["PlanCreated", "ToolCallRequested", "IntentCompleted"])
    | json_values(8),
    "deep": st.tuples(
        st.integers(33, 50_000), st.sampled_from(["list", "dict", "mixed"]), st.booleans()
    ),
    "non_finite": st.tuples(
        st.sampled_from(NON_FINITE),
        st.sampled_from(["max_cost", "arguments", "policy", "nested", "occurred_at"]),
    ),
    "big_int": st.tuples(st.integers(300, 20_000), st.sampled_from(["max_cost", "arguments"])),
    "long_ids": st.tuples(
        st.integers(150, 260) | st.integers(1_000, 20_000),
        st.sampled_from(["simulated.instant", "testing.echo", None]),
    ),
    "slow_regex": st.tuples(
        st.sampled_from(["calculate", "convert", "compute", "", "what is"]),
        st.sampled_from(["1", "12", "1 ", "1.", "(1", "1+", "-1", "1e", "9^", " km "]),
        st.integers(20, 6_000),
        st.sampled_from(["", " to miles", " km to", "=", "?", "x"]),
    ),
    "many_steps": st.tuples(
        st.integers(10, 3_000), st.sampled_from([" and ", " then ", "; ", " and then "])
    ),
    # Just past each limit: text 20,000 characters, arguments 256 KiB (Settings).
    "sizes": st.tuples(
        st.sampled_from(["text", "arguments", "context", "padding"]),
        st.integers(1, 100_000),
    ),
    "oversized": st.integers(1_000_001, 7_500_000),
}


def generate(total: int, seed_value: int, stem: str) -> list[Hostile]:
    """``total`` hostile records in the proportions of ``KINDS``, the same for the same seed."""
    records: list[Hostile] = []
    for kind, share in KINDS.items():
        wanted = max(1, round(total * share))
        recipes = draw(STRATEGIES[kind], wanted, seed_value)
        for recipe in recipes:
            n = len(records)
            records.append(build(kind, recipe, f"{stem}-{n}"))
    return records[:total]


def draw(strategy: st.SearchStrategy[Any], count: int, seed_value: int) -> list[Any]:
    """``count`` examples of ``strategy`` from hypothesis, generation only and seeded; cycled
    when the strategy has fewer distinct examples than that."""
    found: list[Any] = []

    @seed(seed_value)
    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: Any) -> None:
        found.append(example)

    collect()
    if not found:
        raise RuntimeError(f"hypothesis drew no example of {strategy!r}")
    return [found[i % len(found)] for i in range(count)]


def _intent_id(shape: str, key: str) -> Any:
    match shape:
        case "near_limit":
            return (key + "-" + "n" * MAX_ID_LENGTH)[: MAX_ID_LENGTH - 3]
        case "at_limit":
            return (key + "-" + "l" * MAX_ID_LENGTH)[:MAX_ID_LENGTH]
        case "over_limit":
            return key + "-" + "o" * MAX_ID_LENGTH
        case "empty":
            return ""
        case "unicode":
            return key + "-\u202e\u0301\U0001f600\ud800"
        case "int":
            return 12345
        case "null":
            return None
        case "list":
            return [key]
        case _:
            return key


def _key(shape: str, key: str) -> bytes | None:
    match shape:
        case "none":
            return None
        case "long":
            return (key + "-" + "k" * 5_000).encode()
        case "binary":
            return b"\xff\xfe\x00" + key.encode()
        case _:
            return key.encode()


def answer_id(value: Any, key: bytes | None) -> str | None:
    """Whom an answer names: a usable ``intent_id`` in the value, else a usable key."""
    found = value.get("intent_id") if isinstance(value, dict) else None
    if isinstance(found, str) and _usable(found):
        return found
    text = key.decode("utf-8", "replace") if key else ""
    return text if _usable(text) else None


def _usable(intent_id: str) -> bool:
    """1-200 characters that encode (a lone surrogate cannot be carried by any event)."""
    try:
        intent_id.encode()
    except UnicodeEncodeError:
        return False
    return 0 < len(intent_id) <= MAX_ID_LENGTH


def _dumps(value: Any) -> bytes:
    # allow_nan: hypothesis' floats include inf and nan, written as JSON has no word for them.
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


def build(kind: str, recipe: Any, key: str) -> Hostile:
    """The record a recipe stands for, keyed ``key``."""
    builder = _BUILDERS[kind]
    return builder(recipe, key)


def _from_fields(kind: str) -> Callable[[Any, str], Hostile]:
    def made(fields: dict[str, Any], key: str) -> Hostile:
        fields = dict(fields)
        record_key = _key(fields.pop("key_shape"), key)
        shape = fields.pop("id_shape")
        if shape != "absent":
            fields = {"intent_id": _intent_id(shape, key), **fields}
        value = _dumps(fields)
        return Hostile(kind, record_key, value, answer_id(fields, record_key))

    return made


def _raw(recipe: bytes | None, key: str) -> Hostile:
    return Hostile("raw", key.encode(), recipe, key)


def _wrong_type(recipe: Any, key: str) -> Hostile:
    if isinstance(recipe, str):
        value: Any = {"intent_id": key, "type": recipe, "text": "x"}
    else:
        value = recipe
    return Hostile("wrong_type", key.encode(), _dumps(value), answer_id(value, key.encode()))


def _deep(recipe: tuple[int, str, bool], key: str) -> Hostile:
    depth, shape, inside = recipe
    opener, closer = {"list": ("[", "]"), "dict": ('{"a":', "}"), "mixed": ('[{"a":', "}]")}[shape]
    if shape == "mixed":
        depth = max(1, depth // 2)
    nested = opener * depth + "1" + closer * depth
    if inside:
        text = f'{{"intent_id": "{key}", "text": "deep", "arguments": {{"x": {nested}}}}}'
        return Hostile("deep", key.encode(), text.encode(), key)
    return Hostile("deep", key.encode(), nested.encode(), key)


def _non_finite(recipe: tuple[str, str], key: str) -> Hostile:
    number, where = recipe
    body = {
        "max_cost": f'"text": "x", "max_cost": {number}',
        "arguments": f'"text": "x", "tool": "testing.echo", '
        f'"arguments": {{"data": {{"n": {number}}}}}',
        "policy": f'"text": "x", "policy": {{"timeout_s": {number}}}',
        "nested": f'"text": "x", "arguments": {{"a": [1, [2, {{"b": [{number}]}}]]}}',
        "occurred_at": f'"text": "x", "occurred_at": {number}',
    }[where]
    return Hostile("non_finite", key.encode(), f'{{"intent_id": "{key}", {body}}}'.encode(), key)


def _big_int(recipe: tuple[int, str], key: str) -> Hostile:
    digits, where = recipe
    number = "9" * digits
    body = (
        f'"max_cost": {number}'
        if where == "max_cost"
        else f'"tool": "testing.echo", "arguments": {{"data": {{"n": {number}}}}}'
    )
    value = f'{{"intent_id": "{key}", "text": "x", {body}}}'
    return Hostile("big_int", key.encode(), value.encode(), key)


def _long_ids(recipe: tuple[int, str | None], key: str) -> Hostile:
    length, tool = recipe
    intent_id = (key + "-" + "i" * length)[:length] if length >= len(key) else key
    value: dict[str, Any] = {"intent_id": intent_id, "text": "instant answer"}
    if tool == "simulated.instant":
        value |= {"tool": tool, "arguments": {"query": "q"}}
    elif tool == "testing.echo":
        value |= {"tool": tool, "arguments": {"text": "t"}}
    return Hostile("long_ids", key.encode(), _dumps(value), answer_id(value, key.encode()))


def _slow_regex(recipe: tuple[str, str, int, str], key: str) -> Hostile:
    verb, unit, repeat, tail = recipe
    text = (verb + " " + unit * max(1, repeat // len(unit)) + tail)[:20_000]
    value = {"intent_id": key, "text": text}
    return Hostile("slow_regex", key.encode(), _dumps(value), key)


def _many_steps(recipe: tuple[int, str], key: str) -> Hostile:
    count, joiner = recipe
    text = joiner.join(f"add {n}" for n in range(count))[:20_000]
    value = {"intent_id": key, "text": text}
    return Hostile("many_steps", key.encode(), _dumps(value), key)


def _sizes(recipe: tuple[str, int], key: str) -> Hostile:
    where, extra = recipe
    blob = "b" * ((262_144 if where == "arguments" else 20_000) + extra)
    value: dict[str, Any] = {"intent_id": key, "text": "x"}
    if where == "text":
        value["text"] = blob
    elif where == "arguments":
        value |= {"tool": "testing.echo", "arguments": {"text": blob}}
    elif where == "context":
        value["context"] = {"tenant": blob}
    else:
        value["padding"] = blob
    return Hostile("sizes", key.encode(), _dumps(value), key)


def _oversized(size: int, key: str) -> Hostile:
    value = {"intent_id": key, "text": "x", "arguments": {"blob": "a" * size}}
    return Hostile("oversized", key.encode(), _dumps(value), key)


_BUILDERS: dict[str, Callable[[Any, str], Hostile]] = {
    "schema": _from_fields("schema"),
    "valid_named": _from_fields("valid_named"),
    "planned_text": _from_fields("planned_text"),
    "raw": _raw,
    "wrong_type": _wrong_type,
    "deep": _deep,
    "non_finite": _non_finite,
    "big_int": _big_int,
    "long_ids": _long_ids,
    "slow_regex": _slow_regex,
    "many_steps": _many_steps,
    "sizes": _sizes,
    "oversized": _oversized,
}
assert set(_BUILDERS) == set(KINDS) == set(STRATEGIES)
assert math.isclose(sum(KINDS.values()), 1.0)
