"""The analysis entry points: one metric for the verdict engine, tables for reports.

`evaluate` is what a hypothesis such as ``availability{domain=identity}@fault``
calls; the report tables call the same function, so a verdict and the number
printed beside it are one computation.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from dashboards.errors import UnknownMetricError, UnknownWindowError
from dashboards.metrics import (
    WINDOW_METRIC_SPECS,
    WINDOW_METRICS,
    MetricSpec,
    measure,
    measure_many,
)
from dashboards.outcomes import prepare_rows
from dashboards.recovery import requests_lost, time_to_failover_s, time_to_recover_s
from dashboards.rows import Selector
from dashboards.windows import Windows, get_window, rows_span

__all__ = [
    "METRICS",
    "RUN_METRICS",
    "TABLE_METRICS",
    "FaultSummary",
    "evaluate",
    "fault_summary",
    "window_table",
]

RUN_METRIC_SPECS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(
            "requests_lost",
            "failed rows of the selector sent in the fault or the recovery window",
            "requests",
            "run",
        ),
        MetricSpec(
            "time_to_failover_s",
            "fault start → first instant after which every 1 s "
            "span of the fault window has failure rate < 1 %; 0 if none reached it, inf "
            "if the last full span still does",
            "s",
            "run",
        ),
        MetricSpec(
            "time_to_recover_s",
            "fault end → first instant after which every 1 s span "
            "of the recovery window has availability ≥ baseline - 0.01 and p95 ≤ 1.5 x "
            "baseline p95; 0 if always, inf if never",
            "s",
            "run",
        ),
    )
}
RUN_METRICS = {
    "requests_lost": requests_lost,
    "time_to_failover_s": time_to_failover_s,
    "time_to_recover_s": time_to_recover_s,
}
METRICS: dict[str, MetricSpec] = {**WINDOW_METRIC_SPECS, **RUN_METRIC_SPECS}

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


def evaluate(
    rows: pd.DataFrame,
    windows: Windows,
    metric: str,
    selector: Selector | None = None,
    window: str | None = None,
) -> float:
    """The value of one metric: ``metric{selector}@window``.

    Window metrics take a window name (None: every row of the run, first to
    last send); run metrics (requests_lost, time_to_*) take none. Raw rows are
    prepared on the way in; pass `prepare_rows(rows)` to skip that when
    evaluating many hypotheses on one run. Raises `UnknownMetricError`,
    `UnknownWindowError` or `SelectorError` (all `DashboardsError`).
    """
    selector = dict(selector or {})
    prepared = prepare_rows(rows)
    if metric in RUN_METRICS:
        if window is not None:
            raise UnknownMetricError(
                f"{metric}@{window}",
                METRICS,
                f"{metric} is a run-level metric over its own windows; drop '@{window}'",
            )
        return RUN_METRICS[metric](prepared, windows, selector)
    if metric not in WINDOW_METRICS:
        raise UnknownMetricError(metric, METRICS)
    span = rows_span(prepared) if window is None else get_window(windows, window)
    return measure(prepared, metric, selector, span)


def window_table(
    rows: pd.DataFrame,
    windows: Windows,
    metrics: Sequence[str] = TABLE_METRICS,
    selector: Selector | None = None,
) -> pd.DataFrame:
    """One row per window (in the run's order), one column per window metric."""
    prepared = prepare_rows(rows)
    unknown = [m for m in metrics if m not in WINDOW_METRICS]
    if unknown:
        raise UnknownMetricError(unknown[0], WINDOW_METRICS, "window tables take window metrics")
    table = {
        name: measure_many(prepared, metrics, dict(selector or {}), get_window(windows, name))
        for name in windows
    }
    return pd.DataFrame.from_dict(table, orient="index", columns=list(metrics))


@dataclass(frozen=True)
class FaultSummary:
    """The run-level numbers of one selector; NaN where the run lacks a needed window."""

    selector: Mapping[str, str]
    requests_lost: float
    time_to_failover_s: float
    time_to_recover_s: float


def fault_summary(
    rows: pd.DataFrame, windows: Windows, selector: Selector | None = None
) -> FaultSummary:
    """requests_lost, time_to_failover_s, time_to_recover_s; NaN for those a window is missing."""
    prepared = prepare_rows(rows)
    values: dict[str, float] = {}
    for name in RUN_METRICS:
        try:
            values[name] = evaluate(prepared, windows, name, selector)
        except UnknownWindowError:
            # A run aborted before its fault, or one without faults: nothing to report.
            values[name] = math.nan
    return FaultSummary(selector=dict(selector or {}), **values)
