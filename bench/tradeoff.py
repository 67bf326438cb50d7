"""Cost/quality trade-off benchmark: learned tool choice vs a static choice vs the oracle.

    python -m bench.tradeoff --out DIR [--steps 8000 --seed 0] [--words-only]

A synthetic workload of four intent types (declared as ``task``). Tools: one premium
generalist (good everywhere, expensive, slow), one cheap specialist per type (as good as the
premium on its own type, poor elsewhere) and one budget tool (cheap, mediocre). The summarize
specialist degrades (success 95 % -> 20 %) for a window and then recovers. Writes
``DIR/tradeoff.json`` and ``DIR/tradeoff_regret.png``; prints the JSON as its last line.
The recommender ranks as the worker does by default, with the sentence model when it is
installed; ``--words-only`` ranks as ``TOOLWISE_TEXT_MODEL=words`` does.

Baselines: *static* is the single tool with the best average quality over the intent types,
chosen up front (the premium generalist), which is what one picks without per-intent learning;
*oracle* knows every tool's true success, quality, cost and latency at every step and picks the
best utility (the learner's own utility function) per intent.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.selection import add_text_model_argument
from learning import LearningState, Recommender, ScoringConfig, update
from learning.embedding import TextEncoder, load_encoder
from models.events import ExecutionRecorded
from models.tools import ErrorKind, ToolSpec

TASKS = ("summarize", "translate", "extract", "answer")
TEXTS = {
    "summarize": ("Summarize this report", "Give me a short summary of the article", "TL;DR this"),
    "translate": ("Translate this text to French", "Translate the email into German"),
    "extract": ("Extract the table from this PDF", "Pull the invoice fields out of the scan"),
    "answer": ("Answer the question about our docs", "What does the policy say about refunds?"),
}


DESCRIPTIONS = {
    "premium": "Premium assistant: summarize documents, translate text, extract tables and"
    " fields, answer questions.",
    "budget": "Budget assistant for summaries, translation, extraction and questions.",
    "summarize_pro": "Summarize reports, articles and documents.",
    "translate_pro": "Translate text and emails between languages.",
    "extract_pro": "Extract tables and fields from PDF files and scans.",
    "answer_pro": "Answer questions about documents and policies.",
}


@dataclass(frozen=True)
class SimTool:
    name: str
    cost: float
    latency_ms: float
    success: dict[str, float]
    quality: dict[str, float]  # quality of a successful call, per task


def make_tools() -> list[SimTool]:
    tools = [
        SimTool("premium", 0.020, 1200.0, dict.fromkeys(TASKS, 0.97), dict.fromkeys(TASKS, 0.90)),
        SimTool("budget", 0.001, 300.0, dict.fromkeys(TASKS, 0.90), dict.fromkeys(TASKS, 0.55)),
    ]
    for task in TASKS:
        quality = {t: (0.90 if t == task else 0.45) for t in TASKS}
        tools.append(SimTool(f"{task}_pro", 0.004, 400.0, dict.fromkeys(TASKS, 0.97), quality))
    return tools


DRIFTING = "summarize_pro"


def true_success(tool: SimTool, task: str, step: int, drift: tuple[int, int]) -> float:
    if tool.name == DRIFTING and drift[0] <= step < drift[1]:
        return 0.20
    return tool.success[task]


def utility(
    tool: SimTool, task: str, step: int, drift: tuple[int, int], scoring: ScoringConfig
) -> float:
    """Expected utility of one call, as the learner defines it (quality only on success)."""
    return (
        true_success(tool, task, step, drift) * tool.quality[task]
        - scoring.cost_weight * tool.cost
        - scoring.latency_weight * tool.latency_ms / 1000.0
    )


def run(
    steps: int, seed: int, drift: tuple[int, int], warmup: int, encoder: TextEncoder | None = None
) -> dict[str, object]:
    """Stream ``steps`` intents; ``encoder`` None ranks with words only, as without the model."""
    sims = make_tools()
    by_name = {s.name: s for s in sims}
    specs = [
        ToolSpec(
            name=s.name, server="sim", tool=s.name, cost_per_call=s.cost,
            description=DESCRIPTIONS[s.name],
        )
        for s in sims
    ]  # fmt: skip
    recommender = Recommender(encoder=encoder)
    scoring = recommender.scoring
    state = LearningState()
    rng = np.random.default_rng(seed)
    world = np.random.default_rng(seed + 1)  # outcomes: independent of the learner's draws
    static = max(sims, key=lambda s: float(np.mean([s.quality[t] * s.success[t] for t in TASKS])))
    names = ("learned", "static", "oracle")
    cost = {n: np.zeros(steps) for n in names}
    quality = {n: np.zeros(steps) for n in names}
    success = {n: np.zeros(steps) for n in names}
    regret = {n: np.zeros(steps) for n in names}
    drifting_share = np.zeros(steps)
    best_utility = np.zeros(steps)
    pending: list[ExecutionRecorded] = []
    for step in range(steps):
        task = TASKS[int(world.integers(len(TASKS)))]
        texts = TEXTS[task]
        text = texts[int(world.integers(len(texts)))]
        best = max(utility(s, task, step, drift, scoring) for s in sims)
        best_utility[step] = best
        ranked = recommender.recommend(
            text, {"task": task}, specs, state, top_k=1, rng=rng, now=float(step)
        )
        picks = {"learned": by_name[ranked[0].tool], "static": static}
        picks["oracle"] = max(sims, key=lambda s: utility(s, task, step, drift, scoring))
        draw = world.random()  # common random numbers: the same luck for every policy
        noise = float(world.normal(0.0, 0.05))
        for name, tool in picks.items():
            ok = draw < true_success(tool, task, step, drift)
            cost[name][step] = tool.cost
            success[name][step] = ok
            quality[name][step] = float(np.clip(tool.quality[task] + noise, 0, 1)) if ok else 0.0
            regret[name][step] = best - utility(tool, task, step, drift, scoring)
        chosen = picks["learned"]
        ok = bool(success["learned"][step])
        drifting_share[step] = chosen.name == DRIFTING and task == "summarize"
        pending.append(
            ExecutionRecorded(
                intent_id=f"i{step}", call_id=f"i{step}", tool=chosen.name, attempt=1, ok=ok,
                error_kind=None if ok else ErrorKind.TOOL_ERROR, started_at=float(step),
                occurred_at=float(step), latency_ms=chosen.latency_ms, cost=chosen.cost,
                quality=quality["learned"][step] if ok else None,
                context_key=f"task={task}", intent_text=text,
                choice_probability=ranked[0].probability, strategy="bench-tradeoff",
            )
        )  # fmt: skip
        if len(pending) >= 16:  # batches as the learner agent would see them
            update(state, pending)
            pending = []

    def window(lo: int, hi: int) -> dict[str, dict[str, float]]:
        return {
            n: {
                "cost": round(float(cost[n][lo:hi].mean()), 5),
                "quality": round(float(quality[n][lo:hi].mean()), 4),
                "success": round(float(success[n][lo:hi].mean()), 4),
                "regret_per_intent": round(float(regret[n][lo:hi].mean()), 4),
            }
            for n in names
        }

    after = window(warmup, steps)
    stable = window(warmup, drift[0])
    recovery = int(np.argmax(np.convolve(drifting_share[drift[1] :], np.ones(50), "valid") >= 5))
    return {
        "text_model": "words" if encoder is None else "minilm",
        "static_baseline": f"{static.name}: best average quality over tasks, chosen up front",
        "steps": steps,
        "warmup": warmup,
        "drift": {"tool": DRIFTING, "from": drift[0], "to": drift[1], "success_during": 0.20},
        "overall": window(0, steps),
        "after_warmup": after,
        "before_drift": stable,
        "during_drift": window(drift[0], drift[1]),
        "after_recovery": window(drift[1] + min(1000, (steps - drift[1]) // 2), steps),
        "cost_ratio_learned_vs_static": round(
            after["learned"]["cost"] / after["static"]["cost"], 3
        ),
        "utility_ratio_learned_vs_oracle_after_warmup": round(
            1.0 - float(regret["learned"][warmup:].sum() / best_utility[warmup:].sum()), 3
        ),
        "steps_to_reuse_after_recovery": recovery,
        "cumulative_regret": {n: round(float(regret[n].sum()), 2) for n in names},
        "_regret_series": {n: np.cumsum(regret[n]).tolist() for n in names},
    }


def plot(result: dict[str, object], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = result["_regret_series"]
    assert isinstance(series, dict)
    drift = result["drift"]
    assert isinstance(drift, dict)
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in series.items():
        ax.plot(values, label=name)
    ax.axvspan(
        drift["from"], drift["to"], color="grey", alpha=0.2, label=f"{drift['tool']} degraded"
    )
    ax.set_xlabel("intent")
    ax.set_ylabel("cumulative expected regret (utility)")
    ax.set_title("Tool choice: learned vs static vs oracle")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=500)
    add_text_model_argument(parser)
    args = parser.parse_args(argv)
    drift = (int(args.steps * 0.375), int(args.steps * 0.5625))  # 3000-4500 of 8000
    encoder = None if args.words_only else load_encoder()
    result = run(args.steps, args.seed, drift, args.warmup, encoder)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(result, args.out / "tradeoff_regret.png")
    result.pop("_regret_series")
    (args.out / "tradeoff.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result["after_warmup"], indent=2), file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
