"""Policies carried on events: how long a tool call may take and how it is retried."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RetryPolicy(BaseModel):
    """Per-step timeout and retry policy, exponential backoff with full jitter.

    The delay before attempt ``n + 1`` is drawn uniformly from
    ``[0, min(max_backoff_s, initial_backoff_s * multiplier ** (n - 1))]``
    ("full jitter", which spreads retries of many callers best; see AWS'
    "Exponential Backoff and Jitter").
    """

    # Upper bounds keep one intent from holding an executor slot for days or overflowing the
    # backoff arithmetic: an hour per attempt, a 10-minute delay and a 100x growth are far
    # beyond any tool's needs.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="Per-attempt timeout; also cancels the call on the server.",
    )
    max_attempts: int = Field(
        default=3, ge=1, le=20, description="Total attempts, the first one included."
    )
    initial_backoff_s: float = Field(
        default=0.2, ge=0, le=600, description="Cap of the first retry's delay."
    )
    multiplier: float = Field(
        default=2.0, ge=1, le=100, description="Growth of the cap per further retry."
    )
    max_backoff_s: float = Field(
        default=5.0, ge=0, le=600, description="Upper bound of any one delay."
    )

    def backoff_cap(self, attempt: int) -> float:
        """Largest delay allowed after failed attempt number ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1, got {attempt}")
        try:
            grown = self.initial_backoff_s * self.multiplier ** (attempt - 1)
        except OverflowError:  # 100 ** 19 fits a float, but keep the cap exact whatever the bounds
            return self.max_backoff_s
        return min(self.max_backoff_s, grown)
