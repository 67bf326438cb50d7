"""Planning benchmark: does the built-in planner pick the right tool, with the right arguments,
and never a side-effecting tool nobody allowed?

    python -m bench.planning [--ratios 0.3,0.5,0.7] [--ranker learned|keyword]
                             [--words-only] [--show-misses] [--json]

The tools: the bundled calculator, units and docsearch servers (listed in-process), plus
third-party tool listings in ``tests/data/planning/servers.json`` (mcp-server-time, the
reference "everything" server, mcp-server-fetch, the filesystem server, Brave search and
a unit converter; sources in the file). As an operator might, the bench marks Brave web
search ``auto_select = true``; everything else keeps what it declares.

The intents: ``tests/data/planning/intents.jsonl``, each labelled with the expected tool and
arguments (``tool``/``arguments``, ``alternatives`` when two tools are equally right,
``steps`` for several clauses), or ``expect: missing`` (the planner should answer
missing_arguments) or ``expect: none`` (nothing safe and relevant can serve it). ``named``
is the intent's ``tool`` field and ``given`` its ``arguments``. Planning only: no tool runs.

Reported, per relevance ratio (``PlannerPolicy.relevance_ratio``):
- decision accuracy: the right tool(s), or the labelled error, over all intents;
- tool accuracy over the intents labelled with a tool;
- argument exact match over those whose tool was right (strings compared case- and
  whitespace-insensitively, numbers by value);
- unsafe: plans with a tool that is not read-only (after config) as step or fallback, though
  the intent did not name it and the config did not set auto_select; must be 0;
- unpermitted: the same for open-world tools;
- missing_arguments precision (answered missing_arguments and labelled so) and recall;
- off-topic fallbacks: fallbacks whose tool is none of the labelled ones.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from mcp.types import Tool

from agents.plan_builder import (
    PlanExplanation,
    PlannerPolicy,
    Ranker,
    explain_plan,
    keyword_ranker,
)
from agents.ranking import learned_ranker
from bench.host import host
from learning import LearningState, Recommender
from learning.embedding import load_encoder
from models import IntentSubmitted, RetryPolicy, ToolSpec
from tools._specs import apply_override, spec_from_mcp
from tools.config import ToolOverride, parse_tools_config
from tools.registry import ToolRegistry

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "planning"
BUNDLED = ("calculator", "units", "docsearch")
# What an operator who wants web search chosen from the text would write in tools.toml.
OVERRIDES = {"brave.brave_web_search": ToolOverride(auto_select=True)}
# A fixed submission time (2026-12-01 12:00 UTC): 'tomorrow' means the same day every run.
SUBMITTED_AT = 1_796_126_400.0


@dataclass(frozen=True)
class Labelled:
    text: str
    expect: str  # plan | missing | none
    steps: list[dict[str, Any]]  # per step: {"tool", "arguments", "alternatives"?}
    named: str | None
    given: dict[str, Any]
    missing_tool: str | None


def load_intents(path: Path) -> list[Labelled]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        expect = row.get("expect", "plan")
        if "steps" in row:
            steps = row["steps"]
        elif expect == "plan":
            steps = [{"tool": row["tool"], "arguments": row.get("arguments", {})}]
            steps[0]["alternatives"] = row.get("alternatives", [])
        else:
            steps = []
        rows.append(
            Labelled(
                text=row["text"],
                expect=expect,
                steps=steps,
                named=row.get("named"),
                given=row.get("given", {}),
                missing_tool=row.get("tool") if expect == "missing" else None,
            )
        )
    return rows


def third_party_specs(path: Path) -> list[ToolSpec]:
    servers = json.loads(path.read_text(encoding="utf-8"))
    specs = []
    for server, listing in servers.items():
        for raw in listing["tools"]:
            spec = spec_from_mcp(server, Tool.model_validate(raw))
            specs.append(apply_override(spec, OVERRIDES.get(spec.name)))
    return specs


async def bundled_specs() -> list[ToolSpec]:
    """The bundled servers' tools as they list them (in-process: no subprocess to start)."""
    config = parse_tools_config(
        {
            "servers": {
                name: {"transport": "inprocess", "factory": f"tools.servers.{name}:build_server"}
                for name in BUNDLED
            }
        }
    )
    async with ToolRegistry.from_config(config) as registry:
        return registry.specs()


class _EmptyReplica:
    """A worker that has learned nothing yet: the planner's cold start."""

    def state(self) -> LearningState:
        return LearningState()


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str) and isinstance(actual, str):
        return " ".join(expected.lower().split()) == " ".join(actual.lower().split())
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(expected) == float(actual) and not isinstance(actual, bool)
    return bool(expected == actual)


def _arguments_match(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> bool:
    return expected.keys() == actual.keys() and all(_same(expected[k], actual[k]) for k in expected)


def _step_verdict(
    label: dict[str, Any], tool: str, arguments: Mapping[str, Any]
) -> tuple[bool, bool]:
    """(right tool, right arguments) for one planned step against its label."""
    options = [label, *label.get("alternatives", [])]
    right = [o for o in options if o["tool"] == tool]
    return bool(right), any(_arguments_match(o["arguments"], arguments) for o in right)


@dataclass
class Outcome:
    decided_right: bool
    tool_right: bool | None  # None: labelled without a tool
    arguments_right: bool | None
    unsafe: int
    unpermitted: int
    answered_missing: bool
    off_topic_fallbacks: int
    summary: str


def judge(item: Labelled, explained: PlanExplanation, specs: Mapping[str, ToolSpec]) -> Outcome:
    unsafe = unpermitted = off_topic = 0
    steps = explained.steps or []
    labelled_tools = {o["tool"] for s in item.steps for o in [s, *s.get("alternatives", [])]}
    for step in steps:
        for tool in [step.tool, *(f.tool for f in step.fallbacks)]:
            spec = specs[tool]
            if tool == item.named or spec.auto_select is True:
                continue
            unsafe += not spec.read_only
            unpermitted += spec.open_world
        off_topic += sum(f.tool not in labelled_tools for f in step.fallbacks)
    error = explained.error.kind if explained.error else None
    answered_missing = error == "missing_arguments"
    tool_right: bool | None = None
    arguments_right: bool | None = None
    if item.expect == "plan":
        verdicts = [
            _step_verdict(label, step.tool, step.arguments)
            for label, step in zip(item.steps, steps, strict=False)
        ]
        tool_right = len(steps) == len(item.steps) and all(v[0] for v in verdicts)
        arguments_right = tool_right and all(v[1] for v in verdicts)
        decided = tool_right
    else:
        wanted = {"missing_arguments"} if item.expect == "missing" else {"no_tool", "not_allowed"}
        decided = error in wanted
    if steps:
        summary = "; ".join(f"{s.tool} {json.dumps(s.arguments)}" for s in steps)
    else:
        summary = f"{error}: {explained.error.reason[:160] if explained.error else ''}"
    return Outcome(
        decided, tool_right, arguments_right, unsafe, unpermitted, answered_missing, off_topic,
        summary,
    )  # fmt: skip


def _share(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def evaluate(
    intents: Sequence[Labelled],
    specs: Sequence[ToolSpec],
    make_rank: Any,
    ratio: float,
    show_misses: bool,
) -> dict[str, Any]:
    tools = {spec.name: spec for spec in specs}
    policy = PlannerPolicy(relevance_ratio=ratio)
    outcomes: list[Outcome] = []
    took_ms: list[float] = []
    for i, item in enumerate(intents):
        rank: Ranker = make_rank(i)
        intent = IntentSubmitted(
            intent_id=f"bench-{i}",
            text=item.text,
            tool=item.named,
            arguments=item.given,
            occurred_at=SUBMITTED_AT,
        )
        started = time.perf_counter()
        explained = explain_plan(intent, tools, rank, RetryPolicy(), policy)
        took_ms.append((time.perf_counter() - started) * 1000.0)
        outcome = judge(item, explained, tools)
        outcomes.append(outcome)
        if show_misses and not (outcome.decided_right and outcome.arguments_right is not False):
            label = item.expect if item.expect != "plan" else json.dumps(item.steps)[:160]
            print(
                f"  miss @{ratio:g}: {item.text!r}\n      got {outcome.summary}\n      want {label}"
            )
    with_tool = [o for o in outcomes if o.tool_right is not None]
    right_tool = [o for o in with_tool if o.tool_right]
    answered_missing = [o for o, i in zip(outcomes, intents, strict=True) if o.answered_missing]
    labelled_missing = [o for o, i in zip(outcomes, intents, strict=True) if i.expect == "missing"]
    return {
        "relevance_ratio": ratio,
        "intents": len(intents),
        "decision_accuracy": _share(sum(o.decided_right for o in outcomes), len(outcomes)),
        "tool_accuracy": _share(len(right_tool), len(with_tool)),
        "argument_exact_match": _share(
            sum(bool(o.arguments_right) for o in right_tool), len(right_tool)
        ),
        "none_correct": _share(
            sum(
                o.decided_right
                for o, i in zip(outcomes, intents, strict=True)
                if i.expect == "none"
            ),
            sum(i.expect == "none" for i in intents),
        ),
        "unsafe": sum(o.unsafe for o in outcomes),
        "unpermitted_open_world": sum(o.unpermitted for o in outcomes),
        "missing_precision": _share(
            sum(
                i.expect == "missing"
                for o, i in zip(outcomes, intents, strict=True)
                if o.answered_missing
            ),
            len(answered_missing),
        ),
        "missing_recall": _share(
            sum(o.answered_missing for o in labelled_missing), len(labelled_missing)
        ),
        "off_topic_fallbacks": sum(o.off_topic_fallbacks for o in outcomes),
        "ms_per_plan_p50": round(statistics.median(took_ms), 2),
        "ms_per_plan_p95": round(float(np.percentile(took_ms, 95)), 2),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.planning", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--intents", type=Path, default=DATA / "intents.jsonl")
    parser.add_argument("--servers", type=Path, default=DATA / "servers.json")
    parser.add_argument("--ratios", default=str(PlannerPolicy().relevance_ratio))
    parser.add_argument("--ranker", choices=["learned", "keyword"], default="learned")
    parser.add_argument("--words-only", action="store_true", help="no sentence-embedding model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    args = parser.parse_args(argv)

    intents = load_intents(args.intents)
    specs = [*asyncio.run(bundled_specs()), *third_party_specs(args.servers)]
    encoder = None if args.words_only or args.ranker == "keyword" else load_encoder()
    recommender = Recommender(encoder=encoder)

    def make_rank(i: int) -> Ranker:
        if args.ranker == "keyword":
            return keyword_ranker
        # One generator per intent: every ratio sees the same Thompson draws.
        rng = np.random.default_rng(args.seed * 100_003 + i)
        return learned_ranker(recommender, _EmptyReplica(), 5, rng)  # type: ignore[arg-type]

    results = []
    for ratio in (float(r) for r in args.ratios.split(",")):
        results.append(evaluate(intents, specs, make_rank, ratio, args.show_misses))
    report = {
        "bench": "planning",
        "ranker": args.ranker,
        "text_model": "minilm" if encoder is not None else "words",
        "tools": len(specs),
        "results": results,
        "host": host(),
    }
    if not args.json:
        keys = [k for k in results[0] if k not in ("intents",)]
        print(
            f"{len(intents)} intents, {len(specs)} tools, "
            f"ranker {args.ranker} ({report['text_model']})"
        )
        print(" | ".join(keys))
        for row in results:
            print(" | ".join(str(row[k]) for k in keys))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
