"""Estimates with their uncertainty (DESIGN.md §5): every measured quantity is
an `Estimate` — value, interval at a confidence level, n and method — and a
hypothesis is decided on the whole interval, never on the point alone.

The intervals come from libraries, not hand-rolled formulas:
- proportions: Wilson score (default) or Clopper-Pearson ("exact"), from
  statsmodels' `proportion_confint`;
- percentiles: the distribution-free order-statistic interval of
  `scipy.stats.quantile_test`; where the sample is too small for a bound to
  exist (the p95 of 13 requests has no finite upper bound), the bound is ±inf;
- anything else (differences between windows or architectures, ratios,
  arithmetic over several metrics): `scipy.stats.bootstrap` over the rows,
  with a fixed seed so the same rows always give the same interval;
- two samples compared as distributions: the Mann-Whitney U test with its
  common-language effect size (Kayenta's canary judge does the same).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

__all__ = [
    "DEFAULT_CONFIDENCE",
    "Decision",
    "Estimate",
    "RankComparison",
    "bootstrap_estimate",
    "decide",
    "proportion",
    "proportion_samples_needed",
    "quantile",
    "quantile_samples_needed",
    "rank_compare",
    "with_resolution",
]

DEFAULT_CONFIDENCE = 0.95
PROPORTION_METHODS = {"wilson": "wilson", "clopper-pearson": "beta"}
# Resamples of a bootstrap: enough for stable 95 % percentile bounds (Efron &
# Tibshirani suggest >= 1000 for intervals); a fixed seed makes them repeatable.
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20261130
# Sample-size searches stop here: beyond it the answer is "no practical run".
MAX_SAMPLES = 10_000_000
QUANTILE_MAX_SAMPLES = 1_000_000


class Decision(StrEnum):
    HOLDS = "holds"
    FAILS = "fails"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval at `confidence`, the n it rests on, and how.

    `low`/`high` may be ±inf where the sample bounds nothing on that side;
    `value` is NaN where nothing was measured.
    """

    value: float
    low: float
    high: float
    n: int
    method: str
    confidence: float = DEFAULT_CONFIDENCE

    @property
    def measured(self) -> bool:
        return not math.isnan(self.value)

    def scaled(self, factor: float, offset: float = 0.0) -> Estimate:
        """factor * X + offset, with the interval mapped (and flipped for factor < 0)."""
        ends = sorted((self.low * factor + offset, self.high * factor + offset))
        return Estimate(self.value * factor + offset, ends[0], ends[1], self.n, self.method,
                        self.confidence)

    def describe(self, digits: int = 4) -> str:
        if not self.measured:
            return f"no data (n={self.n})"
        pct = f"{self.confidence:.0%}"
        return (f"{self.value:.{digits}g} [{self.low:.{digits}g}, {self.high:.{digits}g}] "
                f"at {pct}, n={self.n}, {self.method}")


def _satisfies(x: float, op: str, threshold: float) -> bool:
    return {"<=": x <= threshold, "<": x < threshold, ">=": x >= threshold,
            ">": x > threshold, "==": x == threshold, "!=": x != threshold}[op]


def decide(estimate: Estimate, op: str, threshold: float) -> Decision:
    """Holds when the whole interval satisfies `X op threshold`, fails when none of it
    does, inconclusive otherwise (and when nothing was measured)."""
    if not estimate.measured or math.isnan(threshold) or math.isnan(estimate.low) \
            or math.isnan(estimate.high):
        return Decision.INCONCLUSIVE
    if op == "==":
        if estimate.low == estimate.high == threshold:
            return Decision.HOLDS
        inside = estimate.low <= threshold <= estimate.high
        return Decision.INCONCLUSIVE if inside else Decision.FAILS
    if op == "!=":
        inverse = decide(estimate, "==", threshold)
        return {Decision.HOLDS: Decision.FAILS, Decision.FAILS: Decision.HOLDS}.get(
            inverse, Decision.INCONCLUSIVE)
    low_ok, high_ok = (_satisfies(estimate.low, op, threshold),
                       _satisfies(estimate.high, op, threshold))
    if low_ok and high_ok:
        return Decision.HOLDS
    if not low_ok and not high_ok:
        return Decision.FAILS
    return Decision.INCONCLUSIVE


# -- proportions -------------------------------------------------------------------
def proportion(successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE,
               method: str = "wilson") -> Estimate:
    """successes / n with its Wilson (default) or Clopper-Pearson interval."""
    if method not in PROPORTION_METHODS:
        raise ValueError(f"unknown proportion method {method!r}; allowed: "
                         f"{', '.join(PROPORTION_METHODS)}")
    if n <= 0:
        return Estimate(math.nan, 0.0, 1.0, 0, method, confidence)
    low, high = proportion_confint(successes, n, alpha=1 - confidence,
                                   method=PROPORTION_METHODS[method])
    # statsmodels returns 0.9999999999999999 for k == n: the bound is 1.
    return Estimate(successes / n, max(0.0, float(low)), min(1.0, float(high)), n, method,
                    confidence)


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
def quantile(values: Sequence[float] | np.ndarray, q: float,
             confidence: float = DEFAULT_CONFIDENCE) -> Estimate:
    """The q-quantile (0 < q < 1) with its distribution-free order-statistic interval.

    The point estimate is numpy's linear interpolation (what the reports show);
    the interval is `scipy.stats.quantile_test`'s, between two order statistics.
    """
    data = np.asarray(values, dtype=float)
    data = data[~np.isnan(data)]
    if data.size == 0:
        return Estimate(math.nan, -math.inf, math.inf, 0, "order-statistic", confidence)
    point = float(np.quantile(data, q))
    ci = stats.quantile_test(data, q=point, p=q).confidence_interval(confidence)
    low = float(ci.low) if not math.isnan(ci.low) else -math.inf
    high = float(ci.high) if not math.isnan(ci.high) else math.inf
    return Estimate(point, low, high, int(data.size), "order-statistic", confidence)


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


# -- anything else: the bootstrap ------------------------------------------------------
def bootstrap_estimate(samples: Sequence[np.ndarray],
                       statistic: Callable[..., float | np.ndarray],
                       confidence: float = DEFAULT_CONFIDENCE,
                       resamples: int = BOOTSTRAP_RESAMPLES,
                       seed: int = BOOTSTRAP_SEED, vectorized: bool = False) -> Estimate:
    """The statistic of independent samples (e.g. fault rows, baseline rows) with a
    percentile bootstrap interval, resampling each sample on its own.

    `statistic(*samples)` receives one resampled array per sample (of row indices,
    or of values) and returns a float. A fixed seed: the same rows, the same interval.
    `vectorized`: the statistic takes `axis=-1` and arrays with the resamples along
    the first axes, returning one value per resample (much faster; scipy's contract).
    """
    arrays = [np.asarray(s) for s in samples]
    n = int(sum(a.size for a in arrays))
    point = float(statistic(*arrays))
    if any(a.size == 0 for a in arrays) or math.isnan(point):
        return Estimate(point if arrays else math.nan, -math.inf, math.inf, n, "bootstrap",
                        confidence)
    result = stats.bootstrap(arrays, statistic, n_resamples=resamples, paired=False,
                             vectorized=vectorized, confidence_level=confidence,
                             method="percentile", rng=np.random.default_rng(seed))
    low, high = result.confidence_interval
    if math.isnan(low) or math.isnan(high):
        return Estimate(point, -math.inf, math.inf, n, "bootstrap", confidence)
    return Estimate(point, float(low), float(high), n, "bootstrap", confidence)


@dataclass(frozen=True)
class RankComparison:
    """Mann-Whitney U of x against y: p-value and P(X > Y) + 0.5 P(X = Y)."""

    p_value: float
    effect: float
    n_x: int
    n_y: int

    def describe(self) -> str:
        return (f"Mann-Whitney p={self.p_value:.3g}, P(x>y)={self.effect:.2f} "
                f"(n={self.n_x} vs {self.n_y})")


def rank_compare(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> \
        RankComparison:
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size == 0 or b.size == 0:
        return RankComparison(math.nan, math.nan, int(a.size), int(b.size))
    result = stats.mannwhitneyu(a, b, alternative="two-sided")
    return RankComparison(float(result.pvalue), float(result.statistic) / (a.size * b.size),
                          int(a.size), int(b.size))


def with_resolution(value: float, resolution_s: float, n: int,
                    confidence: float = DEFAULT_CONFIDENCE) -> Estimate:
    """A duration known only to within the spacing of the samples that located it."""
    if math.isnan(value) or math.isinf(value):
        return Estimate(value, value if math.isinf(value) else math.nan,
                        value if math.isinf(value) else math.nan, n, "resolution", confidence)
    return Estimate(value, max(0.0, value - resolution_s), value + resolution_s, n,
                    "resolution", confidence)
