"""The circular block bootstrap against known values: for an AR(1) series the
standard error of the mean is sqrt((1 + phi) / (1 - phi)) times the one that
treats the values as independent (3.0 at phi = 0.8); for independent values
the two bootstraps agree."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from dashboards.blocks import block_bootstrap_estimate, block_length, block_resamples
from dashboards.intervals import bootstrap_estimate

N = 2000
PHI = 0.8


def _ar1(phi: float, n: int, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(size=n)
    out = np.zeros(n)
    for i in range(1, n):
        out[i] = phi * out[i - 1] + noise[i]
    return out


def _width(low: float, high: float) -> float:
    return high - low


def _mean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.asarray(np.mean(values, axis=axis))


def _mean_of(series: np.ndarray) -> Callable[..., np.ndarray]:
    def statistic(pick: np.ndarray, axis: int = -1) -> np.ndarray:
        return _mean(series[pick], axis=axis)
    return statistic


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_interval_of_an_ar1_mean_is_as_wide_as_its_dependence_says(seed: int) -> None:
    series = _ar1(PHI, N, seed)
    block = block_bootstrap_estimate([series], _mean_of(series))
    plain = bootstrap_estimate([series], _mean, vectorized=True)
    expected = math.sqrt((1 + PHI) / (1 - PHI))
    ratio = _width(block.low, block.high) / _width(plain.low, plain.high)
    assert 0.7 * expected < ratio < 1.3 * expected, (ratio, expected)
    assert block.low < block.value < block.high
    assert block.n == N and block.method == "circular block bootstrap"


def test_independent_values_get_short_blocks_and_the_plain_interval() -> None:
    series = np.random.default_rng(7).normal(size=N)
    assert block_length(series) <= 3
    block = block_bootstrap_estimate([series], _mean_of(series))
    plain = bootstrap_estimate([series], _mean, vectorized=True)
    assert 0.8 < _width(block.low, block.high) / _width(plain.low, plain.high) < 1.25


def test_block_lengths_follow_the_dependence_and_stay_in_bounds() -> None:
    assert block_length(_ar1(0.95, N, 4)) > block_length(_ar1(0.5, N, 4)) > 1
    assert block_length(np.ones(50)) == 1  # nothing varies: nothing to estimate
    assert block_length(np.array([1.0, 2.0])) == 1  # too short to estimate
    with_gaps = _ar1(0.9, 200, 5)
    with_gaps[::7] = np.nan  # an arrival with no answer reads as the slowest
    assert 1 <= block_length(with_gaps) <= 200


def test_resamples_are_runs_of_consecutive_indices_and_fixed_by_the_seed() -> None:
    picks = block_resamples(100, 10, 50, seed=3)
    assert picks.shape == (50, 100)
    steps = np.diff(picks, axis=1) % 100
    # Within a block each index follows the one before (circularly).
    assert (steps == 1).mean() >= 0.85
    # Handed out again from the cache, so nobody may change them; drawn again, the same.
    assert block_resamples(100, 10, 50, seed=3) is picks and not picks.flags.writeable
    block_resamples.cache_clear()
    again = block_resamples(100, 10, 50, seed=3)
    assert again is not picks and np.array_equal(picks, again)


def test_one_value_bounds_nothing() -> None:
    estimate = block_bootstrap_estimate([np.array([3.0])], _mean_of(np.array([3.0])))
    assert estimate.low == -math.inf and estimate.high == math.inf
