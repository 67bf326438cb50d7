"""Run a worker as a child process: for the demo, the benchmarks and the integration tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def settings_env(values: Mapping[str, Any]) -> dict[str, str]:
    """This process's environment, minus TOOLWISE_*, plus ``values`` as TOOLWISE_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLWISE_")}
    for name, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif hasattr(value, "model_dump_json"):
            text = value.model_dump_json()
        else:
            text = str(value)
        env[f"TOOLWISE_{name.upper()}"] = text
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


def spawn_worker(
    env: Mapping[str, str] | None, log: Path, loglevel: str = "warn"
) -> subprocess.Popen[bytes]:
    """Start ``python -m interfaces worker`` with its output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "interfaces", "worker", "--loglevel", loglevel],
            cwd=PROJECT_ROOT,
            env=dict(env) if env is not None else None,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> int:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
