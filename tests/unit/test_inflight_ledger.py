"""The in-flight ledger: a record in flight at a death is counted, a finished one is not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from streams.inflight_ledger import InflightLedger

A = ("tw-intents", 0, 7)
B = ("tw-intents", 1, 3)


def opened(directory: Path) -> InflightLedger:
    ledger = InflightLedger()
    ledger.open(directory)
    return ledger


def test_a_record_in_flight_at_a_death_is_counted_at_the_next_start(tmp_path: Path) -> None:
    first = opened(tmp_path)
    first.begin(A)
    first.begin(B)
    first.end(B)
    # the process dies here: no close()
    second = opened(tmp_path)
    assert (second.deaths(A), second.deaths(B)) == (1, 0)
    second.begin(A)  # handled again, and it kills the worker again
    third = opened(tmp_path)
    assert third.deaths(A) == 2


def test_a_clean_stop_counts_no_death(tmp_path: Path) -> None:
    first = opened(tmp_path)
    first.begin(A)
    first.close()
    assert opened(tmp_path).deaths(A) == 0


def test_the_count_survives_kill_9(tmp_path: Path) -> None:
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from streams.inflight_ledger import InflightLedger\n"
        "ledger = InflightLedger(); ledger.open(Path(sys.argv[1]))\n"
        "ledger.begin(('tw-intents', 0, 7))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env, check=False)
    assert done.returncode == -9
    assert opened(tmp_path).deaths(A) == 1


def test_a_ledger_never_opened_records_nothing(tmp_path: Path) -> None:
    ledger = InflightLedger()
    ledger.begin(A)
    ledger.end(A)
    ledger.close()
    assert ledger.deaths(A) == 0 and list(tmp_path.iterdir()) == []


def test_the_log_is_compacted_and_still_counts(tmp_path: Path, monkeypatch: object) -> None:
    import streams.inflight_ledger as module

    setattr(module, "_COMPACT_AFTER_LINES", 50)  # noqa: B010  (module constant for the test)
    try:
        ledger = opened(tmp_path)
        ledger.begin(A)
        for offset in range(200):
            ledger.begin(("tw-calls", 0, offset))
            ledger.end(("tw-calls", 0, offset))
        assert len((tmp_path / "inflight.log").read_text().splitlines()) < 60
    finally:
        setattr(module, "_COMPACT_AFTER_LINES", 100_000)  # noqa: B010
    after = opened(tmp_path)
    assert after.deaths(A) == 1 and after.deaths(("tw-calls", 0, 199)) == 0
