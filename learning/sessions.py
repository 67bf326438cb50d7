"""What a session does next: a smoothed Markov model over intent classes, and predictable arguments.

Within a session (``context["session"]``) each intent has a class, its context key. The model
counts, per class, which class came next, which tool served that next intent's first step,
and where each of that step's arguments came from: an argument or a piece of the output of
the previous intent's last step, or a constant. Asked after an intent completes, it names the
likely next class with a smoothed probability and a confidence (a lower bound that is low
while the evidence is thin), the tool that will probably serve it, and, when every argument
of that tool had one consistent source, the arguments themselves: what pre-warming needs to
run a cacheable tool ahead of time.

Records are plain JSON dicts (one per previous class) so a changelog table can hold them;
:func:`observe` returns a new record and never mutates the one given.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from models.experiments import SessionStepCompleted
from models.tools import ToolSpec

Record = dict[str, Any]

END = "#end"
"""The class a session goes to when it ends: the model learns where sequences stop, so a
class after which sessions usually end predicts no next intent. ('#' never occurs in a
context key, see learning.state.)"""


@dataclass(frozen=True)
class SessionStep:
    """An intent of a session as the model sees it: its class and one of its steps."""

    intent_class: str
    tool: str
    arguments: Mapping[str, Any]
    output: Any = None


@dataclass(frozen=True)
class SessionModelConfig:
    """Smoothing, confidence and the pre-warm thresholds; defaults documented per field."""

    smoothing: float = 1.0
    """Pseudo-count per next class (Laplace), plus one slot for a class never seen next."""

    confidence_z: float = 1.645
    """The confidence is the one-sided 95 % Wilson lower bound of the next class's share."""

    threshold: float = 0.6
    """Pre-warm only when the confidence reaches this. 0.6 needs, for a sequence that always
    recurs, 5 observations (Wilson bound 0.65); a next class that follows only half the time
    never qualifies however often seen: at most half its pre-warms would be used, and each
    wasted one is a tool call paid for nothing."""

    min_tool_share: float = 0.6
    """The predicted class's usual tool is pre-warmed only if it served this share of it."""

    min_argument_share: float = 0.9
    """An argument is predictable when one source explained this share of its values..."""

    min_argument_observations: int = 3
    """...over at least this many observations."""

    max_constant_chars: int = 200
    """Longer constant values are not remembered (records stay small)."""


@dataclass(frozen=True)
class NextIntent:
    from_class: str
    to_class: str
    probability: float
    """Smoothed share of transitions from ``from_class`` that went to ``to_class``."""
    confidence: float
    """Lower confidence bound of that share: what thresholds compare against."""
    observations: int


@dataclass(frozen=True)
class PrewarmCall:
    """A tool to warm up: ``arguments`` None means only open its server's session."""

    tool: str
    arguments: dict[str, Any] | None


def observe(
    record: Record | None,
    previous: SessionStep,
    following: SessionStep,
    config: SessionModelConfig | None = None,
) -> Record:
    """The record of ``previous.intent_class`` after seeing ``following`` come next
    (a following step of class :data:`END`: the session ended)."""
    config = config or SessionModelConfig()
    old = record or {"n": 0, "next": {}, "tools": {}, "args": {}}
    to = following.intent_class
    new: Record = {
        "n": old["n"] + 1,
        "next": {**old["next"], to: old["next"].get(to, 0) + 1},
        "tools": dict(old["tools"]),
        "args": dict(old["args"]),
    }
    if to == END:
        return new
    tools = dict(new["tools"].get(to, {}))
    tools[following.tool] = tools.get(following.tool, 0) + 1
    new["tools"][to] = tools
    sources = _sources(previous)
    by_tool = dict(new["args"].get(to, {}))
    by_arg = dict(by_tool.get(following.tool, {}))
    for name, value in following.arguments.items():
        seen = by_arg.get(name, {"n": 0, "sources": {}})
        counts = dict(seen["sources"])
        for source in _matching(sources, value, config):
            counts[source] = counts.get(source, 0) + 1
        by_arg[name] = {"n": seen["n"] + 1, "sources": counts}
    by_tool[following.tool] = by_arg
    new["args"][to] = by_tool
    return new


def predict(
    record: Record | None, from_class: str, config: SessionModelConfig | None = None
) -> NextIntent | None:
    """The most likely next class after ``from_class``, or None when nothing was seen."""
    config = config or SessionModelConfig()
    if not record or not record["n"]:
        return None
    counts: dict[str, int] = record["next"]
    to, count = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    n = record["n"]
    slots = len(counts) + 1
    probability = (count + config.smoothing) / (n + config.smoothing * slots)
    return NextIntent(from_class, to, probability, wilson_lower(count, n, config.confidence_z), n)


def prewarm_calls(
    record: Record,
    prediction: NextIntent,
    previous: SessionStep,
    tools: Mapping[str, ToolSpec],
    config: SessionModelConfig | None = None,
) -> list[PrewarmCall]:
    """What to warm for ``prediction`` after ``previous``: nothing below the threshold.

    The usual tool of the predicted class gets its session opened; when it is cacheable and
    every argument it usually gets has one consistent source, it also gets the arguments to
    run it with ahead of time. A tool that is not cacheable is never given arguments.
    """
    config = config or SessionModelConfig()
    if prediction.confidence < config.threshold:
        return []
    used: dict[str, int] = record["tools"].get(prediction.to_class, {})
    total = sum(used.values())
    if not total:
        return []
    tool, count = max(used.items(), key=lambda kv: (kv[1], kv[0]))
    spec = tools.get(tool)
    if spec is None or count / total < config.min_tool_share:
        return []
    arguments = None
    if spec.cacheable:
        history = record["args"].get(prediction.to_class, {}).get(tool, {})
        arguments = _predicted_arguments(history, count, previous, spec, config)
    return [PrewarmCall(tool, arguments)]


def wilson_lower(successes: int, n: int, z: float) -> float:
    """Lower end of the Wilson score interval of a share ``successes / n``."""
    if n == 0:
        return 0.0
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z * z / n))


def _predicted_arguments(
    history: Mapping[str, Any],
    tool_count: int,
    previous: SessionStep,
    spec: ToolSpec,
    config: SessionModelConfig,
) -> dict[str, Any] | None:
    """Every argument the tool usually gets, from its one consistent source; else None."""
    sources = _sources(previous)
    required = set(spec.input_schema.get("required", []))
    arguments: dict[str, Any] = {}
    for name, seen in history.items():
        usual = seen["n"] >= tool_count / 2  # an argument given at least half the time
        best = max(seen["sources"].items(), key=lambda kv: (kv[1], kv[0]), default=None)
        consistent = (
            best is not None
            and seen["n"] >= config.min_argument_observations
            and best[1] / seen["n"] >= config.min_argument_share
        )
        if not consistent:
            if usual or name in required:
                return None  # the call would not match the one the intent will make
            continue
        assert best is not None
        value = _value_of(best[0], sources)
        if value is _MISSING:
            return None
        arguments[name] = value
    if required - set(arguments):
        return None
    return arguments


_MISSING = object()
_MAX_DEPTH = 4  # output paths deeper than this are not followed
_MAX_LEAVES = 64  # nor more leaves than this per step: big outputs stay cheap to index


def _sources(step: SessionStep) -> dict[str, Any]:
    """Every scalar of the step's arguments and output, by a path naming where it sits."""
    found: dict[str, Any] = {}
    for name, value in step.arguments.items():
        for path, leaf in _leaves(value, ["arguments", name]):
            found.setdefault(path, leaf)
    for path, leaf in _leaves(step.output, ["output"]):
        if len(found) >= _MAX_LEAVES:
            break
        found.setdefault(path, leaf)
    return found


def _leaves(value: Any, path: list[str | int], depth: int = 0) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and depth < _MAX_DEPTH:
        for key, inner in value.items():
            yield from _leaves(inner, [*path, str(key)], depth + 1)
    elif isinstance(value, list) and depth < _MAX_DEPTH:
        for i, inner in enumerate(value[:_MAX_LEAVES]):
            yield from _leaves(inner, [*path, i], depth + 1)
    elif isinstance(value, str | int | float | bool) or value is None:
        yield json.dumps(path), value


def _matching(sources: Mapping[str, Any], value: Any, config: SessionModelConfig) -> list[str]:
    matched = [path for path, leaf in sources.items() if _same(leaf, value)]
    constant = json.dumps(value, sort_keys=True, default=str)
    if len(constant) <= config.max_constant_chars:
        matched.append("const:" + constant)
    return matched


def _same(a: Any, b: Any) -> bool:
    # True == 1 in Python; an argument's type is part of its cache key, so not here.
    return type(a) is type(b) and bool(a == b)


def _value_of(source: str, sources: Mapping[str, Any]) -> Any:
    if source.startswith("const:"):
        return json.loads(source.removeprefix("const:"))
    return sources.get(source, _MISSING)


@dataclass(frozen=True)
class Advance:
    """What one completed session step changes."""

    session: Record
    model_class: str | None
    """The class whose model record changed (the session's previous one), if any."""
    model: Record | None
    prediction: NextIntent | None
    calls: list[PrewarmCall]
    counts: dict[str, int]


# Intent ids a session remembers to recognise a redelivered step; steps arrive in order per
# session, so a redelivery is among the latest few.
_REMEMBERED_INTENTS = 16


def advance(
    session: Record | None,
    step: SessionStepCompleted,
    model_of: Callable[[str], Record | None],
    tools: Mapping[str, ToolSpec],
    config: SessionModelConfig | None = None,
) -> Advance | None:
    """Learn the transition into ``step``, score the last prediction, predict the next one.

    ``model_of(class)`` reads the model record of a class. None when the step was seen already.
    """
    config = config or SessionModelConfig()
    old = session or {"intents": [], "last": None, "predicted": None, "prewarmed": []}
    if step.intent_id in old["intents"]:
        return None
    if old.get("ended"):  # back after the idle time: a new sequence of the same session
        old = {**old, "last": None, "predicted": None, "prewarmed": []}
    counts = {"steps": 1}
    model_class, model = None, None
    first = SessionStep(step.intent_class, step.first_tool, step.first_arguments)
    if old["last"] is not None:
        last = old["last"]
        previous = SessionStep(last["class"], last["tool"], last["arguments"], last["output"])
        model_class = previous.intent_class
        model = observe(model_of(model_class), previous, first, config)
        counts["transitions"] = 1
        if old["predicted"] == step.intent_class:
            counts["correct"] = 1
        warmed = {_call_key(c["tool"], c["arguments"]) for c in old["prewarmed"]}
        if step.first_cached and _call_key(step.first_tool, step.first_arguments) in warmed:
            counts["prewarm_hits"] = 1
    here = SessionStep(step.intent_class, step.last_tool, step.last_arguments, step.last_output)
    record = model if model_class == step.intent_class else model_of(step.intent_class)
    prediction = predict(record, step.intent_class, config)
    calls: list[PrewarmCall] = []
    if prediction is not None and record is not None and step.ok:
        calls = prewarm_calls(record, prediction, here, tools, config)
    if calls:
        counts["predictions"] = 1
        counts["prewarm_calls"] = sum(c.arguments is not None for c in calls)
        counts["sessions_warmed"] = sum(c.arguments is None for c in calls)
    new_session = {
        "intents": [*old["intents"], step.intent_id][-_REMEMBERED_INTENTS:],
        "last": {
            "class": here.intent_class,
            "tool": here.tool,
            "arguments": dict(here.arguments),
            "output": here.output,
        },
        "predicted": prediction.to_class if calls and prediction is not None else None,
        "prewarmed": [
            {"tool": c.tool, "arguments": c.arguments} for c in calls if c.arguments is not None
        ],
    }
    return Advance(new_session, model_class, model, prediction, calls, counts)


def end_session(
    session: Record,
    model_of: Callable[[str], Record | None],
    config: SessionModelConfig | None = None,
) -> Advance | None:
    """The session has been idle long enough to have ended: its last class led to :data:`END`.

    None when it has no last intent or was ended already."""
    last = session.get("last")
    if last is None or session.get("ended"):
        return None
    previous = SessionStep(last["class"], last["tool"], last["arguments"], last["output"])
    model = observe(model_of(previous.intent_class), previous, SessionStep(END, "", {}), config)
    ended = {**session, "ended": True, "last": None, "predicted": None, "prewarmed": []}
    return Advance(ended, previous.intent_class, model, None, [], {"ends": 1})


def with_counts(record: Record | None, counts: Mapping[str, int | float]) -> Record:
    """A statistics record with ``counts`` added (a new dict)."""
    total = dict(record or {})
    for name, value in counts.items():
        total[name] = total.get(name, 0) + value
    return total


def _call_key(tool: str, arguments: Mapping[str, Any] | None) -> str:
    return json.dumps([tool, arguments], sort_keys=True, default=str)
