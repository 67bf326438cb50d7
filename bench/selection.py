"""Tool-selection benchmark: cold-start and outcome-learned accuracy on labelled queries.

    python -m bench.selection --tools tools.json --train train.csv --test test.csv
    python -m bench.selection --tools tools.json --split queries.csv --test-fraction 0.2 --seed 0

``tools.json`` maps tool name -> description; the CSVs have columns ``query,tool``. Training
queries are streamed as intents: the learner's choice (a Thompson draw) succeeds only if it is
the labelled tool, and only that outcome is recorded (partial feedback). Accuracy is measured on
the test queries, never streamed. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from learning import Batcher, BatchPolicy, LearningState, Recommender, context_key, update
from learning.embedding import TextEncoder, load_encoder
from models.events import ExecutionRecorded
from models.tools import ErrorKind, ToolSpec

Example = tuple[str, str]  # (query, labelled tool)

# One simulated second between intents: a steady stream, slow enough that the default
# --batch-wait of 60 s and --batch-size of 32 both bound batches.
SECONDS_PER_INTENT = 1.0
RARELY_FOUND = 5  # a tool found for fewer streamed intents has almost no learned exemplars


def load_tools(path: Path) -> list[ToolSpec]:
    raw: dict[str, str] = json.loads(path.read_text())
    return [
        ToolSpec(name=name, server="bench", tool=name, description=description)
        for name, description in raw.items()
    ]


def load_examples(path: Path) -> list[Example]:
    with path.open(newline="") as handle:
        return [(row["query"], row["tool"]) for row in csv.DictReader(handle)]


def split(
    examples: Sequence[Example], fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """(train, test): a seeded permutation, the first ``fraction`` of it is the test part."""
    order = np.random.default_rng(seed).permutation(len(examples))
    n_test = round(fraction * len(examples))
    test = [examples[i] for i in order[:n_test]]
    train = [examples[i] for i in order[n_test:]]
    return train, test


def accuracy(
    recommender: Recommender,
    tools: Sequence[ToolSpec],
    state: LearningState,
    test: Sequence[Example],
    missed: list[str] | None = None,
) -> tuple[float, float]:
    """Top-1 and top-5 accuracy of the greedy (no exploration) ranking; the labels of top-5
    misses are appended to ``missed`` when given."""
    top1 = top5 = 0
    for query, label in test:
        ranked = [
            r.tool for r in recommender.recommend(query, None, tools, state, top_k=5, explore=False)
        ]
        top1 += bool(ranked) and ranked[0] == label
        top5 += label in ranked
        if missed is not None and label not in ranked:
            missed.append(label)
    n = max(len(test), 1)
    return top1 / n, top5 / n


def stream(
    recommender: Recommender,
    tools: Sequence[ToolSpec],
    state: LearningState,
    train: Sequence[Example],
    *,
    seed: int,
    batch: BatchPolicy,
    tries: int,
    found: Counter[str] | None = None,
) -> float:
    """Feed ``train`` as intents with partial feedback; return the online success rate.

    ``found`` counts, per labelled tool, the intents on which one of the tries was it.
    Learning embeds with the recommender's own encoder, so both see the same vectors."""
    rng = np.random.default_rng(seed)
    batcher: Batcher[ExecutionRecorded] = Batcher(batch)
    order = rng.permutation(len(train))
    successes = 0
    found = found if found is not None else Counter()
    for step, index in enumerate(order):
        query, label = train[int(index)]
        now = step * SECONDS_PER_INTENT
        ranked = recommender.recommend(query, None, tools, state, top_k=tries, rng=rng, now=now)
        key = context_key(query)
        for attempt, choice in enumerate(ranked, start=1):
            ok = choice.tool == label
            successes += ok and attempt == 1
            found[label] += ok
            record = ExecutionRecorded(
                intent_id=f"q{step}",
                call_id=f"q{step}",
                tool=choice.tool,
                attempt=attempt,
                ok=ok,
                error_kind=None if ok else ErrorKind.INVALID_ARGUMENTS,
                started_at=now,
                occurred_at=now,
                latency_ms=0.0,
                context_key=key,
                intent_text=query,
                choice_probability=choice.probability,
                strategy="bench-selection",
            )
            ready = batcher.add(record, now)
            if ready:
                update(state, ready, encoder=recommender.encoder)
            if ok:
                break
    update(state, batcher.flush(), encoder=recommender.encoder)
    return successes / max(len(train), 1)


def add_example_arguments(parser: argparse.ArgumentParser, train_help: str) -> None:
    """--train/--test or --split/--test-fraction/--seed: where the labelled queries come from."""
    parser.add_argument("--train", type=Path, help=train_help)
    parser.add_argument("--test", type=Path, help="CSV query,tool held out for accuracy")
    parser.add_argument("--split", type=Path, help="one CSV to split into train and test instead")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    add_text_model_argument(parser)


def add_text_model_argument(parser: argparse.ArgumentParser) -> None:
    """--words-only: rank as ``TOOLWISE_TEXT_MODEL=words`` does, even with the model installed."""
    parser.add_argument(
        "--words-only", action="store_true",
        help="rank without the sentence-embedding model even when it is installed",
    )  # fmt: skip


def examples(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> tuple[list[Example], list[Example]]:
    """(train, test) as the arguments of ``add_example_arguments`` name them."""
    if args.split is not None:
        return split(load_examples(args.split), args.test_fraction, args.seed)
    if args.train is not None and args.test is not None:
        return load_examples(args.train), load_examples(args.test)
    parser.error("give --train and --test, or --split")


def encoder_for(
    args: argparse.Namespace, tools: Sequence[ToolSpec], *texts: Sequence[Example]
) -> TextEncoder | None:
    """The sentence encoder (None with --words-only or when not installed), with every query
    embedded up front in batches, which is faster than one at a time."""
    if args.words_only:
        return None
    queries = list(dict.fromkeys(q for part in texts for q, _ in part))
    encoder = load_encoder(cache_size=len(queries) + len(tools) + 16)
    if encoder is None:
        return None
    started = time.perf_counter()
    step = 1024
    for start in range(0, len(queries), step):
        encoder.embed(queries[start : start + step])
        done = min(start + step, len(queries))
        rate = done / (time.perf_counter() - started)
        print(f"embedded {done}/{len(queries)} queries ({rate:.0f}/s)", file=sys.stderr)
    return encoder


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tools", type=Path, required=True, help="JSON object: tool -> description"
    )
    add_example_arguments(parser, "CSV query,tool streamed as feedback")
    parser.add_argument(
        "--dev-fraction", type=float, default=0.0,
        help="evaluate on this held-out part of train instead (for tuning)",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=32, help="records per learning batch")
    parser.add_argument("--batch-wait", type=float, default=60.0, help="max simulated seconds")
    parser.add_argument("--tries", type=int, default=1,
                        help="tools tried per intent (1 = strict partial feedback)")  # fmt: skip
    args = parser.parse_args(argv)

    tools = load_tools(args.tools)
    train, test = examples(args, parser)
    if args.dev_fraction > 0:
        train, test = split(train, args.dev_fraction, args.seed + 1)

    started = time.perf_counter()
    encoder = encoder_for(args, tools, train, test)
    recommender = Recommender(encoder=encoder)
    state = LearningState()
    cold_top1, cold_top5 = accuracy(recommender, tools, state, test)
    print(f"cold start: top-1 {cold_top1:.3f}, top-5 {cold_top5:.3f}", file=sys.stderr)
    batch = BatchPolicy(max_records=args.batch_size, max_wait_s=args.batch_wait)
    found: Counter[str] = Counter()
    online = stream(
        recommender, tools, state, train, seed=args.seed, batch=batch, tries=args.tries, found=found
    )
    missed: list[str] = []
    learned_top1, learned_top5 = accuracy(recommender, tools, state, test, missed)
    print(f"learned: top-1 {learned_top1:.3f}, top-5 {learned_top5:.3f}", file=sys.stderr)
    result = {
        "cold_top1": round(cold_top1, 4),
        "cold_top5": round(cold_top5, 4),
        "learned_top1": round(learned_top1, 4),
        "learned_top5": round(learned_top5, 4),
        "online_success": round(online, 4),
        # Partial feedback learns a tool only where one of the tries picked it:
        "found_within_tries": round(sum(found.values()) / max(len(train), 1), 4),
        "top5_misses": len(missed),
        f"top5_misses_tool_found_under_{RARELY_FOUND}_times": sum(
            found[label] < RARELY_FOUND for label in missed
        ),
        "n_train": len(train),
        "n_test": len(test),
        "n_tools": len(tools),
        "tries_per_intent": args.tries,
        "text_model": encoder.name if encoder else "words",
        "seed": args.seed,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
