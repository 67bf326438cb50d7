"""Experiments' pure statistics: assignment, Welford moments, confidence sequences, SRM."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from learning.assignment import assign, assignment_unit, bucket
from learning.moments import Moments, merged
from learning.sequential import (
    SequentialConfig,
    chi_square_sf,
    compare,
    sample_ratio_mismatch,
)

ROOT = Path(__file__).resolve().parents[2]
SHARES = [("control", 0.5), ("conservative", 0.3), ("explorative", 0.2)]


def test_a_unit_is_its_user_else_its_intent() -> None:
    assert assignment_unit("i-1", {"user": "ada"}) == assignment_unit("i-2", {"user": "ada"})
    assert assignment_unit("i-1", {}) != assignment_unit("i-2", {})
    assert assignment_unit("i-1", {"user": ""}) == assignment_unit("i-1", {})


def test_assignment_is_the_same_in_another_process_with_another_hash_seed() -> None:
    users = [f"user:u{i}" for i in range(200)]
    here = [assign("exp-1", u, SHARES) for u in users]
    code = (
        "import json, sys; from learning.assignment import assign; "
        "shares = [('control', 0.5), ('conservative', 0.3), ('explorative', 0.2)]; "
        "print(json.dumps([assign('exp-1', u, shares) for u in json.load(sys.stdin)]))"
    )
    for seed in ("1", "2"):  # str hashes differ between these processes; ours must not
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], input=json.dumps(users), capture_output=True,
            text=True, check=True, cwd=ROOT, env=env,
        ).stdout  # fmt: skip
        assert json.loads(out) == here


def test_shares_hold_within_tolerance_over_10000_users() -> None:
    counts = Counter(assign("exp-shares", f"user:{i}", SHARES) for i in range(10_000))
    for name, share in SHARES:
        # 3 binomial standard deviations at n = 10,000 are at most 1.5 points.
        assert abs(counts[name] / 10_000 - share) < 0.015, counts


def test_a_partial_experiment_leaves_the_rest_out() -> None:
    counts = Counter(assign("exp-half", f"user:{i}", [("a", 0.25), ("b", 0.25)]) for i in
                     range(10_000))  # fmt: skip
    assert abs(counts[None] / 10_000 - 0.5) < 0.015


def test_two_experiments_assign_independently() -> None:
    users = [f"user:{i}" for i in range(10_000)]
    first = [bucket("exp-a", u) < 0.5 for u in users]
    second = [bucket("exp-b", u) < 0.5 for u in users]
    both = sum(f and s for f, s in zip(first, second, strict=True))
    # Independent halves overlap on a quarter of the users (sd 0.43 points at 10,000).
    assert abs(both / 10_000 - 0.25) < 0.015
    # ...while one experiment's buckets are a function of the unit alone.
    assert [bucket("exp-a", u) < 0.5 for u in users] == first


def test_welford_equals_a_direct_computation() -> None:
    values = np.random.default_rng(3).lognormal(0.0, 1.0, size=1_001) * 1000 + 1e6
    moments = Moments.of(values.tolist())
    assert moments.n == 1_001
    assert moments.mean == pytest.approx(float(values.mean()), rel=1e-12)
    assert moments.variance == pytest.approx(float(values.var(ddof=1)), rel=1e-9)
    assert moments.sd == pytest.approx(float(values.std(ddof=1)), rel=1e-9)


def test_welford_shards_merge_to_the_whole_in_any_split() -> None:
    values = np.random.default_rng(4).normal(5.0, 2.0, size=500).tolist()
    whole = Moments.of(values)
    for cuts in ([0, 500], [0, 1, 250, 499, 500], [0, 100, 100, 300, 500]):
        parts = [Moments.of(values[a:b]) for a, b in itertools.pairwise(cuts)]
        total = merged(parts)
        assert total.n == whole.n
        assert total.mean == pytest.approx(whole.mean, rel=1e-12)
        assert total.variance == pytest.approx(whole.variance, rel=1e-10)
    assert Moments.from_record(whole.to_record()) == whole
    assert Moments.from_record(None) == Moments() and Moments().variance == 0.0


def _looks(samples: np.ndarray, every: int) -> list[Moments]:
    """Moments of the first k samples at each look, from running sums."""
    n = np.arange(every, samples.size + 1, every)
    sums, squares = np.cumsum(samples)[n - 1], np.cumsum(samples**2)[n - 1]
    means = sums / n
    return [Moments(int(k), float(m), float(q - k * m * m)) for k, m, q in
            zip(n, means, squares, strict=True)]  # fmt: skip


def _ever_significant(control: np.ndarray, treatment: np.ndarray, every: int) -> tuple[bool, bool]:
    """(confidence sequence ever excluded 0, a fixed 95 % z-test ever did) over the looks."""
    sequence = naive = False
    for c, t in zip(_looks(control, every), _looks(treatment, every), strict=True):
        if c.n < 30:
            continue
        sequence |= compare(c, t).verdict in ("better", "worse")
        z = (t.mean - c.mean) / np.sqrt(c.variance / c.n + t.variance / t.n)
        naive |= bool(abs(z) > 1.96)
    return sequence, naive


@pytest.mark.parametrize("metric", ["normal", "bernoulli"])
def test_the_sequential_test_holds_its_false_positive_rate_on_a_a_runs(metric: str) -> None:
    """400 A/A experiments of 2,000 outcomes per variant, looked at after every 20."""
    rng = np.random.default_rng(11 if metric == "normal" else 12)
    runs, size = 400, 2_000
    sequence_hits = naive_hits = 0
    for _ in range(runs):
        if metric == "normal":
            a, b = rng.normal(1.0, 2.0, size), rng.normal(1.0, 2.0, size)
        else:
            a, b = (rng.random(size) < 0.2) * 1.0, (rng.random(size) < 0.2) * 1.0
        s, n = _ever_significant(a, b, every=20)
        sequence_hits += s
        naive_hits += n
    # alpha = 0.05 over all 100 looks; 0.075 is 2.3 binomial sd above it at 400 runs.
    assert sequence_hits / runs <= 0.075
    # The simulation does detect peeking: the t-test read at every look fails far more often.
    assert naive_hits / runs > 0.2


def test_the_sequential_test_finds_a_real_difference() -> None:
    rng = np.random.default_rng(13)
    found = 0
    for _ in range(50):
        a, b = rng.normal(0.0, 1.0, 2_000), rng.normal(0.25, 1.0, 2_000)
        verdict = compare(Moments.of(a.tolist()), Moments.of(b.tolist())).verdict
        found += verdict == "better"
    assert found >= 45  # 0.25 sd at 2,000 per arm: the sequence's power is about 0.98


def test_no_verdict_before_the_minimum_samples() -> None:
    few = Moments.of([0.0, 1.0] * 10)
    many = Moments.of([5.0, 6.0] * 10)
    result = compare(few, many, SequentialConfig(min_samples=30))
    assert result.verdict == "too_few" and result.difference == 5.0


def test_chi_square_tail_matches_known_quantiles() -> None:
    assert chi_square_sf(3.841, 1) == pytest.approx(0.05, abs=1e-4)
    assert chi_square_sf(5.991, 2) == pytest.approx(0.05, abs=1e-4)
    assert chi_square_sf(10.828, 1) == pytest.approx(0.001, rel=1e-3)
    assert chi_square_sf(30.0, 10) == pytest.approx(0.000857, rel=1e-2)
    assert chi_square_sf(0.0, 3) == 1.0


def test_srm_is_flagged_on_a_skewed_assignment_and_not_on_a_sound_one() -> None:
    shares = dict(SHARES)
    units = [f"user:{i}" for i in range(20_000)]
    sound = Counter(assign("exp-srm", u, SHARES) for u in units)
    assert not sample_ratio_mismatch(dict(sound), shares).flagged
    # A variant whose outcomes go missing 5 % of the time (say, it crashes a worker):
    rng = np.random.default_rng(5)
    skewed = Counter(
        v for v in (assign("exp-srm", u, SHARES) for u in units)
        if v != "explorative" or rng.random() > 0.05
    )  # fmt: skip
    check = sample_ratio_mismatch(dict(skewed), shares)
    assert check.flagged and check.p_value < 0.001
    assert check.expected["control"] == pytest.approx(sum(skewed.values()) * 0.5)


def test_srm_rejects_counts_of_an_unknown_variant() -> None:
    with pytest.raises(ValueError, match="without a share: ghost"):
        sample_ratio_mismatch({"a": 1, "ghost": 2}, {"a": 0.5, "b": 0.5})
