"""The built-in planner: intent text and arguments to plan steps, no LLM needed.

A plan is one step per clause of the intent ("convert 5 km to miles and
compute 2*21" is two). For each clause the ranker orders the registered
tools, and a tool is planned only if all of these hold:

1. it is relevant: its relevance is at least ``relevance_ratio`` of the best
   candidate's (the same bar for the first choice and every fallback);
2. it is allowed: the intent names it, or its MCP annotations or its config
   let the planner choose it (``agents/tool_policy.py``);
3. its required arguments are filled and valid (``agents/argument_filling.py``).

The first tool that passes is the step's tool, the next ones (at most
``max_fallbacks``) its fallbacks. When no tool passes, the error says why:
``missing_arguments`` names the best relevant, allowed tool and the fields it
lacks, so the agent can resend with ``arguments``; ``no_tool`` lists what each
candidate lacked. ``explain_plan`` returns the same decisions with every
candidate's verdict, for ``toolwise plan``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from agents.argument_filling import Filled, describe_missing, fill_arguments
from agents.argument_values import extract
from agents.tool_policy import NAMED, SelectionPolicy, selection_permission
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
from tools.content import content_arguments
from tools.patterns import compile_linear, linear_or_none


class PlanningError(Exception):
    """The intent cannot be planned; ``kind`` says why.

    unknown_tool: the intent names a tool nobody registered; missing_arguments:
    the relevant tools need arguments the intent does not give (``missing``
    maps each such tool to its missing fields); not_allowed: the most relevant
    tool may only run when the intent names it; no_tool: nothing relevant and
    allowed can serve it.
    """

    def __init__(
        self, kind: str, reason: str, missing: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        self.kind = kind
        self.reason = reason
        self.missing = {tool: list(fields) for tool, fields in (missing or {}).items()}
        super().__init__(f"{kind}: {reason}")


@dataclass(frozen=True)
class Candidate:
    """One ranked tool. ``relevance`` is its fit to the text on a scale where the best
    candidate has 1 (None: the planner uses ``score`` relative to the best score)."""

    spec: ToolSpec
    score: float
    probability: float | None = None
    explanation: str = ""
    relevance: float | None = None


Ranker = Callable[[str, Mapping[str, str], Sequence[ToolSpec]], list[Candidate]]


@dataclass(frozen=True)
class PlannerPolicy:
    """How far down the ranking the planner goes, and what a tool must be to be planned."""

    relevance_ratio: float = 0.6
    """A tool is relevant when its relevance is at least this share of the best
    candidate's. Tuned on ``python -m bench.planning`` (README): at 0.5 more
    unrelated fallbacks and wrong plans (decision accuracy 88.5 % against 89.7 %),
    at 0.7 and above the same decisions but more missing_arguments answers for
    intents no tool serves (precision 81 % and less against 85 %)."""
    max_fallbacks: int = 2
    """Tools tried after the first fails for good; each costs a call and its latency."""
    selection: SelectionPolicy = field(default_factory=SelectionPolicy)


@dataclass(frozen=True)
class Considered:
    """The planner's verdict on one candidate of one clause."""

    tool: str
    verdict: str  # chosen | fallback | rejected | not allowed | not considered
    reason: str
    relevance: float
    score: float
    probability: float | None
    arguments: dict[str, Any]
    sources: dict[str, str]
    missing: tuple[str, ...] = ()
    covered: int = 0


@dataclass(frozen=True)
class ClauseDecision:
    clause: str
    considered: tuple[Considered, ...]
    step: PlanStep | None


@dataclass(frozen=True)
class PlanExplanation:
    """``explain_plan``'s answer: the steps, or the error, and every verdict behind them."""

    steps: list[PlanStep] | None
    error: PlanningError | None
    clauses: list[ClauseDecision]


# 'then' and ';' always end a clause; 'and' only when splitting serves the intent better.
_STRONG_SEPARATOR = r"(?i)\s*(?:;|\band then\b|\bthen\b|\band also\b)\s*"
_WEAK_SEPARATOR = r"(?i)\s*\band\b\s*"
_ANY_SEPARATOR = r"(?i)\s*(?:;|\band then\b|\bthen\b|\band also\b|\band\b)\s*"
# Joined runs of clauses are embedded ahead of ranking only for intents of at most this
# many clauses: each costs an embedding (~10 ms), most intents have one to three.
PRE_EMBED_JOINED = 4
# At most this many pieces are joined into one clause ("add 2 and 3" is two pieces).
MAX_JOINED = 3
_WORD = r"[a-z0-9]+"
_STOP = frozenset(
    "a an and the of to in into for on with what is are me please how much many".split()
)


def plan_steps(
    intent: IntentSubmitted,
    tools: Mapping[str, ToolSpec],
    rank: Ranker,
    default_policy: RetryPolicy,
    policy: PlannerPolicy | None = None,
    max_steps: int = 16,
) -> list[PlanStep]:
    """The plan's steps; raises PlanningError when the intent cannot be planned."""
    explained = explain_plan(intent, tools, rank, default_policy, policy, max_steps)
    if explained.error is not None:
        raise explained.error
    assert explained.steps is not None
    return explained.steps


def explain_plan(
    intent: IntentSubmitted,
    tools: Mapping[str, ToolSpec],
    rank: Ranker,
    default_policy: RetryPolicy,
    policy: PlannerPolicy | None = None,
    max_steps: int = 16,
) -> PlanExplanation:
    """The plan and the verdict on every candidate, without raising.

    An intent making more than ``max_steps`` requests is refused before any ranking.
    """
    policy = policy or PlannerPolicy()
    retry = intent.policy or default_policy
    # The intent's own submission date resolves 'tomorrow': a replay plans the same.
    today = datetime.fromtimestamp(intent.occurred_at, UTC).date()
    if intent.tool is not None:
        return _named(intent, tools, retry, today)
    requests = clauses(intent.text)
    if len(requests) > max_steps:
        # One 20 KB intent became 1,111 tool calls, each carrying the whole text.
        error = PlanningError(
            "too_many_steps",
            f"the intent makes {len(requests)} requests; at most {max_steps} are planned "
            "from one intent: send them as separate intents",
        )
        return PlanExplanation(None, error, [])
    context = _Context(intent, tools, rank, retry, policy, today, max_steps)
    segments = _pieces(intent.text, _STRONG_SEPARATOR)
    if len(segments) > 1:
        planned = [_segment(context, intent.text[a:b])[0] for a, b in segments]
        if all(p is not None for p in planned):
            decisions = [d for p in planned if p is not None for d in p]
            return PlanExplanation(_numbered(intent, decisions), None, decisions)
    served, whole = _segment(context, intent.text)
    if served is not None:
        return PlanExplanation(_numbered(intent, served), None, served)
    return PlanExplanation(None, _failure(intent.text, whole), [whole])


@dataclass(frozen=True)
class _Context:
    intent: IntentSubmitted
    tools: Mapping[str, ToolSpec]
    rank: Ranker
    retry: RetryPolicy
    policy: PlannerPolicy
    today: date
    max_steps: int
    decided: dict[str, ClauseDecision] = field(default_factory=dict)


def _segment(context: _Context, text: str) -> tuple[list[ClauseDecision] | None, ClauseDecision]:
    """The decisions for text between strong separators ('then', ';') or None, and the
    decision on the text as one clause (for the error when nothing serves it).

    An 'and' splits it only when the clauses' tools use more of the intent than one
    tool would: "add 2 and 40" is one sum, "convert 5 km to mi and calculate 2*3" two.
    """
    whole = _decide(context, text)
    split = _split(context, text)
    if split is not None and (whole.step is None or _uses(split) > _uses([whole])):
        return split, whole
    return ([whole] if whole.step is not None else None), whole


def _split(context: _Context, text: str) -> list[ClauseDecision] | None:
    """One decision per 'and'-separated clause, or None when there is one or one fails."""
    pieces = _pieces(text, _WEAK_SEPARATOR)
    if not 1 < len(pieces) <= context.max_steps:
        return None
    decisions: list[ClauseDecision] = []
    # Joined runs only for short intents: ranked_texts embeds nothing more beforehand,
    # and the model must not run on the event loop.
    joins = MAX_JOINED if len(pieces) <= PRE_EMBED_JOINED else 1
    start = 0
    while start < len(pieces):
        # The shortest run of pieces that a tool can serve is the next clause.
        for end in range(start, min(start + joins, len(pieces))):
            decision = _decide(context, text[pieces[start][0] : pieces[end][1]])
            if decision.step is not None:
                decisions.append(decision)
                start = end + 1
                break
        else:
            return None
    return decisions


def _uses(decisions: Sequence[ClauseDecision]) -> int:
    """Values of the intent the chosen tools use, over all clauses."""
    return sum(c.covered for d in decisions for c in d.considered if c.verdict == "chosen")


def _numbered(intent: IntentSubmitted, decisions: Sequence[ClauseDecision]) -> list[PlanStep]:
    steps = [d.step for d in decisions if d.step is not None]
    return [
        step.model_copy(update={"index": i, "step_id": derived_id(intent.intent_id, str(i))})
        for i, step in enumerate(steps)
    ]


def clauses(text: str) -> list[str]:
    """The requests an intent's text makes, split at every separator ('and' included):
    at most this many steps come from it."""
    return [text[a:b] for a, b in _pieces(text, _ANY_SEPARATOR)]


def ranked_texts(text: str) -> list[str]:
    """The texts the planner ranks for this intent, bar rare joins: the whole text, its
    clauses, and for short intents the runs of clauses joined by 'and'. Embedding them
    beforehand (in a thread) leaves the ranking cache hits."""
    texts = [text]
    for a, b in _pieces(text, _STRONG_SEPARATOR):
        segment = text[a:b]
        texts.append(segment)
        pieces = _pieces(segment, _WEAK_SEPARATOR)
        joins = MAX_JOINED if len(pieces) <= PRE_EMBED_JOINED else 1
        for start in range(len(pieces)):
            for end in range(start, min(start + joins, len(pieces))):
                texts.append(segment[pieces[start][0] : pieces[end][1]])
    return list(dict.fromkeys(texts))


def _given(spec: ToolSpec, intent: IntentSubmitted) -> dict[str, Any]:
    """The intent's arguments, and its content parts for the tool's arguments that take them."""
    return {**content_arguments(spec.input_schema, intent.content), **intent.arguments}


def _pieces(text: str, separator: str) -> list[tuple[int, int]]:
    """(start, end) of the text between separators, empty pieces left out."""
    pieces, at = [], 0
    for found in compile_linear(separator).finditer(text):
        pieces.append((at, found.start()))
        at = found.end()
    pieces.append((at, len(text)))
    return [(a, b) for a, b in pieces if text[a:b].strip()]


def _named(
    intent: IntentSubmitted, tools: Mapping[str, ToolSpec], retry: RetryPolicy, today: date
) -> PlanExplanation:
    assert intent.tool is not None
    spec = tools.get(intent.tool)
    if spec is None:
        known = ", ".join(sorted(tools)) or "none"
        error = PlanningError("unknown_tool", f"unknown tool {intent.tool!r}; registered: {known}")
        return PlanExplanation(None, error, [])
    given = _given(spec, intent)
    filled = fill_arguments(spec, intent.text, given, today=today)
    # Arguments the agent gave go to the tool as they are, even if the schema disagrees:
    # the tool's answer (invalid_arguments) tells the agent more than a guess would.
    arguments = {**filled.arguments, **given}
    verdict = Considered(
        spec.name, "chosen", NAMED, 1.0, 1.0, None, arguments, filled.sources, filled.missing
    )
    decision = ClauseDecision(intent.text, (verdict,), None)
    if filled.missing:
        reason = (
            f"{spec.name} needs {describe_missing(spec, filled.missing)}: "
            "the intent's text does not give them; resend with `arguments`"
        )
        error = PlanningError("missing_arguments", reason, {spec.name: filled.missing})
        return PlanExplanation(None, error, [decision])
    step = _step(intent, 0, spec.name, arguments, [], retry, None, NAMED, intent.text)
    return PlanExplanation([step], None, [ClauseDecision(intent.text, (verdict,), step)])


def _decide(context: _Context, clause: str) -> ClauseDecision:
    """The verdict on every ranked tool for one clause, and its step if one passed;
    each text is decided once per intent ("add 3 and 4" is the whole and a joined run)."""
    decided = context.decided.get(clause)
    if decided is None:
        decided = context.decided[clause] = _decide_now(context, clause)
    return decided


def _decide_now(context: _Context, clause: str) -> ClauseDecision:
    intent, policy, today = context.intent, context.policy, context.today
    ranked = context.rank(clause, intent.context, list(context.tools.values()))
    relevance = _relevance(ranked)
    found = extract(clause, today)
    verdicts: dict[int, Considered] = {}
    fillable: list[tuple[int, Filled, str]] = []  # relevant, allowed, tried: (rank, filled, why)
    for at, (candidate, fit) in enumerate(zip(ranked, relevance, strict=True)):
        spec = candidate.spec
        if fit < policy.relevance_ratio:
            reason = f"relevance {fit:.2f} is below {policy.relevance_ratio:g} of the best"
            verdicts[at] = _verdict(candidate, fit, "rejected", reason)
            continue
        permission = selection_permission(spec, policy.selection)
        if not permission.allowed:
            verdicts[at] = _verdict(candidate, fit, "not allowed", permission.reason)
            continue
        given = _given(spec, intent)
        filled = fill_arguments(spec, clause, given, today=today, extraction=found)
        fillable.append((at, filled, permission.reason))
    # Of the tools that fit, the one that uses more of what the intent says goes first
    # (ties keep the ranking's order). If a tool that would use more lacks an argument,
    # the agent is asked for it rather than served by a tool that ignores part of the text.
    fillable.sort(key=lambda item: -item[1].covered)
    passed = [item for item in fillable if item[1].complete]
    lacking = [item for item in fillable if not item[1].complete]
    if passed and lacking and lacking[0][1].covered > passed[0][1].covered:
        better = ranked[lacking[0][0]].spec.name
        for at, filled, _why in passed:
            reason = f"uses less of the intent than {better}, which lacks arguments"
            verdicts[at] = _verdict(ranked[at], relevance[at], "rejected", reason, filled)
        passed = []
    for at, filled, _why in lacking:
        problem = f"missing {describe_missing(ranked[at].spec, filled.missing)}"
        problem += f"; {filled.problem}" if filled.problem else ""
        verdicts[at] = _verdict(ranked[at], relevance[at], "rejected", problem, filled)
    for order, (at, filled, why) in enumerate(passed):
        verdict = "chosen" if order == 0 else "fallback"
        if order > policy.max_fallbacks:
            verdict, why = "not considered", "enough fallbacks"
        verdicts[at] = _verdict(ranked[at], relevance[at], verdict, why, filled)
    considered = tuple(verdicts[at] for at in sorted(verdicts, key=_order(fillable)))
    if not passed:
        return ClauseDecision(clause, considered, None)
    (chosen_at, filled, allowed_by), rest = passed[0], passed[1 : 1 + policy.max_fallbacks]
    chosen = ranked[chosen_at]
    fallbacks = [
        Fallback(tool=ranked[at].spec.name, arguments=f.arguments, allowed_by=why)
        for at, f, why in rest
    ]
    step = _step(
        intent, 0, chosen.spec.name, filled.arguments, fallbacks, context.retry,
        chosen.probability, allowed_by, clause,
    )  # fmt: skip
    return ClauseDecision(clause, considered, step)


def _order(fillable: Sequence[tuple[int, Filled, str]]) -> Callable[[int], tuple[int, int]]:
    """Verdicts listed as the planner weighed them: tools it tried first, in its order."""
    position = {at: i for i, (at, _, _) in enumerate(fillable)}
    return lambda at: (position.get(at, len(position)), at)


def _relevance(ranked: Sequence[Candidate]) -> list[float]:
    if all(c.relevance is not None for c in ranked):
        return [float(c.relevance or 0.0) for c in ranked]
    best = max((c.score for c in ranked), default=0.0)
    return [c.score / best if best > 0 else 0.0 for c in ranked]


def _verdict(
    candidate: Candidate, fit: float, verdict: str, reason: str, filled: Filled | None = None
) -> Considered:
    return Considered(
        tool=candidate.spec.name,
        verdict=verdict,
        reason=reason,
        relevance=fit,
        score=candidate.score,
        probability=candidate.probability,
        arguments=dict(filled.arguments) if filled else {},
        sources=dict(filled.sources) if filled else {},
        missing=filled.missing if filled else (),
        covered=filled.covered if filled else 0,
    )


def _failure(text: str, decision: ClauseDecision) -> PlanningError:
    """Why nothing was planned: arguments to send, a tool to name, or no tool at all."""
    lacking = [c for c in decision.considered if c.missing and c.verdict == "rejected"]
    if lacking:
        best = lacking[0]
        others = "; ".join(f"{c.tool} needs {', '.join(c.missing)}" for c in lacking[1:])
        reason = f"{best.reason.replace('missing', best.tool + ' needs', 1)}"
        reason += f" (also {others})" if others else ""
        reason += ": the intent's text does not give them; resend with `arguments`"
        return PlanningError("missing_arguments", reason, {c.tool: c.missing for c in lacking})
    refused = [c for c in decision.considered if c.verdict == "not allowed"]
    if refused and max(c.relevance for c in refused) >= 1.0:
        best = max(refused, key=lambda c: c.relevance)
        reason = (
            f"the tool for {text[:200]!r} is {best.tool}, which the planner may not choose "
            f"on its own: {best.reason}"
        )
        return PlanningError("not_allowed", reason)
    why = "; ".join(f"{c.tool}: {c.reason}" for c in decision.considered[:5])
    reason = f"no registered tool can serve {text[:200]!r}" + (f" ({why})" if why else "")
    return PlanningError("no_tool", reason)


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
    allowed_by: str,
    text: str,
) -> PlanStep:
    """``text``: the clause the tool was ranked for (offline evaluation asks again)."""
    return PlanStep(
        step_id=derived_id(intent.intent_id, str(index)),
        index=index,
        tool=tool,
        arguments=arguments,
        policy=policy,
        fallbacks=fallbacks,
        choice_probability=probability,
        allowed_by=allowed_by,
        text=text,
    )


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
        pattern_hit = any(_matches(p, text) for p in spec.patterns)
        score = overlap + (1.0 if pattern_hit else 0.0)
        if score > 0:
            ranked.append(Candidate(spec=spec, score=score))
    ranked.sort(key=lambda c: (-c.score, c.spec.name))
    return ranked


def _matches(pattern: str, text: str) -> bool:
    compiled = linear_or_none(pattern, ignore_case=True)
    return compiled is not None and compiled.search(text) is not None


def _words(text: str) -> set[str]:
    found = {m.group() or "" for m in compile_linear(_WORD).finditer(text.lower())}
    return found - _STOP
