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

How many samples would decide an interval too wide to decide: `dashboards.sample_sizes`.
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
    "PROPORTION_METHODS",
    "Decision",
    "Estimate",
    "IntervalOptions",
    "RankComparison",
    "bootstrap_estimate",
    "combine",
    "decide",
    "method_label",
    "observed",
    "proportion",
    "quantile",
    "rank_compare",
    "with_resolution",
]

DEFAULT_CONFIDENCE = 0.95
PROPORTION_METHODS = {"wilson": "wilson", "clopper-pearson": "beta"}
# Resamples of a bootstrap: enough for stable 95 % percentile bounds (Efron &
# Tibshirani suggest >= 1000 for intervals); a fixed seed makes them repeatable.
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20261130
OBSERVED = "observed"
RESOLUTION = "resolution"
BOOTSTRAP = "bootstrap"
ORDER_STATISTIC = "order-statistic"
INTERVAL_ARITHMETIC = "interval arithmetic"
# How a method is named to a reader (reports, verdict details).
METHOD_LABELS = {"wilson": "Wilson", "clopper-pearson": "Clopper-Pearson",
                 ORDER_STATISTIC: "order-statistic", BOOTSTRAP: "bootstrap",
                 RESOLUTION: "sample resolution", OBSERVED: "observed, exact",
                 INTERVAL_ARITHMETIC: "interval arithmetic"}


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


@dataclass(frozen=True)
class IntervalOptions:
    """How intervals are computed for one experiment: its confidence and proportion method."""

    confidence: float = DEFAULT_CONFIDENCE
    proportion_method: str = "wilson"


def method_label(estimate: Estimate) -> str:
    """"Wilson 95 %", "order-statistic 95 %", "observed, exact"."""
    label = METHOD_LABELS.get(estimate.method, estimate.method)
    if estimate.method in (OBSERVED, RESOLUTION):  # no sampling confidence to state
        return label
    return f"{label} {estimate.confidence * 100:.4g} %"


def observed(value: float, n: int, confidence: float = DEFAULT_CONFIDENCE) -> Estimate:
    """A count or a rate of this run itself: known exactly, so its interval is the point.

    (The run is not asked to stand for other runs here: `loss_rate` is the
    proportion to use for that.)"""
    return Estimate(value, value, value, n, OBSERVED, confidence)


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
    # statsmodels returns 0.9999999999999999 for k == n (and a hair above 0 for k == 0):
    # the bound is 1 (0) exactly.
    low = 0.0 if successes == 0 else max(0.0, float(low))
    high = 1.0 if successes == n else min(1.0, float(high))
    return Estimate(successes / n, low, high, n, method, confidence)


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
        return Estimate(math.nan, -math.inf, math.inf, 0, ORDER_STATISTIC, confidence)
    point = float(np.quantile(data, q))
    ci = stats.quantile_test(data, q=point, p=q).confidence_interval(confidence)
    low = float(ci.low) if not math.isnan(ci.low) else -math.inf
    high = float(ci.high) if not math.isnan(ci.high) else math.inf
    return Estimate(point, low, high, int(data.size), ORDER_STATISTIC, confidence)


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
    # One observation (or none) cannot be resampled into a spread: nothing is bounded.
    if any(a.size < 2 for a in arrays) or math.isnan(point):
        return Estimate(point if arrays else math.nan, -math.inf, math.inf, n, BOOTSTRAP,
                        confidence)
    result = stats.bootstrap(arrays, statistic, n_resamples=resamples, paired=False,
                             vectorized=vectorized, confidence_level=confidence,
                             method="percentile", rng=np.random.default_rng(seed))
    low, high = result.confidence_interval
    if math.isnan(low) or math.isnan(high):
        return Estimate(point, -math.inf, math.inf, n, BOOTSTRAP, confidence)
    return Estimate(point, float(low), float(high), n, BOOTSTRAP, confidence)


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
                        value if math.isinf(value) else math.nan, n, RESOLUTION, confidence)
    return Estimate(value, max(0.0, value - resolution_s), value + resolution_s, n,
                    RESOLUTION, confidence)


# -- interval arithmetic ----------------------------------------------------------------
def combine(op: str, a: Estimate, b: Estimate) -> Estimate:
    """`a op b` (op in + - * /) with the interval of every value the two intervals allow.

    Used where the two sides cannot be resampled row by row (durations from their
    resolution, window-less metrics): conservative, never narrower than the truth
    at the joint confidence of the two intervals. Pass each interval at a higher
    confidence (Bonferroni) to keep the joint one.
    """
    point = _apply(op, a.value, b.value)
    corners = [_apply(op, x, y) for x in (a.low, a.high) for y in (b.low, b.high)]
    if op == "/" and b.low <= 0 <= b.high:
        low, high = -math.inf, math.inf  # the divisor may be 0: nothing is bounded
    elif any(math.isnan(c) for c in corners):
        low, high = -math.inf, math.inf  # inf - inf: unbounded both ways
    else:
        low, high = min(corners), max(corners)
    method = a.method if b.method == OBSERVED and b.low == b.high else (
        b.method if a.method == OBSERVED and a.low == a.high else INTERVAL_ARITHMETIC)
    return Estimate(point, low, high, a.n + b.n, method, min(a.confidence, b.confidence))


def _apply(op: str, x: float, y: float) -> float:
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return 0.0 if x == 0 or y == 0 else x * y  # 0 * inf: the zero wins
    if y == 0:
        return math.nan if x == 0 else math.copysign(math.inf, x)
    return x / y
