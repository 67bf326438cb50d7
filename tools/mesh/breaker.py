"""A circuit breaker per node and worker: stop calling a failing node, try it again later.

CLOSED: calls go through; ``failures`` consecutive failures open it. OPEN: no calls for
``cooldown_s``. HALF_OPEN: exactly one trial call goes through (whoever ``acquire``s first);
its success closes the circuit, its failure opens it for another cool-down.

Pure and clocked by the caller (``now``), so it is tested without waiting.
"""

from __future__ import annotations

from enum import StrEnum


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, failures: int, cooldown_s: float) -> None:
        if failures < 1 or cooldown_s <= 0:
            raise ValueError(f"need failures >= 1 and cooldown_s > 0, got {failures}, {cooldown_s}")
        self.failures = failures
        self.cooldown_s = cooldown_s
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_at: float | None = None  # when the half-open trial call was handed out

    def state(self, now: float) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if now - self._opened_at < self.cooldown_s:
            return CircuitState.OPEN
        return CircuitState.HALF_OPEN

    @property
    def opened_at(self) -> float | None:
        """When the circuit last opened (the caller's clock); None while it is closed."""
        return self._opened_at

    def end_cooldown(self, now: float) -> None:
        """Other evidence (a probe that succeeded after the circuit opened) says the node is
        back: go half-open now instead of at the end of the cool-down. One trial call still
        decides, so a wrong hint costs one call, as a cool-down's end does."""
        if self._opened_at is not None and now - self._opened_at < self.cooldown_s:
            self._opened_at = now - self.cooldown_s

    def allows(self, now: float) -> bool:
        """Would a call go through now? (Does not claim the half-open trial.)"""
        state = self.state(now)
        return state is CircuitState.CLOSED or (
            state is CircuitState.HALF_OPEN and self._trial_free(now)
        )

    def _trial_free(self, now: float) -> bool:
        # A trial whose outcome never came back (its caller was cancelled) is given up after a
        # cool-down, or the circuit would stay half-open with no call allowed for ever.
        return self._trial_at is None or now - self._trial_at >= self.cooldown_s

    def acquire(self, now: float) -> bool:
        """Claim the right to call now; in HALF_OPEN only the first caller gets it."""
        state = self.state(now)
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and self._trial_free(now):
            self._trial_at = now
            return True
        return False

    def record(self, ok: bool, now: float) -> None:
        """The outcome of a call that ``acquire`` let through."""
        if ok:
            self._consecutive = 0
            self._opened_at = None
            self._trial_at = None
            return
        self._consecutive += 1
        if self._opened_at is not None or self._consecutive >= self.failures:
            # A failed trial (or the threshold reached) opens the circuit for a full cool-down.
            self._opened_at = now
            self._trial_at = None
