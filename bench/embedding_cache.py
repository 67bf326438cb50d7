"""Sentence embeddings the benchmarks computed before, kept in a file so a rerun skips the model.

Embedding MetaTool's 16,426 queries takes ~6 minutes on 2 cores (more when the cores are
shared); every selection or recommend run needs them. The file is named after the model
folder and a digest of its weights and tokenizer, so another model never reads it. It lives
under ``.toolwise/embeddings/`` (not in git).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from learning.embedding import Encoder

DEFAULT_DIR = Path(".toolwise/embeddings")
_CHUNK = 1 << 20


def fingerprint(encoder: Encoder) -> str:
    """12 hex digits of BLAKE2b over the model's weights and tokenizer files."""
    digest = hashlib.blake2b(digest_size=6)
    for name in ("model.safetensors", "tokenizer.json"):
        with (encoder.folder / name).open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def path_for(encoder: Encoder, directory: Path) -> Path:
    return directory / f"{encoder.name}-{fingerprint(encoder)}.npz"


def load(encoder: Encoder, texts: Sequence[str], path: Path) -> int:
    """Preload ``encoder`` with the file's embeddings of ``texts``; how many it held."""
    if not path.is_file():
        return 0
    wanted = set(texts)
    with np.load(path) as stored:
        rows = [(i, str(t)) for i, t in enumerate(stored["texts"]) if str(t) in wanted]
        vectors = stored["vectors"][[i for i, _ in rows]]
    encoder.preload([t for _, t in rows], vectors)
    return len(rows)


def save(encoder: Encoder, texts: Sequence[str], path: Path) -> None:
    """Write the embeddings of ``texts`` (and those already in the file) to ``path``."""
    known: dict[str, np.ndarray] = {}
    if path.is_file():
        with np.load(path) as stored:
            known = dict(zip((str(t) for t in stored["texts"]), stored["vectors"], strict=True))
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    if not missing:
        return
    known.update(zip(missing, encoder.embed(missing), strict=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, texts=np.array(list(known)), vectors=np.stack(list(known.values())))
    partial.replace(path)
