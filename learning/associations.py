"""Intent-word to tool associations learned from outcomes, scored as a multinomial naive Bayes.

For each stemmed word (and the intent's context key, as one more pseudo-word) the
``term_tools`` table counts, per tool, the calls that succeeded and the calls that failed as a
misfit. Successes are labelled examples ('this text wanted this tool'); the score of a tool is
the log-likelihood of the intent's words under the tool's word distribution (Laplace-smoothed),
minus a penalty for words whose intents this tool already failed. Counts are plain sums, so
batches may be applied in any order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from learning.context import context_key
from learning.metrics import is_misfit
from learning.state import TOTALS_KEY, Record, Store
from learning.text import unique_terms
from models.events import ExecutionRecorded


@dataclass(frozen=True)
class AssociationConfig:
    """Smoothing and weights of the learned score (tuned on a dev split of MetaTool train)."""

    smoothing: float = 0.2
    """Laplace pseudo-count per (word, tool): small, so one success already says a lot."""

    vocabulary_prior: int = 1000
    """Added to the observed vocabulary size in the smoothing denominator so that early on,
    with few words seen, a tool with one example is not overconfident."""

    misfit_weight: float = 1.0
    """Nats subtracted per word for the log-ratio of misfits to successes of that pair."""


def features(intent_text: str, key: str) -> list[str]:
    """The pseudo-words an intent contributes: its stemmed words and its context key."""
    return [*unique_terms(intent_text), f"ctx:{key}"]


def record_features(record: ExecutionRecorded) -> list[str]:
    return features(record.intent_text, record.context_key or context_key(record.intent_text))


def apply_batch(store: Store, records: Iterable[ExecutionRecorded]) -> None:
    """Fold the outcomes into ``store`` (the ``term_tools`` table), one write per key."""
    changed: dict[str, Record] = {}

    def load(key: str) -> Record:
        if key not in changed:
            current = store.get(key)
            changed[key] = _copy(current) if current is not None else {"tools": {}}
        return changed[key]

    totals = load(TOTALS_KEY)
    totals.setdefault("vocabulary", 0)
    for record in records:
        misfit = is_misfit(record)
        if not record.ok and not misfit:
            continue  # a broken tool says nothing about which tool the words want
        words = record_features(record)
        for word in words:
            entry = load(word)
            if not entry["tools"] and word not in store:
                totals["vocabulary"] += 1
            pair = entry["tools"].setdefault(record.tool, [0.0, 0.0])
            pair[0 if record.ok else 1] += 1.0
        if record.ok:
            totals["tools"][record.tool] = totals["tools"].get(record.tool, 0.0) + len(words)
    for key, value in changed.items():
        store[key] = value


def _copy(record: Record) -> Record:
    out: Record = dict(record)
    tools: dict[str, Any] = record.get("tools", {})
    out["tools"] = {t: list(v) if isinstance(v, list) else v for t, v in tools.items()}
    return out


def scores(
    store: Store, words: Sequence[str], tools: Sequence[str], config: AssociationConfig
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per tool: (naive-Bayes score of ``words``, successes seen for them, misfit penalty).

    The score already includes the penalty; it is returned alone for callers that need the
    evidence against a tool apart from the evidence for its competitors.

    A tool never seen succeeding gets the smoothed uniform likelihood, so new tools are neither
    favoured nor buried by the learned part; the description prior decides for them.
    """
    index = {tool: i for i, tool in enumerate(tools)}
    totals: Record = store.get(TOTALS_KEY) or {"tools": {}, "vocabulary": 0}
    vocabulary = float(totals.get("vocabulary", 0)) + config.vocabulary_prior
    word_totals = np.array([float(totals["tools"].get(tool, 0.0)) for tool in tools])
    positives = np.zeros(len(tools))
    log_lik = np.zeros(len(tools))
    penalty = np.zeros(len(tools))
    evidence = np.zeros(len(tools))
    for word in words:
        entry: dict[str, Any] | None = store.get(word)
        positives[:] = 0.0
        if entry:
            for tool, (successes, misfits) in entry["tools"].items():
                i = index.get(tool)
                if i is None:
                    continue
                positives[i] = successes
                evidence[i] += successes
                if misfits:
                    penalty[i] += math.log1p(misfits / (successes + 1.0))
        log_lik += np.log(positives + config.smoothing)
    log_lik -= len(words) * np.log(word_totals + config.smoothing * vocabulary)
    penalty *= config.misfit_weight
    return log_lik - penalty, evidence, penalty
