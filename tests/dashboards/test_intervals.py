"""Interval methods against known values (Wilson 1927, order statistics, bootstrap)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from dashboards.intervals import (
    Decision,
    Estimate,
    bootstrap_estimate,
    combine,
    decide,
    method_label,
    observed,
    proportion,
    quantile,
    rank_compare,
    with_resolution,
)
from dashboards.sample_sizes import (
    bootstrap_samples_needed,
    proportion_samples_needed,
    quantile_bound_min_samples,
    quantile_samples_needed,
)

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval as published (E. B. Wilson, JASA 1927), the reference."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    (0, 66, 0.0, 0.0550),
    (66, 66, 0.9450, 1.0),
    (58, 60, 0.8864, 0.9908),
])
def test_wilson_known_values(k: int, n: int, low: float, high: float) -> None:
    estimate = proportion(k, n)
    assert estimate.value == pytest.approx(k / n)
    assert estimate.low == pytest.approx(low, abs=1e-4)
    assert estimate.high == pytest.approx(high, abs=1e-4)
    ref_low, ref_high = wilson(k, n)
    assert estimate.low == pytest.approx(max(0.0, ref_low), abs=1e-9)
    assert estimate.high == pytest.approx(min(1.0, ref_high), abs=1e-9)
    assert estimate.n == n and estimate.method == "wilson"


def test_clopper_pearson_zero_failures_is_exact() -> None:
    # 0 failures in n: the two-sided exact upper bound is 1 - (alpha/2)^(1/n).
    estimate = proportion(66, 66, method="clopper-pearson")
    assert estimate.low == pytest.approx(0.025 ** (1 / 66), abs=1e-9)


def test_zero_failures_in_66_decides_only_what_66_can() -> None:
    available = proportion(66, 66)
    assert decide(available, ">=", 0.999) is Decision.INCONCLUSIVE
    assert decide(available, ">=", 0.9) is Decision.HOLDS
    # How many would decide >= 99.9 % with no failure (Wilson, 95 %): n/(n+z²) >= 0.999.
    needed = proportion_samples_needed(1.0, ">=", 0.999)
    assert needed == math.ceil(0.999 * Z95**2 / 0.001)
    assert decide(proportion(needed, needed), ">=", 0.999) is Decision.HOLDS
    assert decide(proportion(needed - 1, needed - 1), ">=", 0.999) is Decision.INCONCLUSIVE


def test_a_clear_violation_fails() -> None:
    assert decide(proportion(30, 60), ">=", 0.99) is Decision.FAILS
    assert decide(proportion(0, 0), ">=", 0.5) is Decision.INCONCLUSIVE


def test_order_statistic_interval_for_p95_at_n_100() -> None:
    values = np.arange(1, 101, dtype=float)  # x(i) = i
    estimate = quantile(values, 0.95)
    assert estimate.value == pytest.approx(np.percentile(values, 95))
    # Ranks 90 and 100: the narrowest with each tail <= 2.5 % (binomial(100, 0.95)).
    assert (estimate.low, estimate.high) == (90.0, 100.0)
    coverage = stats.binom.cdf(99, 100, 0.95) - stats.binom.cdf(89, 100, 0.95)
    assert coverage >= 0.95
    assert estimate.n == 100 and estimate.method == "order-statistic"


def test_p95_of_13_samples_has_no_upper_bound() -> None:
    estimate = quantile(np.arange(1, 14, dtype=float), 0.95)
    assert estimate.high == math.inf
    assert decide(estimate, "<=", 250) is Decision.INCONCLUSIVE
    assert decide(estimate, ">=", 5) is Decision.HOLDS  # the low side is bounded


def test_quantile_samples_needed_grows_as_the_margin_shrinks() -> None:
    rng = np.random.default_rng(7)
    latencies = rng.exponential(20.0, 50)  # p95 about 60 ms
    wide = quantile_samples_needed(latencies, 0.95, "<=", 250)
    narrow = quantile_samples_needed(latencies, 0.95, "<=", 65)  # just above the p95
    # Far above every sample, the bound only needs to exist: 0.95^n <= 2.5 %, n >= 72.
    assert wide == math.ceil(math.log(0.025) / math.log(0.95))
    assert narrow is not None and narrow > 4 * wide


def test_bootstrap_difference_on_two_fixed_samples() -> None:
    x = np.arange(1, 21, dtype=float)
    y = x + 10

    def diff(a: np.ndarray, b: np.ndarray) -> float:
        return float(a.mean() - b.mean())

    first = bootstrap_estimate([x, y], diff)
    assert first.value == -10.0
    assert first.low < -10.0 < first.high
    # The standard error of the difference is sqrt(2 * var/20) ≈ 1.82: about ±3.6.
    assert 5.0 < first.high - first.low < 9.0
    assert first == bootstrap_estimate([x, y], diff)  # same rows, same interval
    assert decide(first, "<", 0) is Decision.HOLDS


def test_rank_compare_effect_size() -> None:
    result = rank_compare([1, 2, 3], [4, 5, 6])
    assert result.effect == 0.0
    assert result.p_value == pytest.approx(0.1, abs=1e-9)  # exact two-sided, n=3 vs 3


def test_scaled_estimate_maps_and_flips() -> None:
    estimate = Estimate(10.0, 8.0, 12.0, 5, "x")
    assert estimate.scaled(2, 50) == Estimate(70.0, 66.0, 74.0, 5, "x")
    assert estimate.scaled(-1) == Estimate(-10.0, -12.0, -8.0, 5, "x")


def test_resolution_interval() -> None:
    estimate = with_resolution(0.8, 0.25, 40)
    assert (estimate.low, estimate.high) == (pytest.approx(0.55), pytest.approx(1.05))
    assert decide(estimate, "<=", 1.0) is Decision.INCONCLUSIVE
    assert decide(with_resolution(0.5, 0.25, 40), "<=", 1.0) is Decision.HOLDS


def test_proportion_bounds_are_exactly_0_and_1_at_the_ends() -> None:
    assert proportion(66, 66).high == 1.0 and proportion(0, 66).low == 0.0


def test_a_percentile_needs_enough_samples_for_a_bound() -> None:
    # The p95's upper bound exists from 0.95^n <= 2.5 %: n = 72 (see above).
    assert quantile_bound_min_samples(0.95, upper=True) == 72
    assert quantile_bound_min_samples(0.5, upper=True) == 6  # 0.5^n <= 2.5 %
    assert quantile_bound_min_samples(0.95, upper=False) == 2  # 0.05^n <= 2.5 %


def test_interval_arithmetic_covers_every_combination() -> None:
    a, b = Estimate(10.0, 8.0, 12.0, 5, "x"), Estimate(2.0, 1.0, 4.0, 7, "y")
    assert combine("-", a, b) == Estimate(8.0, 4.0, 11.0, 12, "interval arithmetic")
    assert (combine("/", a, b).low, combine("/", a, b).high) == (2.0, 12.0)
    across_zero = Estimate(0.5, -1.0, 1.0, 3, "y")
    assert (combine("/", a, across_zero).low, combine("/", a, across_zero).high) == \
        (-math.inf, math.inf)
    # A constant keeps the method: 2 * X + 50 is X's interval, scaled.
    assert combine("+", combine("*", observed(2.0, 0), a), observed(50.0, 0)) == a.scaled(2, 50)


def test_bootstrap_samples_needed_scales_as_one_over_root_n() -> None:
    estimate = Estimate(1.0, -1.0, 3.0, 100, "bootstrap")  # half-width 2, margin 1
    assert bootstrap_samples_needed(estimate, ">", 0.0) == 400
    # An asymmetric interval: only its reach towards the threshold counts.
    assert bootstrap_samples_needed(Estimate(1.0, -0.5, 10.0, 100, "bootstrap"), ">", 0.0) \
        == 225
    assert bootstrap_samples_needed(Estimate(0.0, -1.0, 1.0, 100, "bootstrap"), ">", 0.0) is None


def test_a_single_observation_bounds_nothing() -> None:
    one = bootstrap_estimate([np.array([5.0])], lambda a: float(a.mean()))
    assert (one.value, one.low, one.high) == (5.0, -math.inf, math.inf)


def test_method_labels_say_the_confidence_where_there_is_one() -> None:
    assert method_label(proportion(1, 2, confidence=0.99)) == "Wilson 99 %"
    assert method_label(observed(3.0, 10)) == "observed, exact"
    assert method_label(with_resolution(1.0, 0.1, 5)) == "sample resolution"
