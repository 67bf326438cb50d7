"""The planner's ranker backed by the learning engine's recommendations."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from agents.plan_builder import Candidate, Ranker
from learning import Recommendation, Recommender, context_key
from learning.embedding import TextEncoder, shared_encoder
from models import ToolSpec
from streams.settings import Settings
from tables.learned_replica import LearnedReplica

STRATEGY = "learned-thompson"

# A tool is a candidate only if its description shares something with the
# text (BM25 relevance scaled so the best tool has 1.0; 0.15 keeps runners-up
# that share a content word and drops incidental matches) or outcomes tied it
# to these words. Without this, any tool whose arguments can be filled -- one
# with no parameters, or one free-text parameter -- became a fallback: the
# demo's "convert 3 parsecs" was answered by testing.stats.
MIN_DESCRIPTION_MATCH = 0.15
# ...or intents it served lie close to this one: 0.05 is one served intent at cosine 0.7
# (the neighbour kernel is exp((cos - 1) / 0.1)), a paraphrase rather than a shared topic.
MIN_NEIGHBOUR_VOTES = 0.05
# With the sentence model, the cosine of the intent and the tool's description is the
# measure of topic: unlike BM25 it sees that "add 3 and 4" is about a "sum of two
# numbers". Measured on bench.planning's intents: for the 15 that no registered tool
# serves at all (songs, flights, e-mail), the best tool's cosine was 0.13-0.33 (median
# 0.17); for 90 % of the intents with a labelled tool, that tool's cosine was 0.21 or
# more. Below 0.2 a tool is off topic.
MIN_COSINE = 0.2
# With the model, BM25 no longer admits a tool on its own: its match is relative to the
# best tool's, so some tool always matches 1.0. While tuning, letting a BM25 match of
# 0.5 admit tools too found 4 more right tools on bench.planning but planned 5 more
# intents no tool serves (decision accuracy 86.2 % against 87.9 %, ratio 0.6, before
# the planner preferred the tool using more of the intent).


def text_encoder(settings: Settings) -> TextEncoder | None:
    """The sentence encoder the settings ask for (None: words only, or no model installed)."""
    return shared_encoder(settings.text_model_dir) if settings.text_model == "minilm" else None


def _learned(r: Recommendation) -> bool:
    return (
        r.components.get("evidence", 0.0) > 0.0
        or r.components.get("neighbours", 0.0) >= MIN_NEIGHBOUR_VOTES
    )


def _admitter(with_model: bool) -> Callable[[Recommendation], bool]:
    def admissible(r: Recommendation) -> bool:
        if _learned(r):
            return True
        if not with_model:
            return r.components.get("description", 0.0) >= MIN_DESCRIPTION_MATCH
        return r.components.get("cosine", 0.0) >= MIN_COSINE

    return admissible


def _relevance(r: Recommendation, with_model: bool) -> float:
    """A tool's fit to the text before the planner compares it with the best candidate's."""
    description = r.components.get("description", 0.0)
    if not with_model:
        return description
    return max(r.components.get("cosine", 0.0), description)


def learned_ranker(
    recommender: Recommender,
    replica: LearnedReplica,
    top_k: int,
    rng: np.random.Generator,
    explore: bool = True,
) -> Ranker:
    """Rank with the active generation's learned state; explore by Thompson sampling, or not.

    Only the top ``top_k`` tools reach the planner (fewer to consider, and
    fewer tokens for an LLM planner). Each candidate carries the share of
    posterior draws in which it won: the probability the planner chose it,
    recorded on the plan step for offline evaluation.
    """

    with_model = recommender.encoder is not None
    admissible = _admitter(with_model)

    def rank(text: str, context: Mapping[str, str], specs: Sequence[ToolSpec]) -> list[Candidate]:
        by_name = {spec.name: spec for spec in specs}
        recommendations = recommender.recommend(
            text,
            context,
            list(specs),
            replica.state(),
            top_k=top_k,
            explore=explore,
            rng=rng,
            now=time.time(),
            admit=admissible,  # the top k among the tools the planner may use
        )
        fits = [_relevance(r, with_model) for r in recommendations]
        # A tool outcomes tied to such intents is as relevant as the best candidate.
        best = max(fits, default=0.0)
        fits = [best if _learned(r) else fit for r, fit in zip(recommendations, fits, strict=True)]
        best = max(fits, default=0.0)
        return [
            Candidate(
                spec=by_name[r.tool],
                score=r.score,
                probability=r.probability,
                explanation=r.explanation,
                relevance=fit / best if best > 0 else 0.0,
            )
            for r, fit in zip(recommendations, fits, strict=True)
        ]

    return rank


def recommendations_view(
    recommender: Recommender,
    replica: LearnedReplica,
    tools: Sequence[ToolSpec],
    text: str,
    context: Mapping[str, str],
    *,
    generation: int | None = None,
    explore: bool = False,
    top_k: int = 10,
    max_cost: float | None = None,
    at: float | None = None,
) -> dict[str, object]:
    """What `toolwise recommend` and the worker's /api/recommend show.

    Without exploration the ranking is the posterior mean: the same learned
    state gives the same answer on every worker and after every restart. Evidence
    decays with time; ``at`` (Unix seconds, default now) says at what time to rank.
    """
    gen = replica.active_generation if generation is None else generation
    recommendations = recommender.recommend(
        text,
        context,
        list(tools),
        replica.state(gen),
        max_cost=max_cost,
        top_k=top_k,
        explore=explore,
        rng=np.random.default_rng(0),
        now=time.time() if at is None else at,
    )
    return {
        "generation": gen,
        # How current this view is: the last executions offset per partition it has learned.
        "learned_through": {str(p): o for p, o in sorted(replica.learned_through(gen).items())},
        "context_key": context_key(text, context),
        "recommendations": [
            {
                "tool": r.tool,
                "score": round(r.score, 6),
                "probability": round(r.probability, 4),
                "explanation": r.explanation,
                "components": {k: round(v, 6) for k, v in r.components.items()},
            }
            for r in recommendations
        ],
    }
