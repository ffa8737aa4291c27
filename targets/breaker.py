"""A per-replica circuit breaker: closed → open after consecutive failures,
half-open after a cool-down lets one probe through."""

from __future__ import annotations

import time
from enum import StrEnum

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    def __init__(self, failures_to_open: int, open_s: float) -> None:
        self.failures_to_open = failures_to_open
        self.open_s = open_s
        self.failures = 0
        self.opened_at: float | None = None
        self.probing = False
        # How long the current opening lasts: open_s, or longer when asked (Retry-After).
        self.hold_s = open_s

    @property
    def state(self) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.CLOSED
        if time.monotonic() - self.opened_at >= self.hold_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self.probing:
            self.probing = True
            return True
        return False

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probing = False
        self.hold_s = self.open_s

    def open_for(self, seconds: float) -> None:
        """Open now, for `seconds` at least the usual cool-down: the replica said
        when to come back (Retry-After)."""
        self.opened_at = time.monotonic()
        self.probing = False
        self.hold_s = max(self.open_s, seconds)

    def record_failure(self) -> None:
        self.failures += 1
        self.probing = False
        if self.failures >= self.failures_to_open or self.opened_at is not None:
            self.opened_at = time.monotonic()
