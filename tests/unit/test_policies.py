"""Retry policies: bounded, and their backoff arithmetic cannot overflow."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models import RetryPolicy


def test_the_largest_allowed_policy_still_computes_its_backoff() -> None:
    policy = RetryPolicy(multiplier=100, max_attempts=20, max_backoff_s=600, initial_backoff_s=600)
    assert [policy.backoff_cap(n) for n in (1, 19, 20)] == [600, 600, 600]


@pytest.mark.parametrize(
    "fields",
    [
        {"multiplier": 1e300},
        {"timeout_s": float("inf")},
        {"timeout_s": 86_400},
        {"max_backoff_s": float("nan")},
        {"max_attempts": 1000},
    ],
)
def test_policies_outside_the_bounds_are_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        RetryPolicy.model_validate(fields)
