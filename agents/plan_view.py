"""What `toolwise plan` and the worker's /api/plan show: a plan and every verdict behind it."""

from __future__ import annotations

from typing import Any

from agents.plan_builder import ClauseDecision, Considered, PlanExplanation
from learning import context_key
from models import IntentSubmitted, PlanStep


def plan_view(intent: IntentSubmitted, explained: PlanExplanation, strategy: str) -> dict[str, Any]:
    """JSON-ready: the steps (or the error), and per clause each candidate's verdict."""
    error = explained.error
    return {
        "text": intent.text,
        "tool": intent.tool,
        "strategy": strategy,
        "context_key": context_key(intent.text, intent.context),
        "steps": [_step(step) for step in explained.steps or []],
        "error": (
            {"kind": error.kind, "reason": error.reason, "missing": error.missing}
            if error is not None
            else None
        ),
        "clauses": [_clause(decision) for decision in explained.clauses],
    }


def _step(step: PlanStep) -> dict[str, Any]:
    return {
        "index": step.index,
        "tool": step.tool,
        "arguments": step.arguments,
        "allowed_by": step.allowed_by,
        "choice_probability": step.choice_probability,
        "fallbacks": [
            {"tool": f.tool, "arguments": f.arguments, "allowed_by": f.allowed_by}
            for f in step.fallbacks
        ],
    }


def _clause(decision: ClauseDecision) -> dict[str, Any]:
    return {
        "clause": decision.clause,
        "candidates": [_candidate(c) for c in decision.considered],
    }


def _candidate(c: Considered) -> dict[str, Any]:
    return {
        "tool": c.tool,
        "verdict": c.verdict,
        "reason": c.reason,
        "relevance": round(c.relevance, 4),
        "score": round(c.score, 6),
        "probability": None if c.probability is None else round(c.probability, 4),
        "arguments": c.arguments,
        "sources": c.sources,
        "missing": list(c.missing),
    }
