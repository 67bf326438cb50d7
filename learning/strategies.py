"""Strategies: named parameter sets of the recommender that experiments and evaluation compare.

A strategy decides how the planner turns the learned state into one choice: ``conservative``
always takes the tool with the best posterior-mean utility, ``balanced`` is the default
Thompson sampling, ``explorative`` samples with a hotter fit posterior. The probability a
plan records for its tool is the probability under the strategy that chose it: a strategy
that does not explore records 1.0 for its choice.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from learning.recommender import Recommender, ScoringConfig
from learning.state import LearningState
from models.tools import ToolSpec


class UnknownStrategy(ValueError):
    """A strategy name nobody defined; the message lists the ones that exist."""

    def __init__(self, name: str) -> None:
        known = ", ".join(STRATEGIES)
        super().__init__(f"unknown strategy {name!r}; choose one of: {known}")
        self.name = name


@dataclass(frozen=True)
class Strategy:
    """How the recommender's ranking becomes a choice; documented defaults per field."""

    name: str
    description: str
    explore: bool = True
    """Thompson sampling (a random draw ranks) or the posterior mean (deterministic)."""

    exploration_temperature: float | None = None
    """Scale of the Gumbel noise on the fit posterior; None keeps ScoringConfig's (0.5)."""

    @property
    def label(self) -> str:
        """What plans and execution records carry as their ``strategy``."""
        return f"learned-{self.name}"

    def scoring(self, base: ScoringConfig) -> ScoringConfig:
        """``base`` with this strategy's parameters."""
        if self.exploration_temperature is None:
            return base
        return replace(base, exploration_temperature=self.exploration_temperature)

    def recommender(self, base: Recommender) -> Recommender:
        """A recommender that ranks under this strategy, sharing ``base``'s caches and encoder.

        A shallow copy: the description index and the exemplar stacks are caches keyed by
        content, so strategies reuse what any of them has built.
        """
        scoring = self.scoring(base.scoring)
        if scoring is base.scoring:
            return base
        sibling = copy.copy(base)
        sibling.scoring = scoring
        return sibling


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy(
            "conservative",
            "exploit only: the tool with the best posterior-mean utility, probability 1",
            explore=False,
        ),
        Strategy(
            "balanced",
            "Thompson sampling at the tuned fit temperature (0.5), as before strategies existed",
        ),
        Strategy(
            "explorative",
            "Thompson sampling at fit temperature 1.0: samples exactly from the posterior over "
            "which tool fits (probability matching), so runners-up are tried more often",
            exploration_temperature=1.0,
        ),
    )
}

DEFAULT_STRATEGY = "balanced"


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name``; the error lists the known ones."""
    found = STRATEGIES.get(name)
    if found is None:
        raise UnknownStrategy(name)
    return found


def strategy_of_label(label: str) -> Strategy | None:
    """The strategy a recorded ``strategy`` label names, if it is one of these."""
    name = label.removeprefix("learned-")
    if name == "thompson":  # plans recorded before strategies existed used Thompson sampling
        name = "balanced"
    return STRATEGIES.get(name) if label.startswith("learned-") else None


def choice_probabilities(
    recommender: Recommender,
    strategy: Strategy,
    text: str,
    context: Mapping[str, str] | None,
    tools: Sequence[ToolSpec],
    state: LearningState,
    *,
    now: float | None = None,
    draws: int = 2000,
    rng: np.random.Generator | None = None,
) -> dict[str, float]:
    """Probability that ``strategy`` ranks each tool first for this intent (the target policy).

    ``draws`` Thompson draws (2000: a probability of 0.5 to +-1.1 points at 1 sd, ten
    times finer than the 100 the planner records) for a strategy that explores; exactly
    0 or 1 for one that does not. Tools missing from the result have probability 0.
    """
    ranker = strategy.recommender(recommender)
    if strategy.explore:
        ranker = copy.copy(ranker)
        ranker.scoring = replace(ranker.scoring, probability_draws=draws)
    ranked = ranker.recommend(
        text,
        context,
        tools,
        state,
        top_k=len(tools),
        explore=strategy.explore,
        rng=rng if rng is not None else np.random.default_rng(0),
        now=now,
    )
    return {r.tool: r.probability for r in ranked if r.probability > 0}
