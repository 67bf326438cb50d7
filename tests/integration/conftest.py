"""Real workers against the real broker: each test gets its own topics, group and tools."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from interfaces.client import Outcome, OutcomeTimeout, ToolwiseClient, WorkerExited
from interfaces.process import settings_env, spawn_worker
from models import IntentSubmitted
from streams.settings import Settings
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log: Path
    web_port: int | None = None

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    async def partition_report(self) -> str:
        """The worker's own account of its partitions (its SIGUSR1 dump), for a failure message."""
        if self.proc.poll() is not None:
            return f"(exited with {self.proc.returncode})"
        self.proc.send_signal(signal.SIGUSR1)
        await asyncio.sleep(1.0)
        text = self.log.read_text(errors="replace")
        start = text.rfind("=== partitions")
        end = text.find("=== tasks", start)
        return text[start:end] if start >= 0 else "(no report)"


@dataclass
class Pipeline:
    """One isolated Toolwise deployment: unique topics, app id and data dir."""

    settings: Settings
    env: dict[str, str]
    root: Path
    workers: list[Worker] = field(default_factory=list)

    def start_worker(self, web_port: int | None = None) -> Worker:
        """A worker; with ``web_port``, its web port (/api, /mcp, A2A, /metrics, /dashboard)."""
        n = len(self.workers)
        log = self.root / f"worker-{n}.log"
        env = {**self.env, "TOOLWISE_DATADIR": str(self.root / f"data-{n}")}
        if web_port is not None:
            env.update(TOOLWISE_WEB_ENABLED="true", TOOLWISE_WEB_PORT=str(web_port))
        worker = Worker(spawn_worker(env, log, loglevel="info"), log, web_port)
        self.workers.append(worker)
        return worker

    def alive(self) -> bool:
        return any(w.proc.poll() is None for w in self.workers)

    async def outcomes(
        self, client: ToolwiseClient, intent_ids: Iterable[str], timeout_s: float = 120.0
    ) -> dict[str, Outcome]:
        """Wait for outcomes, failing at once (with the logs) if every worker has died."""
        try:
            return await client.wait_for(intent_ids, timeout_s, alive=self.alive)
        except WorkerExited as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None
        except OutcomeTimeout as exc:
            reports = [f"--- {w.log.name}\n{await w.partition_report()}" for w in self.workers]
            raise AssertionError("\n".join([str(exc), *reports])) from None

    async def run(
        self, client: ToolwiseClient, intent: IntentSubmitted, timeout_s: float = 120.0
    ) -> Outcome:
        await client.submit(intent)
        return (await self.outcomes(client, [intent.intent_id], timeout_s))[intent.intent_id]

    def logs(self) -> str:
        return "\n".join(f"--- {w.log.name}\n{w.log_tail()}" for w in self.workers)


PipelineFactory = Callable[..., Pipeline]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def get_json(url: str, timeout_s: float = 120.0) -> Any:
    """GET a JSON document, retrying while the server is not up yet.

    A worker's first API answer waits for its tool servers to start: 30 s was not always
    enough on a loaded 2-core machine (test_sandbox_tools timed out at it once).
    """

    def fetch() -> Any:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await asyncio.to_thread(fetch)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def make_pipeline(
    kafka_bootstrap: str,
    redis_url: str,
    root: Path,
    tools_config: Path | None = None,
    **overrides: Any,
) -> Pipeline:
    """An isolated deployment under ``root``: its own topics, app id and data dirs."""
    name = f"tw-{uuid.uuid4().hex[:10]}"
    values: dict[str, Any] = {
        "broker": f"kafka://{kafka_bootstrap}",
        "redis_url": redis_url,
        "topic_prefix": name,
        "app_id": name,
        "partitions": 2,
        "web_enabled": False,
        # Tests share a 2-core machine with the broker, tool servers and other workers:
        # planning that takes 20 ms alone took over a second at load average 9. The budget
        # itself is tested with a tiny one (test_poison.py).
        "planning_budget_s": 10.0,
        **overrides,
    }
    if tools_config is not None:
        values["tools_config"] = tools_config
    settings = Settings(**values)
    env = settings_env(values)
    pipeline = Pipeline(settings=settings, env=env, root=root / name)
    pipeline.root.mkdir(parents=True)
    return pipeline


@pytest.fixture
def pipeline_factory(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[PipelineFactory]:
    made: list[Pipeline] = []

    def make(tools_config: Path | None = None, **overrides: Any) -> Pipeline:
        pipeline = make_pipeline(kafka_bootstrap, redis_url, tmp_path, tools_config, **overrides)
        made.append(pipeline)
        return pipeline

    yield make
    failed = getattr(request.node, "rep_call", None)
    for pipeline in made:
        for worker in pipeline.workers:
            worker.stop(timeout_s=20)
        if failed is not None and failed.failed:
            print(pipeline.logs())


@pytest.fixture
async def running_pipeline(pipeline_factory: PipelineFactory) -> Pipeline:
    """A pipeline with its topics created and one worker started (default tools)."""
    pipeline = pipeline_factory()
    await ensure_topics(pipeline.settings)
    pipeline.start_worker()
    return pipeline


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
