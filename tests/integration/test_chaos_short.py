"""The chaos harness's short profile, run as CI runs it: the issue's targets hold under faults.

``python -m bench.chaos --short`` kills workers at random moments, freezes a private Redis,
publishes generated hostile records, starts fresh deployments with a client publishing first,
and stops workers with calls in flight; every record must end answered or dead-lettered.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from interfaces.process import PROJECT_ROOT, settings_env

pytestmark = pytest.mark.integration

# The short profile takes about 4 minutes on 2 busy cores; past this it is stuck.
TIMEOUT_S = 15 * 60


def test_the_short_chaos_profile_meets_the_targets(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    env = settings_env({"broker": f"kafka://{kafka_bootstrap}", "redis_url": redis_url})
    report_path = tmp_path / "chaos.json"
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.chaos",
                "--short",
                "--log-dir",
                str(tmp_path / "logs"),
                "--json",
                str(report_path),
            ],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"bench.chaos --short still running after {TIMEOUT_S} s:\n{exc.stdout}")
    assert report_path.exists(), f"exit {run.returncode}\n{run.stdout}\n{run.stderr[-5000:]}"
    report = json.loads(report_path.read_text())
    rows = {row["scenario"]: row for row in report["rows"]}
    assert set(rows) == set(report["scenarios"]) and len(rows) >= 4, run.stdout
    for name, row in rows.items():
        where = f"{name}: {row['notes']}\n{run.stdout}"
        assert row["intents"] > 0, where
        assert row["lost"] == 0, where
        assert row["exits"] == 0, where
        assert row["dup_other_id"] == 0, where
    hostile = rows["hostile"]["notes"]
    assert hostile["hostile"] > 0 and "lost_by_kind" not in hostile, hostile
    assert run.returncode == 0, run.stdout
