"""Window metrics: pure functions of a `Sample` (and, for `ratio`, its base sample).

Every metric is NaN where it is undefined (no rows to divide by, no latency
to take a percentile of), never a made-up 0 or 1; a verdict on NaN is the
verdict engine's call (inconclusive).

Latency metrics read only *available* answers: a refused connection fails in
a millisecond, and counting it would make a dead gateway look fast. Failures
are measured by `availability` and `failure_rate` instead.
Percentiles use linear interpolation between closest ranks (numpy's default).

Each metric also has an *estimator* (`WINDOW_ESTIMATORS`): the same number with
its interval (DESIGN.md §5) — proportions by Wilson or Clopper-Pearson,
percentiles by the order-statistic interval, means by the bootstrap, and the
counts and rates of this run as observed (exact). A test holds every estimator's
value equal to its metric's, so a verdict and a report print one number.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from dashboards.intervals import (
    BOOTSTRAP,
    Estimate,
    IntervalOptions,
    bootstrap_estimate,
    observed,
    proportion,
    quantile,
)
from dashboards.outcomes import prepare_rows
from dashboards.rows import Selector, base_selector, selector_mask
from dashboards.sample_sizes import Measurement
from dashboards.samples import Sample
from dashboards.windows import Window, slice_window

__all__ = [
    "WINDOW_ESTIMATORS",
    "WINDOW_METRICS",
    "WINDOW_METRIC_SPECS",
    "Estimator",
    "MetricFn",
    "MetricSpec",
    "measure",
    "measure_many",
    "window_samples",
]

MetricFn = Callable[[Sample, Sample], float]
Estimator = Callable[[Sample, Sample, IntervalOptions], Measurement]
Scope = Literal["window", "run"]


@dataclass(frozen=True)
class MetricSpec:
    """What a metric means, for error messages, docs and report tables."""

    name: str
    description: str
    unit: str
    scope: Scope


def _share(numerator: float, denominator: float) -> float:
    return float(numerator) / denominator if denominator > 0 else float("nan")


def _percentile(values: np.ndarray, mask: np.ndarray, q: float) -> float:
    chosen = values[mask & ~np.isnan(values)]
    return float(np.percentile(chosen, q)) if chosen.size else float("nan")


def _mean(values: np.ndarray, mask: np.ndarray) -> float:
    chosen = values[mask & ~np.isnan(values)]
    return float(chosen.mean()) if chosen.size else float("nan")


def _max(values: np.ndarray, mask: np.ndarray) -> float:
    chosen = values[mask & ~np.isnan(values)]
    return float(chosen.max()) if chosen.size else float("nan")


def count(s: Sample, _base: Sample) -> float:
    return float(s.size)


def rate_rps(s: Sample, _base: Sample) -> float:
    return _share(s.size, s.duration_s)


def availability(s: Sample, _base: Sample) -> float:
    return _share(s.available.sum(), s.considered)


def failure_rate(s: Sample, _base: Sample) -> float:
    return _share(s.failed.sum(), s.considered)


def degraded_ratio(s: Sample, _base: Sample) -> float:
    return _share(s.degraded.sum(), s.considered)


def ratio(s: Sample, base: Sample) -> float:
    return _share(s.considered, base.considered)


def rejected(s: Sample, _base: Sample) -> float:
    return float(s.rejected.sum())


def rejected_ratio(s: Sample, _base: Sample) -> float:
    """Rejected / every row: how much of a caller's traffic its quota refused (the
    one share of a window whose denominator keeps the rejected)."""
    return _share(s.rejected.sum(), s.size)


def failed(s: Sample, _base: Sample) -> float:
    return float(s.failed.sum())


def tokens_per_s(s: Sample, _base: Sample) -> float:
    return _share(np.nansum(s.tokens_out[s.available]), s.duration_s)


def _latency(field: str, q: float | None) -> MetricFn:
    """A percentile (q in 0..100), or the mean (q None), of one latency field."""

    def metric(s: Sample, _base: Sample) -> float:
        values = getattr(s, field)
        return _mean(values, s.available) if q is None else _percentile(values, s.available, q)

    return metric


def failed_p50_ms(s: Sample, _base: Sample) -> float:
    """Median latency of failed requests (time to failure): shown next to the
    percentiles of available answers, so failures are never silently dropped."""
    return _percentile(s.latency_ms, s.failed, 50)


def _latency_max(field: str) -> MetricFn:
    def metric(s: Sample, _base: Sample) -> float:
        return _max(getattr(s, field), s.available)

    return metric


_NON_REJECTED = "non-rejected rows of the selector in the window"

WINDOW_METRIC_SPECS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(
            "count",
            "rows of the selector sent in the window (rejected included)",
            "requests",
            "window",
        ),
        MetricSpec("rate_rps", "count / window length", "req/s", "window"),
        MetricSpec(
            "availability", f"available (2xx, no error) / {_NON_REJECTED}", "fraction", "window"
        ),
        MetricSpec("failure_rate", f"failed / {_NON_REJECTED}", "fraction", "window"),
        MetricSpec(
            "degraded_ratio",
            f"degraded (2xx via fallback-cache|fallback-degraded) / {_NON_REJECTED}",
            "fraction",
            "window",
        ),
        MetricSpec(
            "ratio",
            "non-rejected rows matching the whole selector / non-rejected rows matching "
            "its request side (domain, endpoint, method, stream, worker), or all rows of "
            "the window when the selector has no response-side key (route, instance, "
            "gateway, status, error_kind, failure_kind)",
            "fraction",
            "window",
        ),
        MetricSpec("rejected", "rows answered 429 (quota) in the window", "requests", "window"),
        MetricSpec("rejected_ratio",
                   "rejected (429, quota) / rows of the selector sent in the window (rejected "
                   "included)", "fraction", "window"),
        MetricSpec("failed", "failed rows in the window", "requests", "window"),
        MetricSpec("p50_ms", "median latency_ms of available answers", "ms", "window"),
        MetricSpec("p95_ms", "95th percentile latency_ms of available answers", "ms", "window"),
        MetricSpec("p99_ms", "99th percentile latency_ms of available answers", "ms", "window"),
        MetricSpec("mean_ms", "mean latency_ms of available answers", "ms", "window"),
        MetricSpec("failed_p50_ms", "median latency_ms of failed requests (time to failure)",
                   "ms", "window"),
        MetricSpec("max_ms", "largest latency_ms of available answers", "ms", "window"),
        MetricSpec(
            "p50_corrected_ms",
            "median coordinated-omission-corrected latency (from the intended send) of "
            "available answers; NaN in closed loop",
            "ms",
            "window",
        ),
        MetricSpec(
            "p95_corrected_ms",
            "95th percentile corrected latency (see p50_corrected_ms)",
            "ms",
            "window",
        ),
        MetricSpec(
            "p99_corrected_ms",
            "99th percentile corrected latency (see p50_corrected_ms)",
            "ms",
            "window",
        ),
        MetricSpec(
            "mean_corrected_ms", "mean corrected latency (see p50_corrected_ms)", "ms", "window"
        ),
        MetricSpec(
            "ttft_p50_ms",
            "median time to first token of available streamed answers",
            "ms",
            "window",
        ),
        MetricSpec("ttft_p95_ms", "95th percentile time to first token", "ms", "window"),
        MetricSpec(
            "tpot_p50_ms",
            "median time per output token of available streamed answers",
            "ms",
            "window",
        ),
        MetricSpec(
            "tokens_per_s",
            "sum of tokens_out of available answers / window length",
            "tokens/s",
            "window",
        ),
    )
}

WINDOW_METRICS: dict[str, MetricFn] = {
    "count": count,
    "rate_rps": rate_rps,
    "availability": availability,
    "failure_rate": failure_rate,
    "degraded_ratio": degraded_ratio,
    "ratio": ratio,
    "rejected": rejected,
    "rejected_ratio": rejected_ratio,
    "failed": failed,
    "p50_ms": _latency("latency_ms", 50),
    "p95_ms": _latency("latency_ms", 95),
    "p99_ms": _latency("latency_ms", 99),
    "mean_ms": _latency("latency_ms", None),
    "failed_p50_ms": failed_p50_ms,
    "max_ms": _latency_max("latency_ms"),
    "p50_corrected_ms": _latency("corrected_ms", 50),
    "p95_corrected_ms": _latency("corrected_ms", 95),
    "p99_corrected_ms": _latency("corrected_ms", 99),
    "mean_corrected_ms": _latency("corrected_ms", None),
    "ttft_p50_ms": _latency("ttft_ms", 50),
    "ttft_p95_ms": _latency("ttft_ms", 95),
    "tpot_p50_ms": _latency("tpot_ms", 50),
    "tokens_per_s": tokens_per_s,
}


# -- estimators: the same numbers with their intervals ---------------------------------------
def _proportion_of(flag: str) -> Estimator:
    def estimator(s: Sample, _base: Sample, options: IntervalOptions) -> Measurement:
        return Measurement(proportion(int(getattr(s, flag).sum()), s.considered,
                                      options.confidence, options.proportion_method))

    return estimator


def _rejected_share(s: Sample, _base: Sample, options: IntervalOptions) -> Measurement:
    return Measurement(proportion(int(s.rejected.sum()), s.size, options.confidence,
                                  options.proportion_method))


def _ratio_estimate(s: Sample, base: Sample, options: IntervalOptions) -> Measurement:
    # The selector's rows are a subset of its base's: a proportion of the base.
    return Measurement(proportion(s.considered, base.considered, options.confidence,
                                  options.proportion_method))


def _observed(metric: MetricFn, n_of: Callable[[Sample], int]) -> Estimator:
    """A count or rate of this run: exact."""

    def estimator(s: Sample, base: Sample, options: IntervalOptions) -> Measurement:
        return Measurement(observed(metric(s, base), n_of(s), options.confidence))

    return estimator


def _available_values(s: Sample, field: str) -> np.ndarray:
    values = getattr(s, field)[s.available]
    return np.asarray(values[~np.isnan(values)])


def _failed_median_estimate(s: Sample, _base: Sample, options: IntervalOptions) -> Measurement:
    """Time to failure: the median latency of failed requests, with its interval."""
    values = s.latency_ms[s.failed]
    values = np.asarray(values[~np.isnan(values)])
    return Measurement(quantile(values, 0.5, options.confidence), values, 0.5)


def _quantile_estimate(field: str, q: float) -> Estimator:
    def estimator(s: Sample, _base: Sample, options: IntervalOptions) -> Measurement:
        values = _available_values(s, field)
        return Measurement(quantile(values, q / 100, options.confidence), values, q / 100)

    return estimator


def _mean_estimate(field: str) -> Estimator:
    def estimator(s: Sample, _base: Sample, options: IntervalOptions) -> Measurement:
        values = _available_values(s, field)
        if values.size == 0:
            return Measurement(Estimate(float("nan"), -np.inf, np.inf, 0, BOOTSTRAP,
                                        options.confidence))
        return Measurement(bootstrap_estimate([values], _array_mean, options.confidence),
                           values)

    return estimator


def _array_mean(values: np.ndarray) -> float:
    return float(values.mean())


def _available_count(s: Sample) -> int:
    return int(s.available.sum())


def _size(s: Sample) -> int:
    return s.size


def _considered(s: Sample) -> int:
    return s.considered


WINDOW_ESTIMATORS: dict[str, Estimator] = {
    "count": _observed(count, _size),
    "rate_rps": _observed(rate_rps, _size),
    "availability": _proportion_of("available"),
    "failure_rate": _proportion_of("failed"),
    "degraded_ratio": _proportion_of("degraded"),
    "ratio": _ratio_estimate,
    "rejected": _observed(rejected, _size),
    "rejected_ratio": _rejected_share,
    "failed": _observed(failed, _considered),
    "p50_ms": _quantile_estimate("latency_ms", 50),
    "p95_ms": _quantile_estimate("latency_ms", 95),
    "p99_ms": _quantile_estimate("latency_ms", 99),
    "mean_ms": _mean_estimate("latency_ms"),
    "failed_p50_ms": _failed_median_estimate,
    # The largest latency of this run is a fact of the run; a bootstrap could never
    # put it above what was seen.
    "max_ms": _observed(_latency_max("latency_ms"), _available_count),
    "p50_corrected_ms": _quantile_estimate("corrected_ms", 50),
    "p95_corrected_ms": _quantile_estimate("corrected_ms", 95),
    "p99_corrected_ms": _quantile_estimate("corrected_ms", 99),
    "mean_corrected_ms": _mean_estimate("corrected_ms"),
    "ttft_p50_ms": _quantile_estimate("ttft_ms", 50),
    "ttft_p95_ms": _quantile_estimate("ttft_ms", 95),
    "tpot_p50_ms": _quantile_estimate("tpot_ms", 50),
    "tokens_per_s": _observed(tokens_per_s, _available_count),
}


def window_samples(rows: pd.DataFrame, selector: Selector, window: Window) -> tuple[Sample, Sample]:
    """The selector's sample in the window, and its base sample (what `ratio` divides by).

    Raw rows are prepared first (`dashboards.outcomes.prepare_rows`).
    """
    in_window = slice_window(prepare_rows(rows), window)
    sample = Sample.from_rows(in_window, window.duration_s, selector_mask(in_window, selector))
    base_mask = selector_mask(in_window, base_selector(selector))
    return sample, Sample.from_rows(in_window, window.duration_s, base_mask)


def measure_many(
    rows: pd.DataFrame, metrics: Sequence[str], selector: Selector, window: Window
) -> dict[str, float]:
    """Several window metrics of one selector and window, cutting the sample once."""
    sample, base = window_samples(rows, selector, window)
    return {metric: WINDOW_METRICS[metric](sample, base) for metric in metrics}


def measure(rows: pd.DataFrame, metric: str, selector: Selector, window: Window) -> float:
    """One window metric of rows; `metric` must be a key of `WINDOW_METRICS`."""
    return measure_many(rows, [metric], selector, window)[metric]
