"""The recommender's own cost: milliseconds per ``recommend()`` at a catalogue's size.

    python -m bench.recommend --tools tools.json --split queries.csv [--stream 6000] [--calls 400]
        [--catalogue-size 2000]

Streams ``--stream`` training queries with partial feedback, as ``bench.selection`` does, so
the tables hold what a worker would have learned; then times ``--calls`` recommendations of
held-out queries, ``--repeats`` times over. Every query is embedded up front, so the figure is
the ranking alone; the text model's own cost per intent is in ``bench.pipeline``. Each call is
timed in wall-clock and in the process's CPU time (``cpu_*``): on cores shared with other
programs the wall-clock figures drift several-fold, the CPU time much less. The last line
printed is one JSON object.

``--catalogue-size N`` adds synthetic tools up to N in all, to see how the cost grows with the
catalogue: each is named ``Synth<i>`` and described by the first half of one real tool's
description and the second half of another's (seeded), so it competes for the queries as a
plausible distractor. They are registered from the start and take part in the stream.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.host import host
from bench.selection import (
    add_example_arguments,
    encoder_for,
    examples,
    load_tools,
    recall_config,
    stream,
)
from learning import BatchPolicy, LearningState, Recommender
from learning.exemplars import KINDS, decode
from models.tools import ToolSpec


def synthetic_tools(real: Sequence[ToolSpec], n: int, seed: int) -> list[ToolSpec]:
    """``n`` distractor tools mixing two real descriptions each (see the module docstring)."""
    rng = np.random.default_rng(seed + 3)
    made = []
    for i in range(max(n, 0)):
        first, second = (real[int(j)].description.split() for j in rng.choice(len(real), 2))
        words = first[: len(first) // 2] + second[len(second) // 2 :]
        name = f"Synth{i:04d}"
        made.append(ToolSpec(name=name, server="bench", tool=name, description=" ".join(words)))
    return made


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tools", type=Path, required=True, help="JSON object: tool -> description"
    )
    add_example_arguments(parser, "CSV query,tool streamed as feedback")
    parser.add_argument("--stream", type=int, default=6000, help="training queries streamed first")
    parser.add_argument("--calls", type=int, default=400, help="recommendations timed per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument(
        "--catalogue-size", type=int, default=0,
        help="add synthetic tools up to this many tools in all (0: the real ones only)",
    )  # fmt: skip
    args = parser.parse_args(argv)

    tools = load_tools(args.tools)
    tools += synthetic_tools(tools, args.catalogue_size - len(tools), args.seed)
    train, test = examples(args, parser)
    train, test = train[: args.stream], test[: args.calls]
    if not test:
        parser.error("no held-out queries to time")
    encoder = encoder_for(args, tools, train, test)
    recommender = Recommender(encoder=encoder, recall=recall_config(args))
    state = LearningState()
    started = time.perf_counter()
    stream(recommender, tools, state, train, seed=args.seed, batch=BatchPolicy(), tries=1)
    print(f"streamed {len(train)} queries in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)  # fmt: skip

    queries = [query for query, _ in test]
    for query in queries[:20]:  # warm the description index and the decoded exemplars
        recommender.recommend(query, None, tools, state, top_k=args.top_k)
    repeats: list[dict[str, float]] = []
    for _ in range(args.repeats):
        rng = np.random.default_rng(args.seed)
        times_ms, cpu_ms = [], []
        for query in queries:
            begun, begun_cpu = time.perf_counter(), time.process_time()
            recommender.recommend(query, None, tools, state, top_k=args.top_k, rng=rng)
            cpu_ms.append((time.process_time() - begun_cpu) * 1000.0)
            times_ms.append((time.perf_counter() - begun) * 1000.0)
        times_ms.sort()
        cpu_ms.sort()
        # CPU time of the process: what a call costs, less sensitive than wall-clock time to
        # other programs sharing the cores (the wall-clock figures drift with them).
        repeats.append({
            "mean_ms": round(statistics.fmean(times_ms), 2),
            "p50_ms": round(times_ms[len(times_ms) // 2], 2),
            "p95_ms": round(times_ms[int(len(times_ms) * 0.95)], 2),
            "cpu_mean_ms": round(statistics.fmean(cpu_ms), 2),
            "cpu_p50_ms": round(cpu_ms[len(cpu_ms) // 2], 2),
        })  # fmt: skip
        print(f"recommend(): {repeats[-1]}", file=sys.stderr)
    result = {
        "repeats": repeats,
        "n_tools": len(tools),
        "n_streamed": len(train),
        "n_calls": len(queries),
        "exemplar_rows": sum(
            len(decode(record[kind]))
            for record in state.exemplars.values()
            for kind in KINDS
            if kind in record
        ),
        "text_model": encoder.name if encoder else "words",
        "recall": {"candidates": args.candidates, **recommender.recall_stats.as_dict()},
        "machine": host(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
