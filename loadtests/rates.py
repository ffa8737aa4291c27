"""Arrival rates in req/s, or as a share of the measured capacity (`rate: 50%`).

A share puts the same relative stress on any machine: 50 % of what this
architecture sustains here, not 40 req/s that one machine finds easy and another
cannot serve. A spec holding shares is *relative*; the conductor resolves it
against a measured capacity (`LoadSpec.resolved`) before any load starts, and
the launcher refuses a relative spec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

__all__ = ["MAX_PERCENT", "CapacityShare", "Rate", "rate_value"]

# A share above this is a typo (5000%), not an overload test.
MAX_PERCENT = 1000.0
PERCENT_SIGN = "%"


@dataclass(frozen=True)
class CapacityShare:
    """`percent` % of the measured capacity (req/s at the knee)."""

    percent: float

    def of(self, capacity_rps: float) -> float:
        return capacity_rps * self.percent / 100.0

    def __str__(self) -> str:
        return f"{self.percent:g}{PERCENT_SIGN}"


def _parse(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # a number (or a CapacityShare): validated as such
    text = value.strip()
    if not text.endswith(PERCENT_SIGN):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate: give req/s (e.g. 40) or a share of "
                             "the measured capacity (e.g. '50%')") from None
    try:
        percent = float(text[:-1])
    except ValueError:
        raise ValueError(f"{value!r} is not a share of the capacity: write a number "
                         "before '%' (e.g. '50%')") from None
    if not math.isfinite(percent) or not 0 <= percent <= MAX_PERCENT:
        raise ValueError(f"{value!r}: a share of the capacity must be between 0% and "
                         f"{MAX_PERCENT:g}%")
    return CapacityShare(percent)


def _dump(value: float | CapacityShare) -> float | str:
    return str(value) if isinstance(value, CapacityShare) else value


Rate = Annotated[float | CapacityShare, BeforeValidator(_parse), PlainSerializer(_dump)]


def rate_value(rate: float | CapacityShare, capacity_rps: float | None) -> float:
    """req/s of a rate; a share needs the capacity (ValueError without it)."""
    if not isinstance(rate, CapacityShare):
        return rate
    if capacity_rps is None:
        raise ValueError(f"rate {rate} is a share of the measured capacity, which is not "
                         "known here; resolve the spec first (LoadSpec.resolved)")
    return rate.of(capacity_rps)
