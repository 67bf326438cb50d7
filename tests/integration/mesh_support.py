"""Tool nodes over HTTP that a test can kill and restart, configs naming them, registry reads."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from interfaces.client import ToolwiseClient, tail
from models import ExecutionRecorded, IntentCompleted, IntentSubmitted
from streams.settings import Settings
from tests.integration.conftest import Pipeline, PipelineFactory
from tools.config import PROJECT_ROOT
from tools.mesh.policy import MeshPolicy

# A cold Python MCP server takes about a second to import and bind; this machine is shared.
STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class HttpNode:
    """One bundled server run with --http on its own port; killed and restarted at will."""

    name: str
    argv: list[str]
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> HttpNode:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, *self.argv, "--http", "--port", str(self.port)],
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"node {self.name} exited early:\n{self.log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        pytest.fail(f"node {self.name} did not listen on {self.port} in {STARTUP_TIMEOUT_S} s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def simulated(tmp: Path, name: str, *tools: str) -> HttpNode:
    """A node of the simulated server with these --tool profiles."""
    argv = ["-m", "tools.servers.simulated", "--seed", "1"]
    for tool in tools:
        argv += ["--tool", tool]
    return HttpNode(name, argv, tmp / f"node-{name}.log")


@pytest.fixture(name="nodes")
def http_nodes() -> Iterator[list[HttpNode]]:
    """Nodes a test starts go here and are killed after it."""
    started: list[HttpNode] = []
    yield started
    for node in started:
        node.kill()


def toml_value(value: Any) -> str:
    return json.dumps(value)  # strings, numbers, booleans and lists read the same in TOML


def write_config(path: Path, servers: dict[str, dict[str, Any]]) -> Path:
    """A tools.toml: ``{"sim": {"transport": "http", "urls": [...], "tools": {"echo": {...}}}}``."""
    lines = []
    for name, server in servers.items():
        lines.append(f"[servers.{name}]")
        for key, value in server.items():
            if key != "tools":
                lines.append(f"{key} = {toml_value(value)}")
        for tool, override in server.get("tools", {}).items():
            lines.append(f"[servers.{name}.tools.{tool}]")
            lines.extend(f"{k} = {toml_value(v)}" for k, v in override.items())
    path.write_text("\n".join(lines) + "\n")
    return path


async def registry_records(settings: Settings, idle_s: float = 1.5) -> list[dict[str, Any]]:
    """Every record of the registry topic so far, oldest first (values as JSON)."""
    return [r async for r in tail(settings, "registry", True, idle_timeout_s=idle_s)]


def cli(env: dict[str, str], *args: str) -> Any:
    """Run ``toolwise tools ... --json`` as a user would; its JSON answer."""
    done = subprocess.run(
        [sys.executable, "-m", "interfaces", "tools", *args, "--json"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return json.loads(done.stdout)


# --- shared by the mesh tests ----------------------------------------------------------------

TOOL = "sim.echo"
FAST = "name=echo,median_ms=3"
# Probes every half second make the test's timings short; the defaults are in MeshPolicy.
POLICY = MeshPolicy(
    probe_interval_s=0.5, probe_timeout_s=1.0, breaker_cooldown_s=2.0, degraded_latency_ms=300.0
)


def mesh_pipeline(factory: PipelineFactory, config: Path, policy: MeshPolicy = POLICY) -> Pipeline:
    # Learning and pre-warming are not under test: off, so the shared machine has more room.
    return factory(
        tools_config=config,
        text_model="words",
        learning_enabled=False,
        prewarm_enabled=False,
        mesh=policy,
    )


def echo(n: int, tool: str = TOOL) -> IntentSubmitted:
    return IntentSubmitted(text=f"echo {n}", tool=tool, arguments={"query": f"q{n}"})


async def executions(pipeline: Pipeline) -> list[ExecutionRecorded]:
    return [
        ExecutionRecorded.model_validate(r["value"])
        async for r in tail(pipeline.settings, "executions", True, idle_timeout_s=2.0)
    ]


async def status_changes(pipeline: Pipeline, node: str) -> list[dict[str, Any]]:
    return [
        r["value"]
        for r in await registry_records(pipeline.settings)
        if r["value"]["type"] == "NodeStatusChanged" and r["value"]["node"] == node
    ]


async def until(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        await asyncio.sleep(0.5)


async def warm_up(pipeline: Pipeline, client: ToolwiseClient, tool: str = TOOL) -> None:
    """One intent through, so the load that follows meets a running worker."""
    outcome = await pipeline.run(client, echo(-1, tool), timeout_s=180)
    assert isinstance(outcome, IntentCompleted), outcome
