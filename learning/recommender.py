"""Ranks tools for an intent: description relevance, learned associations, and learned performance.

The score of tool ``k`` is the utility of calling it::

    u_k = fit_k * success_k * quality_k - cost_weight * cost_k - latency_weight * latency_k

``fit_k = max(exp(L_k - max L), served_k, floor_k)`` where ``L_k`` is the log-posterior that
``k`` is the tool the text asks for (BM25 prior over descriptions + naive-Bayes over words
learned from outcomes) and ``served_k`` the share of this context's calls to ``k`` that were
not misfits, so several tools proven to serve a kind of intent compete on performance, not on
wording, and ``floor_k`` half the tool's description match relative to the best, less its misfits;
``success_k`` a discounted Beta posterior for this kind of intent, shrunk towards the tool's
global reliability; ``quality_k`` the discounted mean quality reported; cost and latency the
discounted means. With ``explore=True`` the ranking is one Thompson draw: ``L`` is perturbed by
Gumbel noise (an exact sample of which tool fits), success drawn from its Beta, quality from a
normal with the posterior's spread. The chosen tool's probability is the share of
``probability_draws`` such draws (the first being the one used) in which it ranks first.

Two stages: ``L`` and the floor are computed for every tool at once (numpy over the
catalogue); the performance records, the draws and the explanations only for the candidates
that :mod:`learning.recall` picks, widened until no other tool could practically have won.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from learning import associations
from learning.associations import AssociationConfig
from learning.context import context_key
from learning.embedding import TextEncoder, Vectors
from learning.exemplars import ExemplarConfig, ExemplarIndex
from learning.performance import Performance, performance
from learning.posterior import PosteriorConfig
from learning.recall import (
    Indices,
    RecallConfig,
    RecallStats,
    candidates,
    leak_bound,
    optimistic_order,
    outside_mass,
)
from learning.state import LearningState
from learning.text import DescriptionIndex, TextConfig
from models.tools import ToolSpec

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ScoringConfig:
    """Weights of the utility and of exploration; defaults documented per field."""

    prior_temperature: float = 0.1
    """Softmax temperature over BM25 scores scaled to [0, 1]: a gap of 0.1 between two tools'
    description match is worth one nat (e^1) of prior odds (tuned on MetaTool dev)."""

    exploration_temperature: float = 0.5
    """Scale of the Gumbel noise on L: 1.0 samples exactly from the posterior over which tool
    fits (probability matching); lower exploits more. 0.5 was tuned on a dev split of MetaTool
    train (top-1 65.8 % against 63.8 % at 1.0 and 61.8 % at 2.0); success and quality are
    still drawn from their full posteriors."""

    description_floor: float = 0.5
    """Fit kept by a tool whose description matches the intent as well as the best one, even
    when learned words favour another tool, unless it misfit on these words. Half: learned
    evidence still ranks first, but a well-described alternative is tried when the favourite
    starts failing (fit is not exclusive: several tools may serve one intent)."""

    cost_weight: float = 1.0
    """Quality points one unit of cost is worth: with 1.0 a tool 0.01 cheaper beats one 0.005
    better. Costs are per call in the tools' configured currency."""

    latency_weight: float = 0.05
    """Quality points one second of mean latency is worth: a tool 1 s slower must be 5 % better."""

    success_prior_strength: float = 4.0
    """Pseudo-observations the tool's global reliability weighs in each context's posterior:
    as many as the global prior itself, so context evidence dominates after a few calls."""

    min_latency_samples: int = 5
    """Calls needed before the p95 latency may exclude a tool for a deadline."""

    probability_draws: int = 100
    """Thompson draws to estimate each tool's choice probability (+-5 points at p=0.5)."""


@dataclass(frozen=True)
class Recommendation:
    """One ranked tool."""

    tool: str
    score: float
    probability: float
    explanation: str
    components: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Described:
    index: DescriptionIndex
    vectors: Vectors | None  # one unit row per tool, when the recommender has an encoder
    positions: dict[str, int]  # tool name -> its index in the list


@dataclass
class _Fit:
    """How well each tool of the catalogue fits the intent: vectorised over every tool."""

    log_fit: Array
    floor: Array  # description floor: the fit a well-described tool keeps (see ScoringConfig)
    prior: Array  # BM25 relevance of the description, scaled to [0, 1]
    learned: Array
    evidence: Array
    neighbours: Array
    # Cosine of the intent's and each description's embeddings (0 without an encoder): an
    # absolute measure of topic, where the log-prior is relative to the other tools.
    cosine: Array


@dataclass
class _Candidates:
    """The candidates' fit and performance, aligned: entry j is tool ``index[j]``."""

    index: Indices
    log_fit: Array
    known_fit: Array
    perf: Performance


class Recommender:
    """Stateless over the learning state: every call reads ``state`` and the tool list given."""

    def __init__(
        self,
        scoring: ScoringConfig | None = None,
        posterior: PosteriorConfig | None = None,
        association: AssociationConfig | None = None,
        text: TextConfig | None = None,
        encoder: TextEncoder | None = None,
        exemplar: ExemplarConfig | None = None,
        recall: RecallConfig | None = None,
    ) -> None:
        self.scoring = scoring or ScoringConfig()
        self.posterior = posterior or PosteriorConfig()
        self.association = association or AssociationConfig()
        self.text = text or TextConfig()
        self.encoder = encoder
        self.exemplar = exemplar or ExemplarConfig()
        self.recall = recall or RecallConfig()
        self.recall_stats = RecallStats()
        self._described: dict[tuple[tuple[str, str, tuple[str, ...]], ...], _Described] = {}
        self._exemplars = ExemplarIndex()

    def _descriptions(self, tools: Sequence[ToolSpec]) -> _Described:
        """The BM25 index (and, with an encoder, the embeddings) of this tool list's texts."""
        key = tuple((t.name, t.description, t.keywords) for t in tools)
        described = self._described.get(key)
        if described is None:
            docs = [DescriptionIndex.document(t.name, t.description, t.keywords) for t in tools]
            vectors = None
            if self.encoder is not None:
                sentences = [DescriptionIndex.sentence(t.name, t.description, t.keywords)
                             for t in tools]  # fmt: skip
                vectors = self.encoder.embed(sentences)
            positions = {t.name: i for i, t in enumerate(tools)}
            described = _Described(DescriptionIndex(docs, self.text), vectors, positions)
            if len(self._described) > 8:  # tool lists change rarely; keep a few, not all ever seen
                self._described.clear()
            self._described[key] = described
        return described

    def _log_prior(self, text: str, described: _Described) -> tuple[Array, Array, Vectors | None]:
        """(log-prior over tools from their descriptions, BM25 relevance, intent embedding)."""
        relevance = described.index.scores(text)
        log_prior = _log_softmax(relevance / self.scoring.prior_temperature)
        if self.encoder is None or described.vectors is None:
            return log_prior, relevance, None
        query = self.encoder.embed([text])[0]
        cosine = described.vectors @ query
        semantic = _log_softmax(cosine.astype(np.float64) / self.text.embedding_temperature)
        weight = self.text.embedding_weight
        return (1.0 - weight) * log_prior + weight * semantic, relevance, query

    def recommend(
        self,
        text: str,
        context: Mapping[str, str] | None,
        tools: Sequence[ToolSpec],
        state: LearningState,
        *,
        max_cost: float | None = None,
        deadline_ms: float | None = None,
        top_k: int = 10,
        explore: bool = True,
        rng: np.random.Generator | None = None,
        now: float | None = None,
        admit: Callable[[Recommendation], bool] | None = None,
    ) -> list[Recommendation]:
        """Tools ranked for the intent, best first, at most ``top_k``, constraints applied.

        With ``admit``, the ``top_k`` are the best of the tools it admits: a tool it rejects
        takes no place in them (the planner's rule for which tools it may use). ``admit``
        sees each candidate with its mean utility as score, before any draw, so the draws
        are among admitted tools only and the probabilities are those of the policy run.

        Only candidates (:mod:`learning.recall`) get the full model and the draws; they are
        doubled until no tool outside could practically have changed the answer."""
        if not tools:
            return []
        key = context_key(text, context)
        described = self._descriptions(tools)
        fit = self._fit(text, key, tools, described, state)
        positions = described.positions
        served = [positions[t] for t in state.context_tools.tools(key) if t in positions]
        order = optimistic_order(fit.log_fit, fit.floor)
        generator = rng if rng is not None else np.random.default_rng(0)
        size = self.recall.candidates
        stats = self.recall_stats
        stats.calls += 1
        while True:
            inside = candidates(order, size, served)
            stats.candidates += inside.size
            ranked = self._rank(
                text, key, tools, state, fit, inside, top_k, explore, generator, now,
                max_cost, deadline_ms, admit,
            )  # fmt: skip
            if isinstance(ranked, list) or inside.size >= len(tools):
                return ranked if isinstance(ranked, list) else []
            stats.widened += size == self.recall.candidates
            size = ranked

    def _fit(
        self,
        text: str,
        key: str,
        tools: Sequence[ToolSpec],
        described: _Described,
        state: LearningState,
    ) -> _Fit:
        names = [t.name for t in tools]
        log_prior, relevance, query = self._log_prior(text, described)
        words = associations.features(text, key)
        learned, evidence, penalty = associations.scores(
            state.term_tools, words, names, self.association
        )
        cosine = np.zeros(len(tools))
        if query is None:
            log_fit, neighbours = log_prior + learned, np.zeros(len(tools))
        else:
            if described.vectors is not None:
                cosine = (described.vectors @ query).astype(np.float64)
            # Neighbours replace the word model: with both, MetaTool dev top-1 was 2-4 points
            # lower than with neighbours alone. Word counts are still kept (and shown).
            log_fit, neighbours, penalty = self._exemplars.log_fit(
                state.exemplars, query, names, log_prior, self.exemplar
            )
        floor = self.scoring.description_floor * np.exp(log_prior - log_prior.max() - penalty)
        return _Fit(log_fit, floor, relevance, learned, evidence, neighbours, cosine)

    def _rank(
        self,
        text: str,
        key: str,
        tools: Sequence[ToolSpec],
        state: LearningState,
        fit: _Fit,
        inside: Indices,
        top_k: int,
        explore: bool,
        rng: np.random.Generator,
        now: float | None,
        max_cost: float | None,
        deadline_ms: float | None,
        admit: Callable[[Recommendation], bool] | None,
    ) -> list[Recommendation] | int:
        """The ranking among the candidates ``inside``, or, when a tool outside them could have
        changed it, how many candidates to take next (twice as many, or all of them)."""
        scoring = self.scoring
        specs = [tools[int(i)] for i in inside]
        perf = performance(
            specs, key, state, self.posterior, scoring.success_prior_strength,
            scoring.min_latency_samples, now,
        )  # fmt: skip
        cands = _Candidates(
            index=inside,
            log_fit=fit.log_fit[inside],
            known_fit=np.maximum(perf.served, fit.floor[inside]),
            perf=perf,
        )
        mean_utility = self._utility(
            cands.log_fit[None, :] - fit.log_fit.max(),
            perf.success_alpha / (perf.success_alpha + perf.success_beta),
            perf.quality,
            cands,
        )[0]
        usable = self._allowed(cands, max_cost, deadline_ms)
        described = {
            j: self._recommendation(
                specs[j], int(inside[j]), float(mean_utility[j]), 0.0, fit, cands, j
            )
            for j in np.flatnonzero(usable).tolist()
        }
        if admit is not None:
            described = {j: r for j, r in described.items() if admit(r)}
            usable[:] = False
            usable[list(described)] = True
        widen = inside.size < len(tools)
        if not described:
            # None of the best-fitting tools may be used (an intent no tool matches, or a
            # tight max_cost): look at every tool at once rather than doubling several times.
            return len(tools) if widen else []
        outside_floor = _max_outside(fit.floor, inside)
        if explore:
            draws, noisy_max = self._draws(cands, rng)
            draws[:, ~usable] = -np.inf
            ranking_utility = draws[0]
            winners = np.argmax(draws, axis=1)
            probability = np.bincount(winners, minlength=inside.size) / draws.shape[0]
        else:
            ranking_utility = np.where(usable, mean_utility, -np.inf)
            winners = np.array([int(np.argmax(ranking_utility))])
            noisy_max = np.array([float(fit.log_fit.max())])
            draws = ranking_utility[None, :]
            probability = np.zeros(inside.size)
            probability[winners[0]] = 1.0
        order = [j for j in np.argsort(-ranking_utility, kind="stable").tolist() if usable[j]]
        shown = order[:top_k]
        if widen:
            double = 2 * inside.size
            if not explore:
                # Exact for the whole list: a tool outside has utility at most
                # max(exp(log_fit - M), floor), and may fill a list that is short.
                if len(shown) < top_k:
                    return double
                top = float(np.exp(_max_outside(fit.log_fit, inside) - fit.log_fit.max()))
                if max(top, outside_floor) >= ranking_utility[shown[-1]]:
                    return double
            else:
                # Which tool wins each draw (and so the recorded probabilities) must be the
                # one every tool would give; the rest of the shown list is the best of the
                # candidates (fallbacks), not bounded (see learning.recall).
                temperature = scoring.exploration_temperature
                mass = outside_mass(fit.log_fit, inside, temperature)
                wins = draws[np.arange(draws.shape[0]), winners]
                leak = leak_bound(mass, outside_floor, noisy_max, wins, temperature).mean()
                if leak > self.recall.leak_tolerance:
                    return double
        return [
            replace(
                described[j], score=float(ranking_utility[j]), probability=float(probability[j])
            )
            for j in shown
        ]

    def _allowed(
        self, cands: _Candidates, max_cost: float | None, deadline_ms: float | None
    ) -> npt.NDArray[np.bool_]:
        allowed = np.ones(cands.index.size, dtype=bool)
        if max_cost is not None:
            allowed &= cands.perf.cost <= max_cost
        if deadline_ms is not None:
            slow = [p is not None and p > deadline_ms for p in cands.perf.p95_ms]
            allowed &= ~np.array(slow, dtype=bool)
        return allowed

    def _utility(self, log_fit: Array, success: Array, quality: Array, cands: _Candidates) -> Array:
        """Utility per draw (row) and candidate; ``log_fit`` already relative to the draw's
        best (0 for the best tool, which has fit 1)."""
        fit = np.maximum(np.exp(log_fit), cands.known_fit)
        utility: Array = (
            fit * success * quality
            - self.scoring.cost_weight * cands.perf.cost
            - self.scoring.latency_weight * cands.perf.latency_ms / 1000.0
        )
        return utility

    def _draws(self, cands: _Candidates, rng: np.random.Generator) -> tuple[Array, Array]:
        """Thompson draws of every candidate's utility, and each draw's highest noisy log-fit."""
        m, n = self.scoring.probability_draws, cands.index.size
        perf = cands.perf
        noisy = (
            cands.log_fit[None, :] + rng.gumbel(size=(m, n)) * self.scoring.exploration_temperature
        )
        best = noisy.max(axis=1)
        success = rng.beta(perf.success_alpha, perf.success_beta, size=(m, n))
        quality = np.clip(perf.quality + perf.quality_sd * rng.standard_normal((m, n)), 0.0, 1.0)
        return self._utility(noisy - best[:, None], success, quality, cands), best

    def _recommendation(
        self,
        spec: ToolSpec,
        i: int,
        score: float,
        probability: float,
        fit: _Fit,
        cands: _Candidates,
        j: int,
    ) -> Recommendation:
        perf = cands.perf
        a, b = perf.success_alpha[j], perf.success_beta[j]
        success = a / (a + b)
        spread = float(np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1.0))))
        components = {
            "description": float(fit.prior[i]),
            "learned": float(fit.learned[i]),
            "evidence": float(fit.evidence[i]),
            "neighbours": float(fit.neighbours[i]),
            "log_fit": float(fit.log_fit[i]),
            "success": float(success),
            "success_sd": spread,
            "quality": float(perf.quality[j]),
            "cost": float(perf.cost[j]),
            "latency_ms": float(perf.latency_ms[j]),
            "cosine": float(fit.cosine[i]),
        }
        similar = f", near past intents it served {fit.neighbours[i]:.2f}" if self.encoder else ""
        explanation = (
            f"description match {fit.prior[i]:.2f}, learned from {fit.evidence[i]:.0f} "
            f"successes on these words{similar}, success {success:.2f}±{spread:.2f}, "
            f"quality {perf.quality[j]:.2f}, cost {perf.cost[j]:.4g}, "
            f"latency {perf.latency_ms[j]:.0f} ms"
        )
        return Recommendation(spec.name, score, probability, explanation, components)


def _max_outside(values: Array, inside: Indices) -> float:
    mask = np.ones(values.size, dtype=bool)
    mask[inside] = False
    return float(values[mask].max()) if mask.any() else float("-inf")


def _log_softmax(logits: Array) -> Array:
    shifted = logits - logits.max()
    out: Array = shifted - np.log(np.exp(shifted).sum())
    return out
