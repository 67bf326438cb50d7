"""Plans a user can trust, on a real worker: `toolwise plan`, and issue 11's intents
against the real third-party servers (mcp-server-time from PyPI, the reference
"everything" server from npm).

The third-party servers come from `make mcp-servers` (under the state dir, pinned), or
from PATH. Without them the test that needs them is skipped, except under CI=true,
where it fails: CI installs them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from interfaces.client import ToolwiseClient, tail
from interfaces.process import PROJECT_ROOT
from models import ExecutionRecorded, IntentCompleted, IntentSubmitted
from streams.topics import ensure_topics
from tests.conftest import IN_CI
from tests.integration.conftest import PipelineFactory, free_port, get_json

pytestmark = pytest.mark.integration

SIDE_EFFECT = "everything.gzip-file-as-resource"
# Where `make mcp-servers` puts them (TOOLWISE_STATE_DIR, default .toolwise).
MCP_DIR = PROJECT_ROOT / os.environ.get("TOOLWISE_STATE_DIR", ".toolwise") / "mcp"


def _command(installed: Path, on_path: str) -> str | None:
    if installed.is_file() and os.access(installed, os.X_OK):
        return str(installed)
    return shutil.which(on_path)


def third_party_servers() -> tuple[str, str]:
    """(time server, everything server) commands, or skip (fail under CI) when absent."""
    time_server = _command(MCP_DIR / "time-venv" / "bin" / "mcp-server-time", "mcp-server-time")
    everything = _command(
        MCP_DIR / "everything" / "node_modules" / ".bin" / "mcp-server-everything",
        "mcp-server-everything",
    )
    if time_server is None or everything is None:
        missing = [n for n, c in (("time", time_server), ("everything", everything)) if not c]
        message = (
            f"third-party MCP servers not installed ({', '.join(missing)}): run `make mcp-servers`"
        )
        if IN_CI:
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    return time_server, everything


def toolwise(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "interfaces", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_toolwise_plan_asks_the_worker_and_runs_nothing(
    pipeline_factory: PipelineFactory,
) -> None:
    pipeline = pipeline_factory()
    await ensure_topics(pipeline.settings)
    port = free_port()
    pipeline.start_worker(web_port=port)
    # Ready once it plans: its tool servers are up and its sentence model loaded.
    await get_json(f"http://127.0.0.1:{port}/api/plan?text=warm+up", timeout_s=120)
    env = {**pipeline.env, "TOOLWISE_WEB_PORT": str(port)}

    done = toolwise(env, "plan", "convert 42 km to miles", "--json")
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    [step] = view["steps"]
    assert step["tool"] == "units.convert"
    assert step["arguments"] == {"value": 42.0, "from_unit": "km", "to_unit": "miles"}
    assert step["allowed_by"] == "read-only and closed-world by its annotations"
    assert view["clauses"][0]["candidates"][0]["verdict"] == "chosen"

    missing = toolwise(env, "plan", "convert some km")
    assert missing.returncode == 1 and "missing_arguments" in missing.stdout

    # A preview: no plan was published and no tool ran.
    for topic in ("plans", "executions"):
        records = [r async for r in tail(pipeline.settings, topic, True, idle_timeout_s=2.0)]
        assert records == [], topic

    nobody = toolwise({**env, "TOOLWISE_WEB_PORT": str(free_port())}, "plan", "calculate 1+1")
    assert nobody.returncode == 1 and "no Toolwise worker answers" in nobody.stderr


async def test_issue_intents_with_the_real_third_party_servers(
    pipeline_factory: PipelineFactory, tmp_path: Path
) -> None:
    time_server, everything = third_party_servers()
    config = tmp_path / "tools.toml"
    config.write_text(
        "\n".join(
            [
                "[servers.calculator]",
                'transport = "stdio"',
                'command = ["python", "-m", "tools.servers.calculator"]',
                "[servers.time]",
                'transport = "stdio"',
                f"command = [{json.dumps(time_server)}]",
                "[servers.everything]",
                'transport = "stdio"',
                f"command = [{json.dumps(everything)}]",
                "connect_timeout_s = 60",
            ]
        )
    )
    pipeline = pipeline_factory(tools_config=config)
    await ensure_topics(pipeline.settings)
    pipeline.start_worker()
    intents = {
        "tokyo": IntentSubmitted(text="what time is it in Tokyo"),
        "sum": IntentSubmitted(text="add 3 and 4"),
        "paris": IntentSubmitted(text="what is the current time in Europe/Paris"),
    }
    async with ToolwiseClient(pipeline.settings) as client:
        for intent in intents.values():
            await client.submit(intent)
        outcomes = await pipeline.outcomes(client, [i.intent_id for i in intents.values()], 180)

    def result(name: str) -> tuple[str, object]:
        outcome = outcomes[intents[name].intent_id]
        assert isinstance(outcome, IntentCompleted), outcome
        [step] = outcome.results
        return step.tool, step.output

    tool, output = result("tokyo")
    assert tool == "time.get_current_time" and output["timezone"] == "Asia/Tokyo"  # type: ignore[index]
    tool, output = result("paris")
    assert tool == "time.get_current_time" and output["timezone"] == "Europe/Paris"  # type: ignore[index]
    tool, output = result("sum")
    assert tool == "everything.get-sum" and "7" in str(output)

    records = [
        ExecutionRecorded.model_validate(r["value"])
        for r in [r async for r in tail(pipeline.settings, "executions", True, idle_timeout_s=2.0)]
    ]
    mine = {i.intent_id for i in intents.values()}
    ran = [r.tool for r in records if r.intent_id in mine]
    assert sorted(ran) == ["everything.get-sum", "time.get_current_time", "time.get_current_time"]
    assert SIDE_EFFECT not in ran
