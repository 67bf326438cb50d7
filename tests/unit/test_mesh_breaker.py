"""The circuit breaker on a fake clock: open, cool down, one trial, close or open again."""

from __future__ import annotations

import pytest

from tools.mesh.breaker import CircuitBreaker, CircuitState


def test_opens_after_consecutive_failures_and_refuses_during_the_cooldown() -> None:
    breaker = CircuitBreaker(failures=3, cooldown_s=5.0)
    for now in (0.0, 1.0):
        assert breaker.acquire(now)
        breaker.record(False, now)
    assert breaker.state(1.5) is CircuitState.CLOSED
    breaker.record(True, 1.5)  # a success in between resets the count
    for now in (2.0, 2.1, 2.2):
        assert breaker.acquire(now)
        breaker.record(False, now)
    assert breaker.state(2.3) is CircuitState.OPEN
    assert not breaker.allows(7.1) and not breaker.acquire(7.1)


def test_half_open_lets_exactly_one_trial_through() -> None:
    breaker = CircuitBreaker(failures=1, cooldown_s=5.0)
    breaker.record(False, 10.0)
    assert breaker.state(15.0) is CircuitState.HALF_OPEN
    assert breaker.allows(15.0)
    assert breaker.acquire(15.0)
    assert not breaker.allows(15.1) and not breaker.acquire(15.1)  # the trial is out


def test_a_successful_trial_closes_a_failed_one_opens_for_another_cooldown() -> None:
    breaker = CircuitBreaker(failures=1, cooldown_s=5.0)
    breaker.record(False, 0.0)
    assert breaker.acquire(5.0)
    breaker.record(False, 5.0)
    assert breaker.state(9.9) is CircuitState.OPEN
    assert breaker.acquire(10.0)
    breaker.record(True, 10.0)
    assert breaker.state(10.0) is CircuitState.CLOSED and breaker.acquire(10.0)


def test_a_trial_that_never_reports_back_is_given_up_after_a_cooldown() -> None:
    breaker = CircuitBreaker(failures=1, cooldown_s=5.0)
    breaker.record(False, 0.0)
    assert breaker.acquire(5.0)  # its caller was cancelled: no record() follows
    assert not breaker.acquire(9.0)
    assert breaker.acquire(10.0)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="failures >= 1"):
        CircuitBreaker(failures=0, cooldown_s=1.0)


def test_end_cooldown_makes_an_open_circuit_half_open_now_with_one_trial() -> None:
    breaker = CircuitBreaker(failures=1, cooldown_s=5.0)
    breaker.end_cooldown(1.0)  # closed: nothing to end
    assert breaker.state(1.0) is CircuitState.CLOSED and breaker.opened_at is None
    breaker.record(False, 10.0)
    assert breaker.opened_at == 10.0 and breaker.state(11.0) is CircuitState.OPEN
    breaker.end_cooldown(11.0)
    assert breaker.state(11.0) is CircuitState.HALF_OPEN
    assert breaker.acquire(11.0) and not breaker.acquire(11.1)  # still one trial only
    breaker.record(False, 11.2)  # the trial failed: a full cool-down again
    assert breaker.state(16.1) is CircuitState.OPEN
    assert breaker.state(16.2) is CircuitState.HALF_OPEN
