"""Where the OS isolation cannot run, generated tools are refused with a clear error and
never run; the sandbox transport's config and tool files are read with clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from models import ErrorKind
from tools.config import SandboxServerConfig, parse_tools_config
from tools.exceptions import ConfigError, ServerStartError
from tools.registry import build_sandbox_client
from tools.sandbox import Reason, SandboxLimits, SandboxPool, SandboxToolClient
from tools.sandbox.catalog import load_directory
from tools.testing import make_spec

TOOL = "def run(n):\n    return n + 1\n"
SCHEMA = '{"input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}'


@pytest.fixture
def tool_dir(tmp_path: Path) -> Path:
    (tmp_path / "inc.py").write_text(TOOL)
    (tmp_path / "inc.json").write_text(SCHEMA)
    return tmp_path


@pytest.fixture
def no_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)


async def test_without_bubblewrap_a_call_is_refused_and_says_how_to_fix_it(no_bwrap: None) -> None:
    pool = SandboxPool()
    outcome = await pool.run(TOOL, {"n": 1})
    await pool.aclose()
    assert (outcome.ok, outcome.reason) == (False, Reason.UNAVAILABLE)
    assert "apt-get install bubblewrap" in (outcome.message or "")


async def test_without_bubblewrap_the_sandbox_server_fails_to_start(
    no_bwrap: None, tool_dir: Path
) -> None:
    client = SandboxToolClient("gen", load_directory(tool_dir), SandboxPool())
    with pytest.raises(ServerStartError, match="bubblewrap"):
        await client.list_tools()
    spec = make_spec("gen", "inc", input_schema={"type": "object"})
    result = await client.call(spec, {"n": 1}, timeout_s=5)
    await client.aclose()
    assert (result.ok, result.error_kind) == (False, ErrorKind.CONNECTION)
    assert "bubblewrap" in (result.error or "")


async def test_a_bubblewrap_that_cannot_start_the_sandbox_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 'false' stands for a bwrap the kernel or a container does not let create namespaces.
    monkeypatch.setattr("tools.sandbox.bwrap.find_bwrap", lambda: "/bin/false")
    pool = SandboxPool(size=1)
    outcome = await pool.run(TOOL, {"n": 1})
    await pool.aclose()
    assert outcome.reason is Reason.UNAVAILABLE
    assert "did not start" in (outcome.message or "")


def test_a_sandbox_server_is_configured_with_its_directory_and_limits(tmp_path: Path) -> None:
    config = parse_tools_config(
        {
            "servers": {
                "gen": {
                    "transport": "sandbox",
                    "directory": "generated",
                    "workers": 3,
                    "limits": {"cpu_s": 1, "memory_mib": 128},
                }
            }
        },
        source=tmp_path / "tools.toml",
    )
    server = config.servers["gen"]
    assert isinstance(server, SandboxServerConfig)
    assert config.sandbox_directory(server) == tmp_path / "generated"
    assert server.limits == SandboxLimits(cpu_s=1, memory_mib=128)
    assert server.workers == 3


def test_a_bad_limit_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"servers\.gen\.limits\.cpu_secs"):
        parse_tools_config(
            {
                "servers": {
                    "gen": {"transport": "sandbox", "directory": "g", "limits": {"cpu_secs": 1}}
                }
            }
        )


def test_a_missing_directory_or_sidecar_is_a_config_error(tmp_path: Path) -> None:
    server = SandboxServerConfig(transport="sandbox", directory=tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="does not exist"):
        build_sandbox_client("gen", server)
    (tmp_path / "lonely.py").write_text(TOOL)
    with pytest.raises(ConfigError, match=r"lonely\.json"):
        load_directory(tmp_path)


def test_a_sidecar_with_unknown_keys_is_a_config_error(tool_dir: Path) -> None:
    (tool_dir / "inc.json").write_text('{"input_schema": {"type": "object"}, "cost": 1}')
    with pytest.raises(ConfigError, match="only these keys"):
        load_directory(tool_dir)


def test_tool_files_are_read_as_submissions_with_ids_that_follow_their_content(
    tool_dir: Path,
) -> None:
    [first] = load_directory(tool_dir)
    [again] = load_directory(tool_dir)
    assert (first.name, first.source, first.submitter) == ("inc", TOOL, "file:inc.py")
    assert first.event_id == again.event_id
    (tool_dir / "inc.py").write_text(TOOL.replace("1", "2"))
    [changed] = load_directory(tool_dir)
    assert changed.event_id != first.event_id
