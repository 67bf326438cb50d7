"""The planner's ranker backed by the learning engine's recommendations."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np

from agents.planning import Candidate, Ranker
from learning import Recommender
from models import ToolSpec
from tables.learned_replica import LearnedReplica

STRATEGY = "learned-thompson"


def learned_ranker(
    recommender: Recommender, replica: LearnedReplica, top_k: int, rng: np.random.Generator
) -> Ranker:
    """Rank with the active generation's learned state; explore by Thompson sampling.

    Only the top ``top_k`` tools reach the planner (fewer to consider, and
    fewer tokens for an LLM planner). Each candidate carries the share of
    posterior draws in which it won: the probability the planner chose it,
    recorded on the plan step for offline evaluation.
    """

    def rank(text: str, context: Mapping[str, str], specs: Sequence[ToolSpec]) -> list[Candidate]:
        by_name = {spec.name: spec for spec in specs}
        recommendations = recommender.recommend(
            text,
            context,
            list(specs),
            replica.state(),
            top_k=top_k,
            explore=True,
            rng=rng,
            now=time.time(),
        )
        return [
            Candidate(
                spec=by_name[r.tool],
                score=r.score,
                probability=r.probability,
                explanation=r.explanation,
            )
            for r in recommendations
        ]

    return rank
