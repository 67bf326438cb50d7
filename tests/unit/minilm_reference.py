"""all-MiniLM-L6-v2 in plain numpy: the reference the ONNX graph is checked against.

This was the production forward pass until onnxruntime replaced it (issue 12); it is written
straight from BERT's definition, independently of ``learning.minilm_graph``, so that a wrong
node in the graph (a transposed weight, a missing mask) shows as a different embedding. GELU is
the erf form here, as in BERT and in the graph.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

Array = np.ndarray


def reference_embed(folder: Path, texts: Sequence[str], max_tokens: int = 128) -> Array:
    w = {
        k.removeprefix("bert."): v.astype(np.float64)
        for k, v in load_file(str(folder / "model.safetensors")).items()
    }
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(max_tokens)
    tokenizer.no_padding()
    rows = []
    for text in texts:
        ids = np.array(tokenizer.encode(text).ids)
        x = w["embeddings.word_embeddings.weight"][ids]
        x = x + w["embeddings.position_embeddings.weight"][: len(ids)]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = _norm(x, w, "embeddings.LayerNorm")
        for layer in range(6):
            p = f"encoder.layer.{layer}."
            heads = []
            q, k, v = (_linear(x, w, f"{p}attention.self.{n}") for n in ("query", "key", "value"))
            for h in range(12):
                part = slice(32 * h, 32 * (h + 1))
                scores = q[:, part] @ k[:, part].T / math.sqrt(32)
                scores = np.exp(scores - scores.max(axis=1, keepdims=True))
                heads.append(scores / scores.sum(axis=1, keepdims=True) @ v[:, part])
            attended = _linear(np.concatenate(heads, axis=1), w, p + "attention.output.dense")
            x = _norm(attended + x, w, p + "attention.output.LayerNorm")
            hidden = _linear(x, w, p + "intermediate.dense")
            hidden = 0.5 * hidden * (1.0 + np.vectorize(math.erf)(hidden / math.sqrt(2.0)))
            x = _norm(_linear(hidden, w, p + "output.dense") + x, w, p + "output.LayerNorm")
        pooled = x.mean(axis=0)
        rows.append(pooled / np.linalg.norm(pooled))
    return np.array(rows)


def _linear(x: Array, w: dict[str, Array], name: str) -> Array:
    return x @ w[name + ".weight"].T + w[name + ".bias"]


def _norm(x: Array, w: dict[str, Array], name: str) -> Array:
    centred = x - x.mean(axis=-1, keepdims=True)
    scaled = centred / np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + 1e-12)
    return scaled * w[name + ".weight"] + w[name + ".bias"]
