"""Per-tool memory of the intents a tool served or misfit, as sentence embeddings, and kNN scores.

Words miss rephrasings ('how cold is it in Oslo' / 'weather in Oslo'); sentence embeddings
place them close. For every tool the ``exemplars`` table keeps the embeddings of the latest
intents it served (``ok``) and of the latest it was wrong for (``misfit``), at most
``ExemplarConfig.capacity`` of each, oldest dropped first. A new intent's fit for tool k is a
kernel-weighted vote of its nearest stored intents (k-nearest neighbours over all tools),
with the description prior as pseudo-votes:

    votes_k   = sum over the nearest ok exemplars e of tool k of exp((cos(q, e) - 1) / width)
    against_k = the same over the nearest misfit exemplars of tool k
    fit_k     = prior_votes * P_k + votes_k        (P: the description prior, sums to 1,
                                                  mixed with a little of the uniform)
    log_fit_k = log(fit_k) - misfit_weight * log(1 + against_k / fit_k)

Before anything is learned the ranking is the description prior's; as served intents
accumulate near a query they outvote it, so with every label known this is plain kNN.
Vectors are stored as int8 with one float32 scale per row (cosine error < 0.01), base64 in a
JSON record: 0.5 KB per intent.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from learning.embedding import DIMENSIONS, TextEncoder, Vectors
from learning.metrics import is_misfit
from learning.state import Record, Store
from models.events import ExecutionRecorded

KINDS = ("ok", "misfit")


@dataclass(frozen=True)
class ExemplarConfig:
    """kNN over stored intents; defaults tuned on a dev split of MetaTool train (see README)."""

    neighbours: int = 20
    """Stored intents that vote, over all tools: 20 smooths over label noise (40 was 0.6
    points worse on dev)."""

    width: float = 0.1
    """Kernel width in cosine units: a neighbour 0.1 less similar counts e (2.7x) less."""

    prior_votes: float = 0.1
    """Votes the description prior casts in all: one neighbour at cosine 0.77 outweighs a
    tool the prior is sure of. Smaller trusts neighbours sooner (MetaTool dev, every label
    known: top-1 81.5 % at 0.1, 79.7 % at 0.3, 75.2 % at 1.0)."""

    prior_uniform: float = 0.05
    """Share of the uniform in P. Descriptions can be near-certain (a 3-tool list where one
    description matches and two say nothing); without this, misfits of the favourite on the
    very same intent could never hand the rank to the others. MetaTool dev: no change."""

    misfit_weight: float = 2.0
    """How hard nearby misfits push a tool down, relative to its own nearby successes."""

    capacity: int = 256
    """Exemplars kept per tool and kind (~130 KB per record at most): old ones drop first."""


def encode(vectors: Vectors) -> dict[str, str]:
    """int8 rows with a float32 scale each, base64: the stored form of a matrix."""
    scale = np.maximum(np.abs(vectors).max(axis=1), 1e-12) / 127.0
    quantised = np.round(vectors / scale[:, None]).astype(np.int8)
    return {
        "q": base64.b64encode(quantised.tobytes()).decode(),
        "s": base64.b64encode(scale.astype(np.float32).tobytes()).decode(),
    }


def decode(stored: dict[str, str]) -> Vectors:
    """Unit rows back from :func:`encode` (re-normalised after dequantising)."""
    scale = np.frombuffer(base64.b64decode(stored["s"]), dtype=np.float32)
    rows = np.frombuffer(base64.b64decode(stored["q"]), dtype=np.int8).reshape(-1, DIMENSIONS)
    vectors = rows.astype(np.float32) * scale[:, None]
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors


def _kind(record: ExecutionRecorded) -> str | None:
    """Which memory the record's intent goes to; None for a broken tool, which says nothing
    about which intents it fits, and for a record without text."""
    if not record.intent_text:
        return None
    if record.ok:
        return "ok"
    return "misfit" if is_misfit(record) else None


def texts_to_embed(records: Iterable[ExecutionRecorded]) -> list[str]:
    """The distinct intent texts :func:`apply_batch` will embed for ``records``: the learner
    embeds them ahead, off the event loop, and hands them over as ``embedded``."""
    return list(dict.fromkeys(r.intent_text for r in records if _kind(r) is not None))


def apply_batch(
    store: Store,
    records: Iterable[ExecutionRecorded],
    encoder: TextEncoder,
    config: ExemplarConfig,
    embedded: Mapping[str, Vectors] | None = None,
) -> None:
    """Append the records' intents to their tools' ok or misfit memory, one write per tool.

    Texts in ``embedded`` are taken from it; ``encoder`` embeds the others."""
    added: dict[tuple[str, str], list[str]] = {}
    for record in records:
        kind = _kind(record)
        if kind is not None:
            added.setdefault((record.tool, kind), []).append(record.intent_text)
    if not added:
        return
    vectors = dict(embedded or {})
    texts = [t for t in dict.fromkeys(t for new in added.values() for t in new) if t not in vectors]
    vectors.update(zip(texts, encoder.embed(texts), strict=True))
    for tool in dict.fromkeys(tool for tool, _ in added):
        current = store.get(tool)
        out: Record = dict(current) if current is not None else {}
        for kind in KINDS:
            new = added.get((tool, kind))
            if not new:
                continue
            old = decode(out[kind]) if kind in out else np.zeros((0, DIMENSIONS), np.float32)
            both = np.vstack([old, np.stack([vectors[t] for t in new])])[-config.capacity :]
            out[kind] = encode(both)
            out[f"{kind}_seen"] = int(out.get(f"{kind}_seen", 0)) + len(new)
        store[tool] = out


class ExemplarIndex:
    """Decoded exemplars of a tool list, stacked into one matrix per kind.

    A recommendation scores every tool's exemplars at once: one matrix product over the
    stack instead of one per tool (about 200 small ones at MetaTool's size). The stack is
    rebuilt when a tool's stored record changes, and only that tool's rows are decoded again.
    """

    def __init__(self) -> None:
        self._decoded: dict[tuple[str, str], tuple[str, Vectors]] = {}
        self._stacks: dict[tuple[str, tuple[str, ...]], tuple[tuple[str | None, ...], _Stack]] = {}

    def _vectors(self, tool: str, kind: str, stored: dict[str, str] | None) -> Vectors:
        if stored is None:
            return np.zeros((0, DIMENSIONS), np.float32)
        cached = self._decoded.get((tool, kind))
        if cached is not None and cached[0] == stored["q"]:
            return cached[1]
        vectors = decode(stored)
        self._decoded[(tool, kind)] = (stored["q"], vectors)
        return vectors

    def _stack(self, kind: str, tools: tuple[str, ...], records: Sequence[Record | None]) -> _Stack:
        stored = [r.get(kind) if r is not None else None for r in records]
        # Records are replaced, never mutated (learning.state), so an unchanged record hands
        # back the very same string: the comparison below is by identity, not by content.
        stamps = tuple(s["q"] if s is not None else None for s in stored)
        cached = self._stacks.get((kind, tools))
        if cached is not None and cached[0] == stamps:
            return cached[1]
        per_tool = [self._vectors(tool, kind, s) for tool, s in zip(tools, stored, strict=True)]
        sizes = np.array([len(v) for v in per_tool], dtype=np.int64)
        stack = _Stack(
            np.concatenate(per_tool) if sizes.sum() else np.zeros((0, DIMENSIONS), np.float32),
            np.repeat(np.arange(len(tools)), sizes),
        )
        if len(self._stacks) > 8:  # tool lists change rarely; keep a few, not all ever seen
            self._stacks.clear()
        self._stacks[(kind, tools)] = (stamps, stack)
        return stack

    def log_fit(
        self,
        store: Store,
        query: Vectors,
        tools: Sequence[str],
        log_prior: npt.NDArray[np.float64],
        config: ExemplarConfig,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Per tool: (log-fit of ``query``, ok votes, misfit penalty): see the module docstring."""
        names = tuple(tools)
        records = [store.get(tool) for tool in names]
        ok, against = (
            _votes(self._stack(kind, names, records), len(names), query, config) for kind in KINDS
        )
        prior = (1.0 - config.prior_uniform) * np.exp(log_prior) + config.prior_uniform / len(tools)
        fit = config.prior_votes * prior + ok
        penalty = config.misfit_weight * np.log1p(against / fit)
        return np.log(fit) - penalty, ok, penalty


@dataclass(frozen=True)
class _Stack:
    """Every tool's exemplars of one kind, one row each, and the index of the tool it is of."""

    vectors: Vectors
    owner: npt.NDArray[np.int64]


def _votes(
    stack: _Stack, n_tools: int, query: Vectors, config: ExemplarConfig
) -> npt.NDArray[np.float64]:
    """Kernel-weighted votes per tool from the ``neighbours`` nearest rows over all tools."""
    out = np.zeros(n_tools)
    if not len(stack.vectors):
        return out
    similarity = stack.vectors @ query
    k = min(config.neighbours, similarity.size)
    nearest = np.argpartition(-similarity, k - 1)[:k]
    weights = np.exp((similarity[nearest] - 1.0) / config.width)
    np.add.at(out, stack.owner[nearest], weights)
    return out
