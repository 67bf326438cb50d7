"""Predictive pre-warming on a session workload: prediction quality, cache hits, latency saved.

    python -m bench.predictive [--sessions 2000] [--seed 0] [--partitions 4] [--threshold 0.6]

A simulation in virtual time that runs the worker's own session code (``learning.sessions``:
the model, its confidence, argument prediction and the pre-warm decision, one model per
partition as the prewarm agent keeps them). The same sessions, with the same think times and
choices, run twice: without prediction (only the ordinary result cache), and with it.

Sessions start at random (``--rate`` per second) and follow recurring sequences:

* research (50 %): search -> fetch the first result (95 %; else the second) -> summarise the
  page -> e-mail the summary (30 %);
* lookup (25 %): search -> fetch;
* quick (15 %): search only;
* sums (10 %): calculate -> calculate (arguments nobody can predict).

Search, fetch, summarise and calculate are cacheable; sending mail is not, so it is never
run ahead of time. Tool latencies are fixed per tool (below); a cached answer costs
``CACHE_HIT_MS``, and every intent also pays ``PIPELINE_MS`` for the hops (the README's
paced median). The user thinks between intents (lognormal, median 3 s). A pre-warmed result
still in flight when the next intent arrives does not help (the executor does not wait for
it): that intent runs its tool itself.

Reported: precision (correct predictions / predictions acted on; a session that ends after a
prediction counts as wrong), recall (correct / transitions), pre-warm hit rate (pre-warm runs
whose result the next intent was served / runs), next-intent latency p50 and mean with and
without, and tool calls with and without. The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bench.host import host
from learning.sessions import SessionModelConfig, advance, end_session, with_counts
from models.experiments import SessionStepCompleted
from models.tools import ToolSpec

# Tool latencies (ms): a web search, a page fetch, an LLM summary, a mail relay, arithmetic.
LATENCY_MS = {
    "web.search": 400.0,
    "web.fetch": 900.0,
    "text.summarize": 1500.0,
    "mail.send": 300.0,
    "calc.evaluate": 50.0,
}
CLASSES = {
    "web.search": "task=search",
    "web.fetch": "task=fetch",
    "text.summarize": "task=summarize",
    "mail.send": "task=mail",
    "calc.evaluate": "task=calculate",
}
CACHEABLE = {"web.search", "web.fetch", "text.summarize", "calc.evaluate"}
CACHE_HIT_MS = 5.0  # a Redis GET on loopback plus decoding
PIPELINE_MS = 25.0  # intent -> outcome without the tool (README, paced p50 with learning)
CACHE_TTL_S = 300.0  # settings.cache_ttl_s
THINK_MEDIAN_S = 3.0
THINK_SIGMA = 0.8
TEMPLATES = (("research", 0.50), ("lookup", 0.25), ("quick", 0.15), ("sums", 0.10))

TOOLS = {
    name: ToolSpec(
        name=name, server=name.split(".")[0], tool=name.split(".")[1], cacheable=name in CACHEABLE,
        input_schema={"required": list(_args)},
    )
    for name, _args in (
        ("web.search", ["query"]), ("web.fetch", ["url"]), ("text.summarize", ["text"]),
        ("mail.send", ["to", "body"]), ("calc.evaluate", ["expression"]),
    )
}  # fmt: skip


def output_of(tool: str, arguments: dict[str, Any]) -> Any:
    """What each simulated tool answers: deterministic in its arguments."""
    if tool == "web.search":
        q = arguments["query"]
        return {"results": [{"url": f"https://ex.org/{q}/1"}, {"url": f"https://ex.org/{q}/2"}]}
    if tool == "web.fetch":
        return f"text of {arguments['url']}"
    if tool == "text.summarize":
        return f"summary: {arguments['text'][:40]}"
    if tool == "calc.evaluate":
        return {"value": len(arguments["expression"])}
    return {"sent": True}


@dataclass
class Session:
    """One user's session, its choices drawn up front so both runs see the same ones."""

    sid: str
    start: float
    template: str
    thinks: list[float]
    first_result: bool
    mails: bool
    query: str
    expressions: tuple[str, str]
    steps: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def length(self) -> int:
        return {"research": 4 if self.mails else 3, "lookup": 2, "quick": 1, "sums": 2}[
            self.template
        ]

    def call(self, k: int) -> tuple[str, dict[str, Any]]:
        """The k-th intent's tool and arguments, from what the session has seen so far."""
        if self.template == "sums":
            return "calc.evaluate", {"expression": self.expressions[k]}
        if k == 0:
            return "web.search", {"query": self.query}
        previous = output_of(*self.steps[k - 1])
        if k == 1:
            url = previous["results"][0 if self.first_result else 1]["url"]
            return "web.fetch", {"url": url}
        if k == 2:
            return "text.summarize", {"text": previous}
        return "mail.send", {"to": "me@example.org", "body": previous}


def sessions(n: int, rate: float, seed: int) -> list[Session]:
    rng = np.random.default_rng(seed)
    names = [name for name, _ in TEMPLATES]
    weights = [weight for _, weight in TEMPLATES]
    starts = np.cumsum(rng.exponential(1.0 / rate, size=n))
    out = []
    for i in range(n):
        template = str(rng.choice(names, p=weights))
        thinks = np.maximum(0.5, rng.lognormal(np.log(THINK_MEDIAN_S), THINK_SIGMA, 4)).tolist()
        out.append(
            Session(
                sid=f"s{i}", start=float(starts[i]), template=template, thinks=thinks,
                first_result=bool(rng.random() < 0.95), mails=bool(rng.random() < 0.3),
                query=f"q{int(rng.integers(10**9))}",
                expressions=(f"{int(rng.integers(1000))}+{int(rng.integers(1000))}",
                             f"{int(rng.integers(1000))}*{int(rng.integers(1000))}"),
            )
        )  # fmt: skip
    return out


@dataclass
class Run:
    next_latency_ms: list[float] = field(default_factory=list)
    all_latency_ms: list[float] = field(default_factory=list)
    tool_calls: int = 0
    prewarm_runs: int = 0
    prewarm_served: int = 0
    counts: dict[str, Any] = field(default_factory=dict)


def simulate(
    work: Sequence[Session],
    predict: bool,
    partitions: int,
    config: SessionModelConfig,
    idle_s: float = 300.0,
) -> Run:
    """Replay the sessions in virtual time; with ``predict``, pre-warm as the agent does."""
    run = Run()
    cache: dict[str, tuple[float, float]] = {}  # key -> (ready at, expires at)
    warmed: set[str] = set()  # cache keys a pre-warm wrote
    models: list[dict[str, Any]] = [{} for _ in range(partitions)]
    states: dict[str, Any] = {}
    # (time, order, kind, session index, step index): arrivals and completions.
    queue: list[tuple[float, int, str, int, int]] = []
    order = 0
    for i, s in enumerate(work):
        heapq.heappush(queue, (s.start, order, "arrive", i, 0))
        order += 1
    for s in work:
        s.steps = []
    while queue:
        now, _, kind, i, k = heapq.heappop(queue)
        s = work[i]
        if kind == "end":
            partition = zlib.crc32(s.sid.encode()) % partitions
            ended = end_session(states[s.sid], models[partition].get, config)
            if ended is not None and ended.model_class is not None:
                models[partition][ended.model_class] = ended.model
                states[s.sid] = ended.session
            continue
        if kind == "arrive":
            tool, arguments = s.call(k)
            s.steps.append((tool, arguments))
            key = json.dumps([tool, arguments], sort_keys=True)
            entry = cache.get(key)
            hit = tool in CACHEABLE and entry is not None and entry[0] <= now < entry[1]
            if hit:
                latency = CACHE_HIT_MS
                run.prewarm_served += key in warmed
                warmed.discard(key)
            else:
                latency = LATENCY_MS[tool]
                run.tool_calls += 1
                warmed.discard(key)  # a pre-warm still in flight was wasted
                if tool in CACHEABLE:
                    cache[key] = (now + latency / 1000.0, now + latency / 1000.0 + CACHE_TTL_S)
            latency += PIPELINE_MS
            run.all_latency_ms.append(latency)
            if k > 0:
                run.next_latency_ms.append(latency)
            done = now + latency / 1000.0
            heapq.heappush(queue, (done, order, "complete", i, k if not hit else -1 - k))
            order += 1
            continue
        cached = k < 0
        k = -1 - k if cached else k
        tool, arguments = s.steps[k]
        if predict:
            partition = zlib.crc32(s.sid.encode()) % partitions  # a stable spread, as Kafka's
            model = models[partition]
            step = SessionStepCompleted(
                session=s.sid, intent_id=f"{s.sid}:{k}", intent_class=CLASSES[tool],
                first_tool=tool, first_arguments=arguments, first_cached=cached,
                last_tool=tool, last_arguments=arguments, last_output=output_of(tool, arguments),
            )  # fmt: skip
            result = advance(states.get(s.sid), step, model.get, TOOLS, config)
            assert result is not None
            states[s.sid] = result.session
            if result.model_class is not None:
                model[result.model_class] = result.model
            run.counts = with_counts(run.counts, result.counts)
            for call in result.calls:
                if call.arguments is None or call.tool not in CACHEABLE:
                    continue  # only its session is opened: no call, nothing cached
                key = json.dumps([call.tool, call.arguments], sort_keys=True)
                entry = cache.get(key)
                if entry is not None and entry[1] > now:
                    continue  # already cached: the agent checks before running
                ready = now + (PIPELINE_MS + LATENCY_MS[call.tool]) / 1000.0
                cache[key] = (ready, ready + CACHE_TTL_S)
                warmed.add(key)
                run.tool_calls += 1
                run.prewarm_runs += 1
        if k + 1 < s.length():
            heapq.heappush(queue, (now + s.thinks[k], order, "arrive", i, k + 1))
            order += 1
        elif predict:  # the agent's idle sweep finds the session ended
            heapq.heappush(queue, (now + idle_s, order, "end", i, k))
            order += 1
    return run


def _stats(values: list[float]) -> dict[str, float]:
    array = np.asarray(values)
    return {
        "p50_ms": float(np.percentile(array, 50)),
        "p95_ms": float(np.percentile(array, 95)),
        "mean_ms": float(array.mean()),
        "n": int(array.size),
    }


def compare(work: list[Session], partitions: int, config: SessionModelConfig) -> dict[str, Any]:
    without = simulate(work, False, partitions, config)
    with_ = simulate(work, True, partitions, config)
    c = with_.counts
    predictions, transitions = c.get("predictions", 0), c.get("transitions", 0)
    intents = len(with_.all_latency_ms)
    return {
        "intents": intents,
        "transitions": transitions,
        "precision": c.get("correct", 0) / predictions if predictions else None,
        "recall": c.get("correct", 0) / transitions if transitions else None,
        "predictions": predictions,
        "prewarm_runs": with_.prewarm_runs,
        "prewarm_hit_rate": with_.prewarm_served / with_.prewarm_runs
        if with_.prewarm_runs
        else None,
        "sessions_warmed_only": c.get("sessions_warmed", 0),
        "next_intent": {"without": _stats(without.next_latency_ms),
                        "with": _stats(with_.next_latency_ms)},
        "all_intents": {"without": _stats(without.all_latency_ms),
                        "with": _stats(with_.all_latency_ms)},
        "tool_calls": {"without": without.tool_calls, "with": with_.tool_calls,
                       "extra_per_100_intents": 100.0 * (with_.tool_calls - without.tool_calls)
                       / intents},
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=0.5, help="sessions started per second")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--partitions", type=int, default=4, help="one session model each")
    parser.add_argument("--threshold", type=float, default=SessionModelConfig().threshold)
    args = parser.parse_args(argv)
    config = replace(SessionModelConfig(), threshold=args.threshold)
    started = time.perf_counter()
    result = compare(sessions(args.sessions, args.rate, args.seed), args.partitions, config)
    result.update(
        sessions=args.sessions, seed=args.seed, partitions=args.partitions,
        threshold=args.threshold, seconds=round(time.perf_counter() - started, 1), host=host(),
    )  # fmt: skip
    nxt, calls = result["next_intent"], result["tool_calls"]
    print(
        f"precision {result['precision']:.3f}  recall {result['recall']:.3f}  "
        f"pre-warm hit rate {result['prewarm_hit_rate']:.3f}\n"
        f"next intent p50 {nxt['without']['p50_ms']:.0f} -> {nxt['with']['p50_ms']:.0f} ms, "
        f"mean {nxt['without']['mean_ms']:.0f} -> {nxt['with']['mean_ms']:.0f} ms\n"
        f"tool calls {calls['without']} -> {calls['with']} "
        f"(+{calls['extra_per_100_intents']:.1f} per 100 intents)",
        file=sys.stderr,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
