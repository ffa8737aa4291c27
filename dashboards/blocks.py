"""The block bootstrap: intervals for statistics of requests that are not
independent of one another in time.

Requests sent close together share the host's moments: a stall of 200 ms slows
every request in flight, and a queue near a capacity knee carries each delay
into the next requests. Resampling such requests one by one (the plain
bootstrap) treats 40 delayed requests of one stall as 40 independent pieces of
evidence, and the interval comes out too narrow: a sweep's knee then "differs"
between two architectures by what one stall did (measured: dual - single knee
-120 [-180, -60] in one run, 0 and -60 in the next two, same commit, same host).

The circular block bootstrap (Politis & Romano 1992) resamples runs of
consecutive requests instead, so a stall stays one event. The block length of
each series is chosen from its own autocorrelation by the Politis & White (2004)
rule (with Patton, Politis & White's 2009 correction): 1 for independent
requests, longer the longer delays last. Both come from the `arch` package.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np
from arch.bootstrap import CircularBlockBootstrap, optimal_block_length

from dashboards.intervals import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    DEFAULT_CONFIDENCE,
    Estimate,
)

__all__ = ["BLOCK_BOOTSTRAP", "block_bootstrap_estimate", "block_length", "block_resamples"]

BLOCK_BOOTSTRAP = "circular block bootstrap"
# Politis-White needs a few autocorrelations to estimate; below this, one unit a block.
MIN_SERIES = 10
# Draws kept for reuse: the steps of a suite's two sweeps (~8 each, up to ~7 MB a step).
RESAMPLES_KEPT = 32


def block_length(series: np.ndarray) -> int:
    """The circular block bootstrap's block length for `series` (in time order;
    NaN: no value, read as the largest one seen): Politis-White, at least 1, at
    most the series' length."""
    values = np.asarray(series, dtype=float)
    finite = values[np.isfinite(values)]
    if values.size < MIN_SERIES or finite.size == 0 or np.ptp(finite) == 0:
        return 1
    filled = np.where(np.isfinite(values), values, finite.max())
    optimal = float(optimal_block_length(filled)["circular"].iloc[0])
    if not math.isfinite(optimal):
        return 1
    return int(min(max(math.ceil(optimal), 1), values.size))


@functools.lru_cache(maxsize=RESAMPLES_KEPT)
def block_resamples(size: int, block: int, resamples: int, seed: int) -> np.ndarray:
    """`resamples` rows of `size` indices into a series, drawn in circular blocks
    of `block` consecutive indices (read-only: the same draws are handed out again).

    Kept for the next caller: a sweep's knee is resampled when its run is analysed
    and again when it is compared with another architecture's, at another
    confidence but from the same draws; arch draws one resample at a time, ~0.1 s
    per step of a sweep."""
    bootstrap = CircularBlockBootstrap(block, np.arange(size),
                                       seed=np.random.default_rng(seed))
    picks = np.stack([data[0][0] for data in bootstrap.bootstrap(resamples)])
    picks.flags.writeable = False
    return picks


def block_bootstrap_estimate(series: Sequence[np.ndarray],
                             statistic: Callable[..., float | np.ndarray],
                             confidence: float = DEFAULT_CONFIDENCE,
                             resamples: int = BOOTSTRAP_RESAMPLES,
                             seed: int = BOOTSTRAP_SEED) -> Estimate:
    """The statistic of independent time series (e.g. the steps of a sweep) with a
    percentile interval from the circular block bootstrap of each series on its own.

    `statistic(*picks, axis=-1)` receives one array of indices per series (one row
    per resample; 1-d for the point itself) and returns one value per row, as
    `bootstrap_estimate`'s vectorized statistic does. A fixed seed: the same rows,
    the same interval.
    """
    arrays = [np.asarray(s, dtype=float) for s in series]
    n = int(sum(a.size for a in arrays))
    point = float(statistic(*[np.arange(a.size) for a in arrays]))
    if not arrays or any(a.size < 2 for a in arrays) or math.isnan(point):
        return Estimate(point, -math.inf, math.inf, n, BLOCK_BOOTSTRAP, confidence)
    picks = [block_resamples(a.size, block_length(a), resamples, seed + i)
             for i, a in enumerate(arrays)]
    values = np.asarray(statistic(*picks, axis=-1), dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        return Estimate(point, -math.inf, math.inf, n, BLOCK_BOOTSTRAP, confidence)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return Estimate(point, float(low), float(high), n, BLOCK_BOOTSTRAP, confidence)
