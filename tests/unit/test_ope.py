"""Off-policy estimators on logged datasets whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from learning.ope import LoggedDecision, OpeConfig, OpeError, evaluate

# Two contexts, three tools; Bernoulli rewards with these means.
MEANS = {"a": {"x": 0.8, "y": 0.5, "z": 0.2}, "b": {"x": 0.3, "y": 0.6, "z": 0.9}}
CONTEXTS = {"a": 0.6, "b": 0.4}
LOGGING = {"a": {"x": 0.5, "y": 0.3, "z": 0.2}, "b": {"x": 0.2, "y": 0.3, "z": 0.5}}
TARGET = {"a": {"x": 0.9, "y": 0.1}, "b": {"z": 0.7, "y": 0.3}}
# 0.6 (0.9 * 0.8 + 0.1 * 0.5) + 0.4 (0.7 * 0.9 + 0.3 * 0.6)
TRUE_VALUE = 0.786


def logged(n: int, seed: int) -> list[LoggedDecision]:
    rng = np.random.default_rng(seed)
    names = list(CONTEXTS)
    contexts = rng.choice(len(names), size=n, p=list(CONTEXTS.values()))
    luck, draws = rng.random(n), rng.random(n)
    decisions = []
    for c, u, r in zip(contexts, luck, draws, strict=True):
        context = names[int(c)]
        actions = LOGGING[context]
        cumulative = np.cumsum(list(actions.values()))
        action = list(actions)[int(np.searchsorted(cumulative, u, side="right"))]
        reward = float(r < MEANS[context][action])
        decisions.append(LoggedDecision(context, action, actions[action], reward, TARGET[context]))
    return decisions


def test_the_true_value_is_what_the_dataset_says() -> None:
    value = sum(CONTEXTS[c] * sum(p * MEANS[c][a] for a, p in TARGET[c].items()) for c in CONTEXTS)
    assert value == pytest.approx(TRUE_VALUE)


def test_estimates_by_hand_on_two_decisions() -> None:
    decisions = [
        LoggedDecision("a", "x", 0.5, 1.0, {"x": 1.0}),
        LoggedDecision("a", "y", 0.5, 0.0, {"x": 1.0}),
    ]
    report = evaluate(decisions, OpeConfig(folds=1))
    assert report.ips.value == pytest.approx(1.0)  # (2 * 1 + 0 * 0) / 2
    assert report.logged.value == pytest.approx(0.5)
    assert report.effective_sample_size == pytest.approx(1.0)  # (2 + 0)^2 / (4 + 0)
    # Reward model, prior weight 2: overall 0.5; q(a, x) = (1 + 2 * 2/3) / 3 = 7/9.
    # DR terms: 7/9 + 2 * (1 - 7/9) = 11/9 and 7/9 + 0; their mean is 1.
    assert report.dr.value == pytest.approx(1.0)
    assert evaluate(decisions, OpeConfig(clip=1.5)).ips.value == pytest.approx(0.75)
    assert evaluate(decisions, OpeConfig(clip=1.5)).clipped_share == 0.5


def test_both_estimators_find_the_known_value_with_honest_intervals() -> None:
    report = evaluate(logged(20_000, seed=0))
    for estimate in (report.ips, report.dr):
        assert estimate.covers(TRUE_VALUE), estimate
        assert estimate.upper - estimate.lower < 0.05
    assert report.dr.stderr < report.ips.stderr  # the reward model removes variance
    # The logging policy is worse than the target here: the estimate must not be its value.
    assert not report.logged.covers(TRUE_VALUE)
    assert 0.2 * report.n < report.effective_sample_size < report.n


def test_intervals_cover_the_true_value_at_their_nominal_rate() -> None:
    runs = 200
    covered = {"ips": 0, "dr": 0}
    for seed in range(runs):
        report = evaluate(logged(1_000, seed=100 + seed))
        covered["ips"] += report.ips.covers(TRUE_VALUE)
        covered["dr"] += report.dr.covers(TRUE_VALUE)
    # 95 % intervals: at 200 runs, 0.91 is 2.6 binomial sd below.
    assert covered["ips"] / runs >= 0.91, covered
    assert covered["dr"] / runs >= 0.91, covered


def test_on_policy_evaluation_is_the_mean_reward() -> None:
    decisions = [
        LoggedDecision(d.context, d.action, d.propensity, d.reward, LOGGING[d.context])
        for d in logged(2_000, seed=1)
    ]
    report = evaluate(decisions)
    assert report.ips.value == pytest.approx(report.logged.value)
    assert report.effective_sample_size == pytest.approx(report.n)


def test_a_decision_without_its_probability_is_refused_with_the_reason() -> None:
    with pytest.raises(OpeError, match=r"logged probability 0\.0"):
        evaluate([LoggedDecision("a", "x", 0.0, 1.0, {"x": 1.0})])
    with pytest.raises(OpeError, match="no logged decisions"):
        evaluate([])
    with pytest.raises(ValueError, match="clip > 0"):
        OpeConfig(clip=0)
