"""How many samples would decide a hypothesis (DESIGN.md §5): where an interval is
too wide to decide `X op threshold`, about how many samples of the same kind,
by the same interval method, would narrow it enough.

- proportions: the smallest n at which the observed rate, if it stayed the same,
  would give a Wilson (or Clopper-Pearson) interval that decides;
- percentiles: the order-statistic interval on n values spread evenly over the
  distribution observed so far; and the fewest samples for which a percentile
  has a finite bound at all;
- the bootstrap: its interval narrows as 1/sqrt(n).

A `Measurement` carries an `Estimate` with what these questions need.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dashboards.intervals import (
    BOOTSTRAP,
    DEFAULT_CONFIDENCE,
    ORDER_STATISTIC,
    PROPORTION_METHODS,
    Decision,
    Estimate,
    decide,
    proportion,
    quantile,
)

__all__ = [
    "Measurement",
    "bootstrap_samples_needed",
    "proportion_samples_needed",
    "quantile_bound_min_samples",
    "quantile_samples_needed",
]

# Sample-size searches stop here: beyond it the answer is "no practical run".
MAX_SAMPLES = 10_000_000
QUANTILE_MAX_SAMPLES = 1_000_000


# -- proportions -------------------------------------------------------------------
def proportion_samples_needed(rate: float, op: str, threshold: float,
                              confidence: float = DEFAULT_CONFIDENCE,
                              method: str = "wilson") -> int | None:
    """The smallest n at which the observed `rate`, if it stayed the same, would decide
    `p op threshold` (hold or fail); None when no sample size would (rate == threshold)."""
    if math.isnan(rate):
        return None

    def decided(n: int) -> bool:
        estimate = proportion(round(rate * n), n, confidence, method)
        return decide(estimate, op, threshold) is not Decision.INCONCLUSIVE

    return _smallest(decided, MAX_SAMPLES)


def _smallest(decided: Callable[[int], bool], limit: int) -> int | None:
    """The smallest n in 1..limit with decided(n), assuming it stays true above."""
    high = 1
    while not decided(high):
        high *= 2
        if high > limit:
            return None
    low = high // 2
    while high - low > 1:
        mid = (low + high) // 2
        if decided(mid):
            high = mid
        else:
            low = mid
    return high


# -- percentiles --------------------------------------------------------------------
def quantile_samples_needed(values: Sequence[float] | np.ndarray, q: float, op: str,
                            threshold: float,
                            confidence: float = DEFAULT_CONFIDENCE) -> int | None:
    """About how many samples would decide `quantile_q op threshold`, if the values
    kept the distribution observed so far: the interval is computed, by the same
    method, on n values spread evenly over the observed distribution."""
    data = np.asarray(values, dtype=float)
    data = data[~np.isnan(data)]
    if data.size == 0:
        return None

    def decided(n: int) -> bool:
        spread = np.quantile(data, (np.arange(n) + 0.5) / n)
        return decide(quantile(spread, q, confidence), op, threshold) \
            is not Decision.INCONCLUSIVE

    return _smallest(decided, QUANTILE_MAX_SAMPLES)


def quantile_bound_min_samples(q: float, upper: bool,
                               confidence: float = DEFAULT_CONFIDENCE) -> int | None:
    """The fewest samples for which the order-statistic interval of the q-quantile has a
    finite upper (or lower) bound at all: below it, a `<=` (or `>=`) on that
    percentile can never hold, whatever the latencies. p95 at 95 %: 72 for the upper bound."""

    def bounded(n: int) -> bool:
        estimate = quantile(np.arange(1.0, n + 1.0), q, confidence)
        return math.isfinite(estimate.high if upper else estimate.low)

    return _smallest(bounded, QUANTILE_MAX_SAMPLES)


# -- the bootstrap ------------------------------------------------------------------
def bootstrap_samples_needed(estimate: Estimate, op: str, threshold: float) -> int | None:
    """About how many rows would decide `X op threshold`: a bootstrap interval narrows
    as 1/sqrt(n), so n * (the interval's reach towards the threshold / the point's
    distance to it)^2. None when the point sits on the threshold or the interval is
    unbounded."""
    if not estimate.measured or not math.isfinite(estimate.low) \
            or not math.isfinite(estimate.high) or estimate.n <= 0:
        return None
    if decide(estimate, op, threshold) is not Decision.INCONCLUSIVE:
        return estimate.n
    margin = abs(estimate.value - threshold)
    if margin == 0:
        return None
    # The side of the interval that reaches across the threshold (a percentile
    # bootstrap interval need not be symmetric).
    half = estimate.high - estimate.value if threshold > estimate.value \
        else estimate.value - estimate.low
    return max(estimate.n + 1, math.ceil(estimate.n * (half / margin) ** 2))


# -- a measurement and its question -------------------------------------------------
@dataclass(frozen=True)
class Measurement:
    """An `Estimate`, and what a "how many samples would decide it" question needs:
    the values a quantile rests on, and a sentence about the quantity (e.g. the
    upper bound on the loss rate behind a count of lost requests)."""

    estimate: Estimate
    values: np.ndarray | None = None
    q: float | None = None
    note: str = ""

    def samples_needed(self, op: str, threshold: float) -> int | None:
        """About how many samples of the same kind would decide `X op threshold`, by
        the method of the interval; None where more samples would not (exact counts,
        resolutions) or no sample size would."""
        estimate = self.estimate
        if estimate.method in PROPORTION_METHODS:
            return proportion_samples_needed(estimate.value, op, threshold,
                                             estimate.confidence, estimate.method)
        if estimate.method == ORDER_STATISTIC and self.values is not None \
                and self.q is not None:
            return quantile_samples_needed(self.values, self.q, op, threshold,
                                           estimate.confidence)
        if estimate.method == BOOTSTRAP:
            return bootstrap_samples_needed(estimate, op, threshold)
        return None
