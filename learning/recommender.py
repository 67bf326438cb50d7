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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from learning import associations
from learning.associations import AssociationConfig
from learning.context import context_key
from learning.embedding import TextEncoder, Vectors
from learning.exemplars import ExemplarConfig, ExemplarIndex
from learning.metrics import latency_percentile
from learning.posterior import PosteriorConfig, decayed
from learning.state import LearningState, context_score_key, metrics_key
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


@dataclass
class _Estimates:
    log_fit: Array
    known_fit: Array
    prior: Array
    learned: Array
    evidence: Array
    neighbours: Array
    success_alpha: Array
    success_beta: Array
    quality: Array
    quality_sd: Array
    cost: Array
    latency_ms: Array
    p95_ms: list[float | None]
    # Cosine of the intent's and each description's embeddings (0 without an encoder): an
    # absolute measure of topic, where the log-prior is relative to the other tools.
    cosine: Array | None = None


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
    ) -> None:
        self.scoring = scoring or ScoringConfig()
        self.posterior = posterior or PosteriorConfig()
        self.association = association or AssociationConfig()
        self.text = text or TextConfig()
        self.encoder = encoder
        self.exemplar = exemplar or ExemplarConfig()
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
            described = _Described(DescriptionIndex(docs, self.text), vectors)
            if len(self._described) > 8:  # tool lists change rarely; keep a few, not all ever seen
                self._described.clear()
            self._described[key] = described
        return described

    def _log_prior(
        self, text: str, tools: Sequence[ToolSpec]
    ) -> tuple[Array, Array, Vectors | None]:
        """(log-prior over tools from their descriptions, BM25 relevance, intent embedding)."""
        described = self._descriptions(tools)
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
        takes no place in them (the planner's rule for which tools it may use)."""
        if not tools:
            return []
        key = context_key(text, context)
        est = self._estimates(text, key, tools, state, now)
        allowed = self._allowed(tools, est, max_cost, deadline_ms)
        if not allowed.any():
            return []
        generator = rng if rng is not None else np.random.default_rng(0)
        mean_utility = self._utility(
            est.log_fit[None, :],
            est.success_alpha / (est.success_alpha + est.success_beta),
            est.quality,
            est,
        )[0]
        mean_utility = np.where(allowed, mean_utility, -np.inf)
        if explore:
            draws = self._draws(est, generator)
            draws[:, ~allowed] = -np.inf
            ranking_utility = draws[0]
            winners = np.bincount(np.argmax(draws, axis=1), minlength=len(tools))
            probability = winners / draws.shape[0]
        else:
            ranking_utility = mean_utility
            probability = np.zeros(len(tools))
            probability[int(np.argmax(mean_utility))] = 1.0
        picked: list[Recommendation] = []
        for i in (int(i) for i in np.argsort(-ranking_utility, kind="stable") if allowed[i]):
            if len(picked) == top_k:
                break
            found = self._recommendation(
                tools[i], i, float(ranking_utility[i]), float(probability[i]), est
            )
            if admit is None or admit(found):
                picked.append(found)
        return picked

    def _estimates(
        self,
        text: str,
        key: str,
        tools: Sequence[ToolSpec],
        state: LearningState,
        now: float | None,
    ) -> _Estimates:
        names = [t.name for t in tools]
        log_prior, relevance, query = self._log_prior(text, tools)
        words = associations.features(text, key)
        learned, evidence, penalty = associations.scores(
            state.term_tools, words, names, self.association
        )
        cosine = np.zeros(len(tools))
        if query is None:
            log_fit, neighbours = log_prior + learned, np.zeros(len(tools))
        else:
            vectors = self._descriptions(tools).vectors
            if vectors is not None:
                cosine = (vectors @ query).astype(np.float64)
            # Neighbours replace the word model: with both, MetaTool dev top-1 was 2-4 points
            # lower than with neighbours alone. Word counts are still kept (and shown).
            log_fit, neighbours, penalty = self._exemplars.log_fit(
                state.exemplars, query, names, log_prior, self.exemplar
            )
        post = self.posterior
        n = len(tools)
        alpha, beta = np.zeros(n), np.zeros(n)
        quality, quality_sd = np.ones(n), np.zeros(n)
        cost, latency, p95 = np.zeros(n), np.zeros(n), []
        known_fit = np.zeros(n)
        for i, spec in enumerate(tools):
            metrics = state.tool_metrics.get(metrics_key(spec.name, spec.version))
            score = state.context_scores.get(context_score_key(key, spec.name))
            at = now if now is not None else _latest(metrics, score)
            g_s = g_f = 0.0
            if metrics is not None:
                since, half_life = metrics["updated_at"], post.half_life_s
                g_s = decayed(metrics["reliable_successes"], since, at, half_life)
                g_f = decayed(metrics["reliable_failures"], since, at, half_life)
            global_rate = (post.prior_successes + g_s) / (
                post.prior_successes + post.prior_failures + g_s + g_f
            )
            strength = self.scoring.success_prior_strength
            alpha[i], beta[i] = strength * global_rate, strength * (1.0 - global_rate)
            cost[i] = spec.cost_per_call
            if metrics is not None and metrics["calls"]:
                cost[i] = metrics["cost_sum"] / metrics["calls"]
                latency[i] = float(metrics["latency_ewma_ms"] or 0.0)
            p95.append(
                latency_percentile(metrics, 0.95)
                if metrics is not None and metrics["calls"] >= self.scoring.min_latency_samples
                else None
            )
            rated = False
            q_prior = post.quality_prior
            if metrics is not None and metrics["quality_n"] > 0:
                rated, q_prior = True, metrics["quality_sum"] / metrics["quality_n"]
            q_mean, q_weight = q_prior, post.quality_prior_weight
            if score is not None:
                # Calls that ran without a misfit show the tool serves this kind of intent,
                # whatever the words' posterior says about competing tools (Laplace: n/(n+1)).
                served = score["calls"] - score["misfits"]
                known_fit[i] = served / (score["calls"] + 1.0)
                since = score["updated_at"]
                alpha[i] += decayed(score["successes"], since, at, post.half_life_s)
                beta[i] += decayed(score["failures"], since, at, post.half_life_s)
                w = decayed(score["quality_weight"], since, at, post.quality_half_life_s)
                if w > 0:
                    rated = True
                    q_mean = (q_prior * q_weight + score["quality_mean"] * w) / (q_weight + w)
                    q_weight += w
                if score["cost_weight"] > 0:
                    cost[i] = score["cost_mean"]
                if score["latency_weight"] > 0:
                    latency[i] = score["latency_mean_ms"]
            if rated:  # tools that never report quality are not judged on it
                quality[i], quality_sd[i] = q_mean, post.quality_sd / np.sqrt(q_weight)
        return _Estimates(
            log_fit=log_fit,
            known_fit=np.maximum(
                known_fit,
                self.scoring.description_floor * np.exp(log_prior - log_prior.max() - penalty),
            ),
            prior=relevance,
            learned=learned,
            evidence=evidence,
            neighbours=neighbours,
            success_alpha=alpha,
            success_beta=beta,
            quality=quality,
            quality_sd=quality_sd,
            cost=cost,
            latency_ms=latency,
            p95_ms=p95,
            cosine=cosine,
        )

    def _allowed(
        self,
        tools: Sequence[ToolSpec],
        est: _Estimates,
        max_cost: float | None,
        deadline_ms: float | None,
    ) -> npt.NDArray[np.bool_]:
        allowed = np.ones(len(tools), dtype=bool)
        if max_cost is not None:
            allowed &= est.cost <= max_cost
        if deadline_ms is not None:
            slow = [p is not None and p > deadline_ms for p in est.p95_ms]
            allowed &= ~np.array(slow, dtype=bool)
        return allowed

    def _utility(self, log_fit: Array, success: Array, quality: Array, est: _Estimates) -> Array:
        fit = np.maximum(np.exp(log_fit - log_fit.max(axis=1, keepdims=True)), est.known_fit)
        utility: Array = (
            fit * success * quality
            - self.scoring.cost_weight * est.cost
            - self.scoring.latency_weight * est.latency_ms / 1000.0
        )
        return utility

    def _draws(self, est: _Estimates, rng: np.random.Generator) -> Array:
        m, n = self.scoring.probability_draws, est.log_fit.size
        gumbel = rng.gumbel(size=(m, n)) * self.scoring.exploration_temperature
        success = rng.beta(est.success_alpha, est.success_beta, size=(m, n))
        quality = np.clip(est.quality + est.quality_sd * rng.standard_normal((m, n)), 0.0, 1.0)
        utility: Array = self._utility(est.log_fit[None, :] + gumbel, success, quality, est)
        return utility

    def _recommendation(
        self, spec: ToolSpec, i: int, score: float, probability: float, est: _Estimates
    ) -> Recommendation:
        a, b = est.success_alpha[i], est.success_beta[i]
        success = a / (a + b)
        spread = float(np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1.0))))
        components = {
            "description": float(est.prior[i]),
            "learned": float(est.learned[i]),
            "evidence": float(est.evidence[i]),
            "neighbours": float(est.neighbours[i]),
            "log_fit": float(est.log_fit[i]),
            "success": float(success),
            "success_sd": spread,
            "quality": float(est.quality[i]),
            "cost": float(est.cost[i]),
            "latency_ms": float(est.latency_ms[i]),
            "cosine": float(est.cosine[i]) if est.cosine is not None else 0.0,
        }
        similar = f", near past intents it served {est.neighbours[i]:.2f}" if self.encoder else ""
        explanation = (
            f"description match {est.prior[i]:.2f}, learned from {est.evidence[i]:.0f} "
            f"successes on these words{similar}, success {success:.2f}±{spread:.2f}, "
            f"quality {est.quality[i]:.2f}, cost {est.cost[i]:.4g}, "
            f"latency {est.latency_ms[i]:.0f} ms"
        )
        return Recommendation(spec.name, score, probability, explanation, components)


def _log_softmax(logits: Array) -> Array:
    shifted = logits - logits.max()
    out: Array = shifted - np.log(np.exp(shifted).sum())
    return out


def _latest(*records: Mapping[str, object] | None) -> float:
    """'Now' when the caller gives none: the newest update seen, so no decay is invented."""
    times = [float(r["updated_at"]) for r in records if r is not None]  # type: ignore[arg-type]
    return max(times, default=0.0)
