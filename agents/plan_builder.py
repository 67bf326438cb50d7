"""The built-in planner: intent text and arguments to plan steps, no LLM needed.

A plan is one step per clause of the intent ("convert 5 km to miles and
compute 2*21" is two). For each clause the ranker orders the registered
tools; the first whose required arguments can be filled (from the intent's
arguments, the tool's declared regex patterns, or the clause text for a tool
with a single free-text argument) is chosen, and the next ones that can be
filled become its fallbacks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from models import (
    Fallback,
    IntentSubmitted,
    PlanCreated,
    PlanStep,
    RetryPolicy,
    ToolCallRequested,
    ToolSpec,
)
from models.ids import derived_id
from tools import patterns


class PlanningError(Exception):
    """The intent cannot be planned; ``kind`` says why (unknown_tool, no_tool)."""

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"{kind}: {reason}")


@dataclass(frozen=True)
class Candidate:
    spec: ToolSpec
    score: float
    probability: float | None = None
    explanation: str = ""


Ranker = Callable[[str, Mapping[str, str], Sequence[ToolSpec]], list[Candidate]]

# (?<!\s): a separator's match starts where its whitespace starts, never inside it; without it a
# long run of spaces was scanned again from each of its positions (20,000 spaces: 60 s).
_CLAUSE_SPLIT = re.compile(
    r"(?<!\s)\s*(?:;|\band then\b|\bthen\b|\band also\b|\band\b)\s*", re.IGNORECASE
)
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an and the of to in into for on with what is are me please how much many".split()
)


def clauses(text: str) -> list[str]:
    """The requests an intent's text makes, one per step ("convert ... and then calculate ...")."""
    return [c for c in _CLAUSE_SPLIT.split(text) if c.strip()]


def plan_steps(
    intent: IntentSubmitted,
    tools: Mapping[str, ToolSpec],
    rank: Ranker,
    default_policy: RetryPolicy,
    max_fallbacks: int = 2,
    max_steps: int = 16,
) -> list[PlanStep]:
    policy = intent.policy or default_policy
    if intent.tool is not None:
        if intent.tool not in tools:
            known = ", ".join(sorted(tools)) or "none"
            raise PlanningError(
                "unknown_tool", f"unknown tool {intent.tool!r}; registered: {known}"
            )
        return [_step(intent, 0, intent.tool, dict(intent.arguments), [], policy, None)]
    requests = clauses(intent.text)
    if len(requests) > max_steps:
        # One 20 KB intent became 1,111 tool calls, each carrying the whole text.
        raise PlanningError(
            "too_many_steps",
            f"the intent makes {len(requests)} requests; at most {max_steps} are planned "
            "from one intent: send them as separate intents",
        )
    if len(requests) > 1:
        steps = _plan_clauses(intent, requests, tools, rank, policy, max_fallbacks)
        if steps is not None:
            return steps
    steps = _plan_clauses(intent, [intent.text], tools, rank, policy, max_fallbacks)
    if steps is None:
        raise PlanningError("no_tool", f"no registered tool can serve {intent.text[:200]!r}")
    return steps


def _plan_clauses(
    intent: IntentSubmitted,
    clauses: Sequence[str],
    tools: Mapping[str, ToolSpec],
    rank: Ranker,
    policy: RetryPolicy,
    max_fallbacks: int,
) -> list[PlanStep] | None:
    steps = []
    for index, clause in enumerate(clauses):
        fillable = []
        for candidate in rank(clause, intent.context, list(tools.values())):
            arguments = fill_arguments(candidate.spec, clause, intent.arguments)
            if arguments is not None:
                fillable.append((candidate, arguments))
            if len(fillable) > max_fallbacks:
                break
        if not fillable:
            return None
        (chosen, arguments), rest = fillable[0], fillable[1:]
        fallbacks = [Fallback(tool=c.spec.name, arguments=a) for c, a in rest]
        steps.append(
            _step(intent, index, chosen.spec.name, arguments, fallbacks, policy, chosen.probability)
        )
    return steps


def tool_call_requests(plan: PlanCreated) -> list[ToolCallRequested]:
    """One request per step, with ids derived from the step so re-sends are recognisable."""
    return [
        ToolCallRequested(
            event_id=derived_id("call", step.step_id),
            intent_id=plan.intent_id,
            call_id=step.step_id,
            step=step,
            context_key=plan.context_key,
            strategy=plan.strategy,
            intent_text=plan.intent_text,
        )
        for step in plan.steps
    ]


def _step(
    intent: IntentSubmitted,
    index: int,
    tool: str,
    arguments: dict[str, Any],
    fallbacks: list[Fallback],
    policy: RetryPolicy,
    probability: float | None,
) -> PlanStep:
    return PlanStep(
        step_id=derived_id(intent.intent_id, str(index)),
        index=index,
        tool=tool,
        arguments=arguments,
        policy=policy,
        fallbacks=fallbacks,
        choice_probability=probability,
    )


def fill_arguments(spec: ToolSpec, clause: str, given: Mapping[str, Any]) -> dict[str, Any] | None:
    """The tool's arguments for this clause, or None when a required one is missing."""
    properties: dict[str, Any] = spec.input_schema.get("properties", {})
    required: list[str] = spec.input_schema.get("required", [])
    arguments = {k: v for k, v in given.items() if k in properties}
    for pattern in spec.patterns:
        groups = patterns.search(pattern, clause)
        if groups is not None:
            found = {k: v.strip() for k, v in groups.items() if v and k in properties}
            arguments = {**found, **arguments}
            break
    missing = [name for name in required if name not in arguments]
    if missing and not spec.patterns and _free_text(properties, missing):
        arguments[missing[0]] = clause.strip()
        missing = []
    if missing:
        return None
    try:
        return {k: _coerce(v, properties.get(k, {})) for k, v in arguments.items()}
    except ValueError:
        return None


def _free_text(properties: Mapping[str, Any], missing: Sequence[str]) -> bool:
    return len(missing) == 1 and properties.get(missing[0], {}).get("type") == "string"


def _coerce(value: Any, schema: Mapping[str, Any]) -> Any:
    if not isinstance(value, str):
        return value
    kind = schema.get("type")
    if kind == "number":
        return float(value)
    if kind == "integer":
        return int(value)
    if kind == "boolean":
        return value.lower() in ("1", "true", "yes")
    return value


def keyword_ranker(
    text: str, context: Mapping[str, str], specs: Sequence[ToolSpec]
) -> list[Candidate]:
    """Rank by words shared with the tool's name, description and keywords.

    The simple default; the learning engine's recommender replaces it.
    A declared pattern that matches the text counts as strong evidence.
    """
    words = _words(text)
    ranked = []
    for spec in specs:
        vocabulary = _words(
            " ".join([spec.name.replace(".", " "), spec.description, *spec.keywords])
        )
        overlap = len(words & vocabulary) / (1 + len(words))
        pattern_hit = any(patterns.search(p, text) is not None for p in spec.patterns)
        score = overlap + (1.0 if pattern_hit else 0.0)
        if score > 0:
            ranked.append(Candidate(spec=spec, score=score))
    ranked.sort(key=lambda c: (-c.score, c.spec.name))
    return ranked


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}
