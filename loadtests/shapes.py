"""Open-loop arrival schedule: intended send times on a fixed, rate-driven timeline (pure).

The rate is piecewise linear (stages). Arrival k (k = 0, 1, ...) is due at the
offset t where the cumulative arrivals Λ(t) = ∫rate = k. The schedule does not
care whether the pool keeps up: a late arrival keeps its intended time (so
latency can be corrected for coordinated omission), and an arrival that no
pool user could start within `max_lag_s` is dropped and counted, never sent.

With N Locust workers, worker i takes the arrivals k ≡ i (mod N): together
they follow the global schedule and no coordination is needed at run time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["ArrivalSchedule", "Ramp", "Slot"]

# Float slack when comparing Λ(t) with the last arrival index.
EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Ramp:
    duration_s: float
    rate_start: float
    rate_end: float

    @property
    def count(self) -> float:
        return (self.rate_start + self.rate_end) / 2 * self.duration_s

    def offset_of(self, m: float) -> float:
        """Time into this ramp at which `m` arrivals have accrued (0 <= m <= count)."""
        r0 = self.rate_start
        a = (self.rate_end - r0) / self.duration_s
        # Root of a/2 t² + r0 t - m = 0 written as 2m / (r0 + √(r0² + 2am)): stable for
        # a → 0 and for r0 = 0.
        disc = max(r0 * r0 + 2 * a * m, 0.0)
        denom = r0 + math.sqrt(disc)
        return 0.0 if m <= 0 else (2 * m / denom if denom > 0 else self.duration_s)

    def accrued(self, t: float) -> float:
        """Arrivals accrued after `t` seconds into this ramp."""
        a = (self.rate_end - self.rate_start) / self.duration_s
        return self.rate_start * t + a * t * t / 2


@dataclass(frozen=True, slots=True)
class Slot:
    index: int
    ts_intended: float
    # The ramp the arrival falls in (a stage may draw from its own mix).
    stage: int = 0


@dataclass
class ArrivalSchedule:
    """Hands out this worker's arrivals in order; `claim` is called by idle pool users."""

    ramps: Sequence[Ramp]
    max_lag_s: float
    stride: int = 1
    offset: int = 0
    t0: float | None = None
    dropped: int = 0
    dropped_per_s: dict[int, int] = field(default_factory=dict)
    exhausted: bool = False
    outstanding: int = 0
    claimed: int = 0
    _next: int = -1

    def __post_init__(self) -> None:
        self._next = self.offset
        self.total = sum(r.count for r in self.ramps)
        self.duration_s = sum(r.duration_s for r in self.ramps)

    @property
    def arrivals(self) -> int:
        """Arrivals in the whole plan (every worker's together)."""
        return max(math.ceil(self.total - EPS), 0)

    @property
    def intended(self) -> int:
        """This worker's share of them: the indices k < arrivals with k ≡ offset (mod stride)."""
        return max(-(-(self.arrivals - self.offset) // self.stride), 0)

    def offset_of(self, k: float) -> float | None:
        """Offset (s from t0) of global arrival k, or None if past the schedule's end.

        Half-open: arrivals due in [0, duration) count, so a constant rate r over
        T seconds gives exactly r·T arrivals.
        """
        if k >= self.total - EPS:
            return None
        start = 0.0
        for ramp in self.ramps:
            if k <= ramp.count + EPS:
                return start + min(ramp.offset_of(k), ramp.duration_s)
            k -= ramp.count
            start += ramp.duration_s
        return None

    def stage_of(self, k: float) -> int:
        """The ramp in which global arrival k falls (the last one past the end)."""
        for i, ramp in enumerate(self.ramps):
            if k < ramp.count - EPS:
                return i
            k -= ramp.count
        return max(len(self.ramps) - 1, 0)

    def accrued(self, t: float) -> float:
        """Global arrivals due in [0, t] (Λ(t))."""
        done = 0.0
        for ramp in self.ramps:
            if t <= ramp.duration_s:
                return done + ramp.accrued(max(t, 0.0))
            done += ramp.count
            t -= ramp.duration_s
        return done

    def _skip_to(self, k_min: int) -> int:
        """Advance to this worker's first index >= k_min; return how many were skipped."""
        if k_min <= self._next:
            return 0
        steps = -(-(k_min - self._next) // self.stride)
        self._next += steps * self.stride
        return steps

    def claim(self, now: float) -> Slot | None:
        """Next arrival for an idle user, or None when the schedule is over.

        The first claim starts the clock. Arrivals older than `max_lag_s` are
        dropped in one step (their count is computed, not iterated).
        """
        if self.t0 is None:
            self.t0 = now
        late_before = now - self.t0 - self.max_lag_s
        if late_before > 0:
            skipped = self._skip_to(math.ceil(self.accrued(late_before) - EPS))
            if skipped:
                self.dropped += skipped
                second = int(now)
                self.dropped_per_s[second] = self.dropped_per_s.get(second, 0) + skipped
        offset = self.offset_of(self._next)
        if offset is None:
            self.exhausted = True
            return None
        slot = Slot(self._next, self.t0 + offset, self.stage_of(self._next))
        self._next += self.stride
        self.outstanding += 1
        self.claimed += 1
        return slot

    def close(self, now: float) -> None:
        """The run ended: arrivals of this share never claimed were never sent, so they
        are dropped (a worker frozen past the end leaves a backlog nobody claims)."""
        left = self.intended - self.claimed - self.dropped
        if left > 0 and not self.exhausted:
            self.dropped += left
            self.dropped_per_s[int(now)] = self.dropped_per_s.get(int(now), 0) + left
        self.exhausted = True

    def complete(self, slot: Slot) -> None:
        """The claimed arrival was sent and answered (or failed)."""
        self.outstanding -= 1

    @property
    def done(self) -> bool:
        """Every arrival was claimed and every claimed one completed: the run can end."""
        return self.exhausted and self.outstanding == 0
