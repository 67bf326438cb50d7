"""A static text model distilled from the sentence model: one vector per word piece, averaged.

model2vec's recipe (Tulkens and van Dongen, 2024): every token of MiniLM's vocabulary goes
through MiniLM on its own (``[CLS] token [SEP]``, mean-pooled), the vectors are rotated by PCA
and weighted by SIF over a Zipf estimate of each token's frequency (its rank in the vocabulary);
a text's embedding is the normalised mean of its tokens' vectors. No transformer runs per
intent. model2vec's own distillation needs PyTorch, which is not installed here, so the token
forward passes use Toolwise's numpy MiniLM (``learning.embedding``); model2vec's
``StaticModel`` encodes. The PCA keeps all 384 dimensions, so stored exemplars keep their shape
(but not their meaning: a learned state is rebuilt with ``toolwise replay`` when the text
model changes).

Distilling takes one forward pass per token (about 30,000, in batches): it is done once and
kept in a cache folder (``distilled``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from learning.embedding import DIMENSIONS, Encoder, Vectors

log = logging.getLogger(__name__)

# model2vec's defaults: SIF coefficient 1e-4, and [unusedN] placeholders left out.
SIF_COEFFICIENT = 1e-4
_UNUSED = re.compile(r"^\[unused\d+\]$")
# Tokens per forward batch while distilling: sequences of 3 ids, so a large batch is cheap.
_DISTILL_BATCH = 512
_FORMAT = 1  # bump when the recipe changes, so cached models are distilled again


def token_vectors(encoder: Encoder) -> tuple[Vectors, np.ndarray]:
    """(vector of every vocabulary token, mask of the tokens kept), before PCA and weights."""
    tokenizer = encoder.tokenizer
    vocab: dict[str, int] = tokenizer.get_vocab()
    size = max(vocab.values()) + 1
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    kept = np.zeros(size, dtype=bool)
    for token, index in vocab.items():
        kept[index] = not _UNUSED.match(token) and token not in ("[PAD]", "[CLS]", "[SEP]")
    vectors = np.zeros((size, DIMENSIONS), dtype=np.float32)
    ids = np.flatnonzero(kept)
    for start in range(0, len(ids), _DISTILL_BATCH):
        chunk = ids[start : start + _DISTILL_BATCH]
        sequences = [[cls, int(i), sep] for i in chunk]
        vectors[chunk] = encoder.forward_ids(sequences, normalize=False)
    return vectors, kept


def post_process(vectors: Vectors, kept: np.ndarray) -> Vectors:
    """PCA over the kept tokens (all dimensions kept), then SIF weights by Zipf rank."""
    rows = vectors[kept].astype(np.float64)
    mean = rows.mean(axis=0)
    centred = rows - mean
    covariance = centred.T @ centred / max(1, len(rows) - 1)
    _, eigenvectors = np.linalg.eigh(covariance)
    rotated = centred @ eigenvectors[:, ::-1]
    rank = np.arange(2, len(rows) + 2, dtype=np.float64)
    probability = (1.0 / rank) / np.sum(1.0 / rank)
    weight = SIF_COEFFICIENT / (SIF_COEFFICIENT + probability)
    out = np.zeros_like(vectors)
    out[kept] = (rotated * weight[:, None]).astype(np.float32)
    return out


class StaticEncoder:
    """``embed(texts)`` like ``learning.embedding.Encoder``, from distilled token vectors."""

    def __init__(self, model: Any, name: str) -> None:
        self._model = model
        self.name = name

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        encoded = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        norms = np.linalg.norm(encoded, axis=1, keepdims=True)
        out: Vectors = encoded / np.maximum(norms, 1e-12)
        return out


def _fingerprint(encoder: Encoder) -> str:
    """Which model (and recipe) the cached distillation came from."""
    digest = hashlib.sha256(f"{_FORMAT}:{encoder.name}".encode())
    digest.update(encoder.tokenizer.to_str().encode())
    return digest.hexdigest()[:16]


def distilled(encoder: Encoder, cache_dir: Path) -> StaticEncoder:
    """The static model distilled from ``encoder``, from ``cache_dir`` or made and kept there."""
    from model2vec import StaticModel  # a dependency of this text model only

    folder = cache_dir / f"static-{encoder.name}-{_fingerprint(encoder)}"
    name = f"static-{encoder.name}"
    if (folder / "config.json").is_file():
        return StaticEncoder(StaticModel.from_pretrained(folder), name)
    log.warning("distilling a static text model from %s into %s (once)", encoder.name, folder)
    vectors, kept = token_vectors(encoder)
    model = StaticModel(
        vectors=post_process(vectors, kept),
        tokenizer=encoder.tokenizer,
        config={
            "sif_coefficient": SIF_COEFFICIENT,
            "apply_pca": DIMENSIONS,
            "distilled_from": encoder.name,
        },
        normalize=True,
    )
    tmp = folder.with_name(folder.name + ".tmp")
    model.save_pretrained(tmp)
    (tmp / "toolwise.json").write_text(json.dumps({"format": _FORMAT, "from": encoder.name}))
    tmp.replace(folder)
    return StaticEncoder(model, name)
