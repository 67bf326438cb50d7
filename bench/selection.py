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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench import embedding_cache, new_tools
from learning import Batcher, BatchPolicy, LearningState, Recommender, context_key, update
from learning.embedding import Encoder, load_encoder
from learning.recall import RecallConfig
from learning.text import DescriptionIndex
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
    hits = ranked_hits(recommender, tools, state, test)
    if missed is not None:
        missed.extend(label for (_, label), (_, top5) in zip(test, hits, strict=True) if not top5)
    n = max(len(test), 1)
    return sum(h[0] for h in hits) / n, sum(h[1] for h in hits) / n


def ranked_hits(
    recommender: Recommender,
    tools: Sequence[ToolSpec],
    state: LearningState,
    test: Sequence[Example],
) -> list[tuple[bool, bool]]:
    """Per test query: is its label first, and among the first five, of the greedy ranking."""
    hits = []
    for query, label in test:
        ranked = [
            r.tool for r in recommender.recommend(query, None, tools, state, top_k=5, explore=False)
        ]
        hits.append((bool(ranked) and ranked[0] == label, label in ranked))
    return hits


@dataclass
class Online:
    """What the stream's own rankings did, intent by intent, in stream order."""

    steps: list[int] = field(default_factory=list)  # position in the stream's order
    labels: list[str] = field(default_factory=list)
    first_try: list[bool] = field(default_factory=list)  # the first tool tried was the label
    top5: list[bool] = field(default_factory=list)  # the label was in the ranking's first five


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
    registered_at: Mapping[str, int] | None = None,
    online: Online | None = None,
) -> float:
    """Feed ``train`` as intents with partial feedback; return the online success rate.

    ``found`` counts, per labelled tool, the intents on which one of the tries was it.
    ``registered_at`` names tools that join the catalogue only at that step of the stream;
    until then they are not offered, and intents labelled with them are held out (not
    streamed). ``online`` collects what each streamed intent's ranking got right.
    Learning embeds with the recommender's own encoder, so both see the same vectors."""
    rng = np.random.default_rng(seed)
    batcher: Batcher[ExecutionRecorded] = Batcher(batch)
    order = rng.permutation(len(train))
    late = dict(registered_at or {})
    successes = streamed = 0
    found = found if found is not None else Counter()
    joins, catalogue = set(late.values()), list(tools)
    for step, index in enumerate(order):
        if step == 0 or step in joins:
            catalogue = [t for t in tools if late.get(t.name, 0) <= step]
        query, label = train[int(index)]
        if late.get(label, 0) > step:
            continue  # its tool is not registered yet: held out
        streamed += 1
        now = step * SECONDS_PER_INTENT
        ranked = recommender.recommend(
            query, None, catalogue, state, top_k=max(tries, 5), rng=rng, now=now
        )
        if online is not None:
            online.steps.append(step)
            online.labels.append(label)
            online.first_try.append(bool(ranked) and ranked[0].tool == label)
            online.top5.append(label in [r.tool for r in ranked[:5]])
        key = context_key(query)
        for attempt, choice in enumerate(ranked[:tries], start=1):
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
    return successes / max(streamed, 1)


def add_example_arguments(parser: argparse.ArgumentParser, train_help: str) -> None:
    """--train/--test or --split/--test-fraction/--seed: where the labelled queries come from."""
    parser.add_argument("--train", type=Path, help=train_help)
    parser.add_argument("--test", type=Path, help="CSV query,tool held out for accuracy")
    parser.add_argument("--split", type=Path, help="one CSV to split into train and test instead")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    add_text_model_argument(parser)
    parser.add_argument(
        "--candidates", type=int, default=RecallConfig.candidates,
        help="tools given the full model and the draws first (0: all of them)",
    )  # fmt: skip
    parser.add_argument(
        "--embedding-cache", type=Path, default=embedding_cache.DEFAULT_DIR,
        help="folder of a file with the queries' embeddings from earlier runs (same model)",
    )  # fmt: skip
    parser.add_argument("--no-embedding-cache", action="store_true", help="embed every query again")


def recall_config(args: argparse.Namespace) -> RecallConfig:
    """--candidates: how many tools get the full model first (0: every tool, one stage)."""
    return RecallConfig(candidates=args.candidates or 1_000_000)


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
) -> Encoder | None:
    """The sentence encoder (None with --words-only or when not installed), with every query
    and tool description embedded up front in batches, which is faster than one at a time."""
    if args.words_only:
        return None
    queries = [DescriptionIndex.sentence(t.name, t.description, t.keywords) for t in tools]
    queries = list(dict.fromkeys([*queries, *(q for part in texts for q, _ in part)]))
    encoder = load_encoder(cache_size=len(queries) + 16)
    if encoder is None:
        return None
    cache = None
    if not args.no_embedding_cache:
        cache = embedding_cache.path_for(encoder, args.embedding_cache)
        found = embedding_cache.load(encoder, queries, cache)
        print(f"{found}/{len(queries)} texts' embeddings read from {cache}", file=sys.stderr)
    started = time.perf_counter()
    step = 1024
    for start in range(0, len(queries), step):
        encoder.embed(queries[start : start + step])
        done = min(start + step, len(queries))
        rate = done / (time.perf_counter() - started)
        print(f"embedded {done}/{len(queries)} texts ({rate:.0f}/s)", file=sys.stderr)
    if cache is not None:
        embedding_cache.save(encoder, queries, cache)
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
    parser.add_argument(
        "--new-tools", type=int, default=0,
        help="this many tools (seeded choice) join only halfway through the stream; their "
        "intents are held out until then",
    )  # fmt: skip
    args = parser.parse_args(argv)

    tools = load_tools(args.tools)
    train, test = examples(args, parser)
    if args.dev_fraction > 0:
        train, test = split(train, args.dev_fraction, args.seed + 1)

    started = time.perf_counter()
    encoder = encoder_for(args, tools, train, test)
    recommender = Recommender(encoder=encoder, recall=recall_config(args))
    state = LearningState()
    cold_top1, cold_top5 = accuracy(recommender, tools, state, test)
    print(f"cold start: top-1 {cold_top1:.3f}, top-5 {cold_top5:.3f}", file=sys.stderr)
    batch = BatchPolicy(max_records=args.batch_size, max_wait_s=args.batch_wait)
    found: Counter[str] = Counter()
    joining = new_tools.choose(tools, train, args.new_tools, args.seed)
    half = len(train) // 2
    log = Online()
    online = stream(
        recommender, tools, state, train, seed=args.seed, batch=batch, tries=args.tries,
        found=found, registered_at=dict.fromkeys(joining, half), online=log,
    )  # fmt: skip
    hits = ranked_hits(recommender, tools, state, test)
    missed = [label for (_, label), (_, top5) in zip(test, hits, strict=True) if not top5]
    learned_top1 = sum(h[0] for h in hits) / max(len(test), 1)
    learned_top5 = sum(h[1] for h in hits) / max(len(test), 1)
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
        "recall": {"candidates": args.candidates, **recommender.recall_stats.as_dict()},
        "seed": args.seed,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if joining:
        result["new_tools"] = new_tools.report(
            joining, half, log.steps, log.labels, log.first_try, log.top5,
            [label for _, label in test], hits, len(train) - len(log.steps),
        )  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
