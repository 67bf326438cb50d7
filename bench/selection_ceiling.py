"""What a selection split allows with *every* training label known: word kNN and the learner.

    python -m bench.selection_ceiling --split queries.csv --test-fraction 0.2 --seed 0
    python -m bench.selection_ceiling --train train.csv --test test.csv [--tools tools.json]

No partial feedback here: every training query's labelled tool is known, which is more than
``bench.selection`` lets the learner see. Two methods:

* kNN: the queries as the same stemmed words the recommender uses
  (``learning.text.unique_terms``), weighted by IDF and compared by cosine; a tool's score is
  the summed similarity of its labelled queries among the ``k`` nearest.
* with ``--tools``, Toolwise's own learner and recommender, fed one success per training query
  for its labelled tool: what the learned model reaches once feedback is no longer partial.
  It uses the sentence-embedding model when installed, like ``bench.selection`` (and words
  only with ``--words-only``).

Together with ``bench.selection`` they split the gap to a target into what partial feedback
costs and what the word model costs. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.selection import (
    Example,
    accuracy,
    add_example_arguments,
    encoder_for,
    examples,
    load_tools,
)
from learning import LearningState, Recommender, context_key, update
from learning.embedding import TextEncoder
from learning.text import unique_terms
from models.events import ExecutionRecorded
from models.tools import ToolSpec

Matrix = npt.NDArray[np.float32]


def tfidf(queries: Sequence[str], vocabulary: dict[str, int], idf: Matrix) -> Matrix:
    """Unit-length IDF-weighted bag of stemmed words, one row per query."""
    out = np.zeros((len(queries), len(vocabulary)), dtype=np.float32)
    for row, query in enumerate(queries):
        for term in unique_terms(query):
            column = vocabulary.get(term)
            if column is not None:
                out[row, column] = idf[column]
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    out /= np.where(norms == 0, 1, norms)
    return out


def knn_accuracy(
    train: Sequence[Example], test: Sequence[Example], ks: Sequence[int]
) -> dict[int, tuple[float, float]]:
    """Top-1 and top-5 accuracy of similarity-weighted kNN voting, per k."""
    vocabulary: dict[str, int] = {}
    document_frequency: dict[int, int] = {}
    for query, _ in train:
        for term in unique_terms(query):
            column = vocabulary.setdefault(term, len(vocabulary))
            document_frequency[column] = document_frequency.get(column, 0) + 1
    df = np.array([document_frequency[c] for c in range(len(vocabulary))], dtype=np.float32)
    idf = np.log((len(train) + 1) / (df + 1)) + 1
    tools = sorted({tool for _, tool in [*train, *test]})
    index = {tool: i for i, tool in enumerate(tools)}
    train_labels = np.array([index[tool] for _, tool in train])
    test_labels = np.array([index[tool] for _, tool in test])
    similarity = (
        tfidf([q for q, _ in test], vocabulary, idf)
        @ tfidf([q for q, _ in train], vocabulary, idf).T
    )
    rows = np.arange(len(test))
    results: dict[int, tuple[float, float]] = {}
    for k in ks:
        nearest = np.argpartition(-similarity, k, axis=1)[:, :k]
        votes = np.zeros((len(test), len(tools)))
        for j in range(k):
            np.add.at(votes, (rows, train_labels[nearest[:, j]]), similarity[rows, nearest[:, j]])
        ranked = np.argsort(-votes, axis=1)[:, :5]
        top1 = float((ranked[:, 0] == test_labels).mean())
        top5 = float((ranked == test_labels[:, None]).any(axis=1).mean())
        results[k] = (top1, top5)
    return results


def learner_accuracy(
    tools: Sequence[ToolSpec],
    train: Sequence[Example],
    test: Sequence[Example],
    encoder: TextEncoder | None = None,
    batch: int = 32,
) -> tuple[float, float]:
    """Top-1 and top-5 of the recommender after one success record per labelled query."""
    state = LearningState()
    records = [
        ExecutionRecorded(
            intent_id=f"q{i}",
            call_id=f"q{i}",
            tool=tool,
            attempt=1,
            ok=True,
            started_at=float(i),
            occurred_at=float(i),
            latency_ms=0.0,
            context_key=context_key(query),
            intent_text=query,
            choice_probability=1.0,
            strategy="full-labels",
        )
        for i, (query, tool) in enumerate(train)
    ]
    for start in range(0, len(records), batch):
        update(state, records[start : start + batch], encoder=encoder)
    return accuracy(Recommender(encoder=encoder), tools, state, test)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_example_arguments(parser, "CSV query,tool (labels all known)")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5, 10, 20])
    parser.add_argument("--tools", type=Path, help="JSON tool -> description: also run the learner")
    args = parser.parse_args(argv)
    train, test = examples(args, parser)
    results = knn_accuracy(train, test, args.k)
    for k, (top1, top5) in results.items():
        print(f"full-label kNN k={k}: top-1 {top1:.3f}, top-5 {top5:.3f}")
    best = max(results, key=lambda k: results[k])
    summary: dict[str, object] = {
        "knn_best_k": best,
        "knn_top1": round(results[best][0], 4),
        "knn_top5": round(results[best][1], 4),
        "n_train": len(train),
        "n_test": len(test),
    }
    if args.tools is not None:
        tools = load_tools(args.tools)
        encoder = encoder_for(args, tools, train, test)
        top1, top5 = learner_accuracy(tools, train, test, encoder)
        print(f"full-label Toolwise learner: top-1 {top1:.3f}, top-5 {top5:.3f}")
        summary.update(
            learner_top1=round(top1, 4),
            learner_top5=round(top5, 4),
            text_model=encoder.name if encoder else "words",
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
