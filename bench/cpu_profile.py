"""Where a worker's CPU goes, per hop: py-spy samples of a running worker, bucketed by stack.

``Sampler`` runs ``py-spy record`` on a process (samples of threads that are running, not
idle) while a burst goes through; ``hop_costs`` turns the folded stacks into CPU
milliseconds per intent for each hop (the agent whose handler is on the stack) and, across
all hops, for the libraries at the top of the stack (where the time is actually spent).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_WEB_PORT_MODULES = (
    "web.py",
    "api/",
    "mcp_gateway.py",
    "a2a_agent.py",
    "dashboard.py",
    "watch.py",
    "livestats.py",
    "metrics.py",
    "auth.py",
    "webcontext.py",
    "outcome_view.py",
    "web_errors.py",
)
# The first of these (in this order) found anywhere on a stack names the hop it belongs to.
HOP_MARKERS: tuple[tuple[str, str], ...] = (
    ("agents/plan_intents.py", "planner"),
    ("agents/execute_plans.py", "executor"),
    ("agents/learn_from_executions.py", "learner"),
    ("tables/replica.py", "learned-state replica"),
    ("tables/retention.py", "retention sweep"),
    ("interfaces/feed.py", "web port feed"),
    ("streams/follower.py", "followers (web port feed, cancellations)"),
    # Not "interfaces/" as a whole: interfaces/worker.py is at the bottom of every stack of
    # the worker's main thread, so it named all of the loop's remaining time "web port".
    *((f"interfaces/{name}", "web port") for name in _WEB_PORT_MODULES),
    ("uvicorn/", "web port"),
    ("starlette/", "web port"),
    ("aiokafka/", "Kafka client"),
    ("faust/", "Faust and mode"),
    ("mode/", "Faust and mode"),
)
# The innermost of these on a stack says which library the time is spent in.
LIBRARY_MARKERS: tuple[tuple[str, str], ...] = (
    ("pydantic", "pydantic"),
    ("json/", "json"),
    ("aiokafka/", "aiokafka"),
    ("kafka/", "aiokafka"),
    ("faust/", "faust"),
    ("mode/", "mode"),
    ("mcp/", "mcp"),
    ("anyio/", "anyio"),
    ("numpy/", "numpy"),
    ("learning/", "toolwise learning"),
    ("agents/", "toolwise agents"),
    ("tables/", "toolwise tables"),
    ("tools/", "toolwise tools"),
    ("models/", "toolwise models"),
    ("asyncio/", "asyncio"),
    ("selectors.py", "asyncio"),
)
# Sample rate: 250/s gives a few thousand samples over a burst of a few seconds.
RATE_HZ = 250


def py_spy() -> str | None:
    found = shutil.which("py-spy")
    if found:
        return found
    beside = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "py-spy"
    return str(beside) if beside.exists() else None


@dataclass
class Sampler:
    """``py-spy record`` of one process until ``stop()``; folded stacks in ``output``."""

    pid: int
    output: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = py_spy()
        if binary is None:
            raise RuntimeError("py-spy is not installed: pip install py-spy (in the dev extras)")
        argv = [binary, "record", "--pid", str(self.pid), "--rate", str(RATE_HZ)]
        argv += ["--format", "raw", "--output", str(self.output), "--nonblocking", "--threads"]
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def folded(lines: Iterable[str]) -> Counter[tuple[str, ...]]:
    """Stacks (outermost frame first) and their sample counts, from py-spy's raw output."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in lines:
        head, _, count = line.rstrip("\n").rpartition(" ")
        if head and count.isdigit():
            stacks[tuple(head.split(";"))] += int(count)
    return stacks


def _hop(stack: tuple[str, ...]) -> str:
    for marker, name in HOP_MARKERS:
        if any(marker in frame for frame in stack):
            return name
    return "other"


def _library(stack: tuple[str, ...]) -> str:
    for frame in reversed(stack):  # innermost first
        for marker, name in LIBRARY_MARKERS:
            if marker in frame:
                return name
    return "other"


def hop_costs(stacks: Counter[tuple[str, ...]], intents: int) -> dict[str, Any]:
    """CPU ms per intent by hop and by library (samples / rate / intents)."""
    per_sample_ms = 1000.0 / RATE_HZ / max(1, intents)
    hops: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    for stack, count in stacks.items():
        hops[_hop(stack)] += count
        libraries[_library(stack)] += count
    return {
        "by_hop": {k: round(v * per_sample_ms, 3) for k, v in hops.most_common()},
        "by_library": {k: round(v * per_sample_ms, 3) for k, v in libraries.most_common()},
        "total": round(sum(hops.values()) * per_sample_ms, 3),
    }
