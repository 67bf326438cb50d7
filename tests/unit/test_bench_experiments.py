"""The experiment benches run end to end on small workloads and report what they claim."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from bench import ope, predictive
from learning import sessions
from learning.sessions import SessionModelConfig


def test_predictive_never_runs_a_tool_that_is_not_cacheable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decided: list[Any] = []
    advance = sessions.advance

    def recording(*args: Any, **kwargs: Any) -> Any:
        result = advance(*args, **kwargs)
        if result is not None:
            decided.extend(result.calls)
        return result

    monkeypatch.setattr(predictive, "advance", recording)
    work = predictive.sessions(400, 0.5, seed=1)
    # A low threshold so that even the mail after a summary (30 %) is predicted.
    run = predictive.simulate(work, True, 1, replace(SessionModelConfig(), threshold=0.1))
    mails = [c for c in decided if c.tool == "mail.send"]
    assert mails and all(c.arguments is None for c in mails)  # warmed, never run
    assert run.prewarm_runs == sum(c.arguments is not None for c in decided)


def test_predictive_reports_both_runs_on_the_same_sessions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    predictive.main(["--sessions", "300", "--partitions", "1"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    nxt = result["next_intent"]
    assert nxt["with"]["n"] == nxt["without"]["n"] == result["transitions"]
    assert result["tool_calls"]["with"] >= result["tool_calls"]["without"]
    assert 0 < result["precision"] <= 1 and 0 < result["recall"] <= 1
    assert result["host"]["nproc"] >= 1


def test_ope_prints_a_row_per_seed_and_target(capsys: pytest.CaptureFixture[str]) -> None:
    ope.main(["--seeds", "2", "--warmup", "50", "--logged", "200", "--live", "300",
              "--words-only"])  # fmt: skip
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["coverage"]["explorative"]["of"] == 2
    assert len([line for line in lines if line.startswith("| 1 |")]) == 2
    row = summary["seeds"][0]["targets"]["conservative"]
    assert row["dr"]["lower"] <= row["dr"]["value"] <= row["dr"]["upper"]
