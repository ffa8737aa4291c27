"""The analysis entry points: one metric for the verdict engine, tables for reports.

`estimate` is what a hypothesis such as ``availability{domain=identity}@fault``
calls; the report tables call the same function, so a verdict and the number
printed beside it are one computation. `evaluate` is its point value alone.

Window metrics live in `dashboards.metrics`; run-level metrics (no window:
they read the run's own windows) are registered here as `RunMetric`s. Another
module adds one with `register_run_metric` (e.g. a capacity measured by a
sweep): it then parses in hypotheses, validates in experiment files, shows in
reports and is judged like the rest.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from dashboards.capacity_metrics import (
    CAPACITY_RPS,
    SAMPLED_ESTIMATORS,
    SAMPLED_SPECS,
    capacity_rps_estimate,
)
from dashboards.errors import UnknownMetricError, UnknownWindowError
from dashboards.estimates import (
    RunData,
    Trials,
    loss_rate_estimate,
    pooled_samples,
    requests_lost_estimate,
    time_to_failover_estimate,
    time_to_recover_estimate,
    window_estimate,
    window_value,
)
from dashboards.intervals import IntervalOptions
from dashboards.metrics import (
    WINDOW_ESTIMATORS,
    WINDOW_METRIC_SPECS,
    WINDOW_METRICS,
    MetricSpec,
)
from dashboards.rows import Selector
from dashboards.sample_sizes import Measurement
from dashboards.windows import Windows

__all__ = [
    "METRICS",
    "RUN_METRICS",
    "SAMPLED_METRICS",
    "TABLE_METRICS",
    "FaultSummary",
    "RunData",
    "RunMetric",
    "estimate",
    "evaluate",
    "fault_summary",
    "register_run_metric",
    "window_estimates",
    "window_table",
]

RunEstimator = Callable[[RunData, Selector, IntervalOptions], Measurement]


@dataclass(frozen=True)
class RunMetric:
    """A metric of the whole run (no `@window`): its description and its estimator.

    `resamplable` is False for every run metric: in a hypothesis with metrics on
    both sides, their intervals are combined (interval arithmetic), not bootstrapped.
    """

    spec: MetricSpec
    estimate: RunEstimator


RUN_METRICS: dict[str, RunMetric] = {}
METRICS: dict[str, MetricSpec] = dict(WINDOW_METRIC_SPECS)


def register_run_metric(metric: RunMetric) -> None:
    """Add a run-level metric to the registry (refuses a name already taken)."""
    name = metric.spec.name
    if name in METRICS:
        raise ValueError(f"metric {name!r} is already registered")
    RUN_METRICS[name] = metric
    METRICS[name] = metric.spec


for _metric in (
    RunMetric(
        MetricSpec(
            "requests_lost",
            "failed rows of the selector sent in the fault or the recovery window "
            "(exact count; reported with its n and the upper bound on the loss rate)",
            "requests",
            "run",
        ),
        requests_lost_estimate,
    ),
    RunMetric(
        MetricSpec(
            "loss_rate",
            "requests_lost / the non-rejected rows it looks at, with its interval: "
            "the decidable form of '0 requests lost'",
            "fraction",
            "run",
        ),
        loss_rate_estimate,
    ),
    RunMetric(
        MetricSpec(
            "time_to_failover_s",
            "fault start → first instant after which every 1 s "
            "span of the fault window has failure rate < 1 %; 0 if none reached it, inf "
            "if the last full span still does (the worst trial; interval: the spacing "
            "of the requests around that instant)",
            "s",
            "run",
        ),
        time_to_failover_estimate,
    ),
    RunMetric(
        MetricSpec(
            "time_to_recover_s",
            "fault end → first instant after which every 1 s span "
            "of the recovery window has availability ≥ baseline - 0.01 and p95 ≤ 1.5 x "
            "baseline p95; 0 if always, inf if never (the worst trial; interval as "
            "time_to_failover_s)",
            "s",
            "run",
        ),
        time_to_recover_estimate,
    ),
):
    register_run_metric(_metric)
register_run_metric(RunMetric(CAPACITY_RPS, capacity_rps_estimate))
# Window metrics measured on the CPU sampler's samples, not on rows.
SAMPLED_METRICS = SAMPLED_ESTIMATORS
METRICS.update(SAMPLED_SPECS)

# The columns of a report's window table, in reading order.
TABLE_METRICS = (
    "count",
    "rate_rps",
    "availability",
    "failure_rate",
    "degraded_ratio",
    "rejected",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "failed_p50_ms",
    "p99_corrected_ms",
    "ttft_p50_ms",
    "tokens_per_s",
)


def _data(rows: pd.DataFrame | RunData, windows: Windows | Trials) -> RunData:
    return rows if isinstance(rows, RunData) else RunData.of(rows, windows)


def _check(metric: str, window: str | None) -> None:
    if metric in RUN_METRICS:
        if window is not None:
            raise UnknownMetricError(
                f"{metric}@{window}",
                METRICS,
                f"{metric} is a run-level metric over its own windows; drop '@{window}'",
            )
    elif metric not in WINDOW_METRICS and metric not in SAMPLED_METRICS:
        raise UnknownMetricError(metric, METRICS)


def estimate(
    rows: pd.DataFrame | RunData,
    windows: Windows | Trials,
    metric: str,
    selector: Selector | None = None,
    window: str | None = None,
    options: IntervalOptions | None = None,
) -> Measurement:
    """One metric with its interval: ``metric{selector}@window``, pooled over trials.

    `windows` is one mapping (one trial) or a list of them (one per trial); pass a
    `RunData` instead of rows to skip preparing them for each call. Raises
    `UnknownMetricError`, `UnknownWindowError` or `SelectorError` (all `DashboardsError`).
    """
    _check(metric, window)
    data, chosen = _data(rows, windows), dict(selector or {})
    options = options or IntervalOptions()
    if metric in RUN_METRICS:
        return RUN_METRICS[metric].estimate(data, chosen, options)
    if metric in SAMPLED_METRICS:
        return SAMPLED_METRICS[metric](data, chosen, window, options)
    return window_estimate(data, metric, chosen, window, options)


def evaluate(
    rows: pd.DataFrame | RunData,
    windows: Windows | Trials,
    metric: str,
    selector: Selector | None = None,
    window: str | None = None,
) -> float:
    """The value of one metric: ``metric{selector}@window`` (`estimate`'s point).

    Window metrics take a window name (None: every row of the run, first to
    last send); run metrics (requests_lost, time_to_*) take none.
    """
    _check(metric, window)
    if metric in RUN_METRICS or metric in SAMPLED_METRICS:
        return estimate(rows, windows, metric, selector, window).estimate.value
    return window_value(_data(rows, windows), metric, dict(selector or {}), window)


def _window_names(data: RunData) -> list[str]:
    return list(data.trials[0]) if data.trials else []


def window_table(
    rows: pd.DataFrame | RunData,
    windows: Windows | Trials,
    metrics: Sequence[str] = TABLE_METRICS,
    selector: Selector | None = None,
) -> pd.DataFrame:
    """One row per window (in the run's order), one column per window metric."""
    unknown = [m for m in metrics if m not in WINDOW_METRICS]
    if unknown:
        raise UnknownMetricError(unknown[0], WINDOW_METRICS, "window tables take window metrics")
    data, chosen = _data(rows, windows), dict(selector or {})
    table = {}
    for name in _window_names(data):
        # One cut of the window's rows serves every metric of it.
        sample, base = pooled_samples(data, chosen, name)
        table[name] = {m: WINDOW_METRICS[m](sample, base) for m in metrics}
    return pd.DataFrame.from_dict(table, orient="index", columns=list(metrics))


def window_estimates(
    rows: pd.DataFrame | RunData,
    windows: Windows | Trials,
    metrics: Sequence[str] = TABLE_METRICS,
    selector: Selector | None = None,
    options: IntervalOptions | None = None,
) -> dict[str, dict[str, Measurement]]:
    """`window_table` with intervals: {window: {metric: Measurement}}."""
    unknown = [m for m in metrics if m not in WINDOW_METRICS]
    if unknown:
        raise UnknownMetricError(unknown[0], WINDOW_METRICS, "window tables take window metrics")
    data, chosen = _data(rows, windows), dict(selector or {})
    options = options or IntervalOptions()
    out = {}
    for name in _window_names(data):
        sample, base = pooled_samples(data, chosen, name)
        out[name] = {m: WINDOW_ESTIMATORS[m](sample, base, options) for m in metrics}
    return out


@dataclass(frozen=True)
class FaultSummary:
    """The run-level numbers of one selector; NaN where the run lacks a needed window."""

    selector: Mapping[str, str]
    requests_lost: Measurement | None
    time_to_failover_s: Measurement | None
    time_to_recover_s: Measurement | None

    def value(self, metric: str) -> float:
        measured: Measurement | None = getattr(self, metric)
        return math.nan if measured is None else measured.estimate.value


FAULT_SUMMARY_METRICS = ("requests_lost", "time_to_failover_s", "time_to_recover_s")


def fault_summary(
    rows: pd.DataFrame | RunData, windows: Windows | Trials, selector: Selector | None = None,
    options: IntervalOptions | None = None,
) -> FaultSummary:
    """requests_lost, time_to_failover_s, time_to_recover_s (None where a window is missing)."""
    data = _data(rows, windows)
    values: dict[str, Measurement | None] = {}
    for name in FAULT_SUMMARY_METRICS:
        try:
            values[name] = estimate(data, windows, name, selector, None, options)
        except UnknownWindowError:
            # A run aborted before its fault, or one without faults: nothing to report.
            values[name] = None
    return FaultSummary(selector=dict(selector or {}), **values)
