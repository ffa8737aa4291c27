"""Clock offset between a load worker and its master, measured at join (pure).

A remote worker stamps its rows with its own clock; the run's time axis (its
windows, its faults) is the master's, which runs beside the conductor. At join
the worker sends a few pings; each comes back stamped with the master's clock.
As NTP does, one exchange bounds the offset within half its round trip, and
the exchange with the shortest round trip (the least queueing) is the best
estimate. Adding the offset to a worker timestamp gives master time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ClockOffset", "ClockSample", "estimate_offset"]


@dataclass(frozen=True, slots=True)
class ClockSample:
    """One ping: when it left and came back (worker clock), and the master's answer."""

    sent: float
    master: float
    received: float

    @property
    def rtt_s(self) -> float:
        return self.received - self.sent

    @property
    def offset_s(self) -> float:
        # The master read its clock somewhere in the round trip: the midpoint is the
        # estimate, off by at most half the round trip whatever the path's asymmetry.
        return self.master - (self.sent + self.received) / 2


@dataclass(frozen=True, slots=True)
class ClockOffset:
    """master time = worker time + offset_s, within ±error_s."""

    offset_s: float
    rtt_s: float
    samples: int

    @property
    def error_s(self) -> float:
        return self.rtt_s / 2


def estimate_offset(samples: Sequence[ClockSample]) -> ClockOffset:
    """The offset from the exchange with the shortest round trip."""
    valid = [s for s in samples if s.rtt_s >= 0]
    if not valid:
        raise ValueError("no clock sample with a non-negative round trip")
    best = min(valid, key=lambda s: s.rtt_s)
    return ClockOffset(best.offset_s, best.rtt_s, len(valid))
