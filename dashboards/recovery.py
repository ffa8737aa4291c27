"""Run-level metrics about a fault: requests lost, time to fail over, time to recover.

All take rows (raw or prepared), the run's windows and a selector, and need the
`fault` window (and `recovery` / `baseline` where said).

Both times are found with a *forward span*: the span of ``SPAN_S`` seconds of
traffic that starts at instant ``s``. "The point after which the rolling 1 s
failure rate stays under the threshold" is the first instant after which every
such span is healthy. Spans are slid in steps (10 ms, 100 ms); a result is the
end of the step where the last unhealthy span started, so it errs late by at
most one step. A span with no requests is neither healthy nor unhealthy
(no traffic, no evidence).

Results: ``0.0`` when no span was ever unhealthy; ``inf`` when the last full
span of the search is still unhealthy (the system never settled while we
looked, so "≤ 1 s" must fail); NaN when there is nothing to judge (no rows in
the searched window, no baseline to recover to).

Each time also comes as an `Estimate` (`failover_estimate`, `recover_estimate`)
whose interval is the resolution the samples allow: the instant is only known
to within the gap between the requests sent around it (and never finer than
the sliding step). An infinite time is bounded below by how long we looked.
"""

import math

import numpy as np
import pandas as pd

from dashboards.intervals import DEFAULT_CONFIDENCE, RESOLUTION, Estimate
from dashboards.metrics import WINDOW_METRICS, measure
from dashboards.outcomes import prepare_rows
from dashboards.rows import Selector, select, selector_mask
from dashboards.samples import Sample
from dashboards.windows import BASELINE, FAULT, RECOVERY, Window, Windows, get_window, slice_window

__all__ = [
    "AVAILABILITY_TOLERANCE",
    "FAILOVER_STEP_S",
    "FAILURE_THRESHOLD",
    "LATENCY_FACTOR",
    "RECOVERY_STEP_S",
    "SPAN_S",
    "failover_estimate",
    "failover_instant",
    "lost_counts",
    "recover_estimate",
    "requests_lost",
    "time_to_failover_s",
    "time_to_recover_s",
]

SPAN_S = 1.0
FAILURE_THRESHOLD = 0.01
FAILOVER_STEP_S = 0.01
# Percentiles per span cost more than counts; 100 ms is plenty for "recovered in N s".
RECOVERY_STEP_S = 0.1
LATENCY_FACTOR = 1.5
# A baseline at 100 % would otherwise call one stray failure "not recovered".
AVAILABILITY_TOLERANCE = 0.01

_NEEDS = "time-to-failover needs the 'fault' window"
_NEEDS_ALL = "this metric needs the 'baseline', 'fault' and 'recovery' windows"


def requests_lost(rows: pd.DataFrame, windows: Windows, selector: Selector) -> float:
    """Failed requests (selector) sent in the fault window or the recovery window,
    and those sent before the fault that were still in flight when it began."""
    return float(lost_counts(rows, windows, selector)[0])


def lost_counts(rows: pd.DataFrame, windows: Windows, selector: Selector) -> tuple[int, int]:
    """(failed, non-rejected) requests of the selector that `requests_lost` looks at:
    the count and the n a loss rate divides by."""
    fault = get_window(windows, FAULT, "requests_lost needs 'fault' and 'recovery'")
    recovery = get_window(windows, RECOVERY, "requests_lost needs 'fault' and 'recovery'")
    rows = prepare_rows(rows)
    chosen = selector_mask(rows, selector)
    sends = rows["ts_send"].to_numpy()
    ends = rows["ts_end"].to_numpy()
    inside = ((sends >= fault.start) & (sends < fault.end)) | (
        (sends >= recovery.start) & (sends < recovery.end)
    )
    caught = (sends < fault.start) & (ends >= _issued(windows, fault))
    inside |= caught
    looked = chosen & inside
    considered = int((looked & ~rows["rejected"].to_numpy()).sum())
    return int(rows["failed"].to_numpy()[looked].sum()), considered


def _issued(windows: Windows, fault: Window) -> float:
    """When the first fault was issued: the baseline's end, else the fault's start."""
    baseline = windows.get(BASELINE)
    return float(baseline[1]) if baseline is not None else fault.start


def _span_starts(window: Window, span_s: float, step_s: float) -> np.ndarray:
    """Starts of the full spans that fit in the window (at least one)."""
    last = max(window.start, window.end - span_s)
    return np.arange(window.start, last + step_s / 2, step_s)


def failover_instant(
    rows: pd.DataFrame,
    windows: Windows,
    selector: Selector,
    threshold: float = FAILURE_THRESHOLD,
    span_s: float = SPAN_S,
    step_s: float = FAILOVER_STEP_S,
) -> float:
    """Unix time after which every span of the fault window stays under the threshold.

    The fault start when no span failed, inf when the last one still fails,
    NaN when no (non-rejected) request was sent during the fault.
    """
    fault = get_window(windows, FAULT, _NEEDS)
    chosen = _failover_rows(rows, windows, selector)
    if chosen.empty:
        return math.nan
    sends = chosen["ts_send"].to_numpy()
    failures = np.concatenate([[0], np.cumsum(chosen["failed"].to_numpy(dtype=np.int64))])
    starts = _span_starts(fault, span_s, step_s)
    lo = np.searchsorted(sends, starts, side="left")
    hi = np.searchsorted(sends, np.minimum(starts + span_s, fault.end), side="left")
    # Same formula as metrics.failure_rate (failed / non-rejected), vectorised over spans.
    sent = hi - lo
    failed = failures[hi] - failures[lo]
    unhealthy = (sent > 0) & (failed > 0) & (failed >= threshold * sent)
    if not unhealthy.any():
        return fault.start
    if unhealthy[-1]:
        return math.inf
    return float(min(starts[np.flatnonzero(unhealthy)[-1]] + step_s, fault.end))


def _failover_rows(rows: pd.DataFrame, windows: Windows, selector: Selector) -> pd.DataFrame:
    chosen = select(slice_window(prepare_rows(rows), get_window(windows, FAULT, _NEEDS)),
                    selector)
    return chosen[~chosen["rejected"].to_numpy()]


def _gap_around(sends: np.ndarray, instant: float, start: float) -> float:
    """The spacing of the requests sent around `instant`: nothing is known in between."""
    after = sends[sends >= instant]
    before = sends[sends < instant]
    prev = float(before.max()) if before.size else start
    nxt = float(after.min()) if after.size else instant
    return max(nxt - prev, 0.0)


def _duration_estimate(value: float, sends: np.ndarray, instant: float, start: float,
                       step_s: float, looked_s: float, confidence: float) -> Estimate:
    n = int(sends.size)
    if math.isnan(value):
        return Estimate(math.nan, math.nan, math.nan, n, RESOLUTION, confidence)
    if math.isinf(value):
        # Not settled by the last span we looked at: at least that long.
        return Estimate(math.inf, looked_s, math.inf, n, RESOLUTION, confidence)
    resolution = max(step_s, _gap_around(sends, instant, start))
    return Estimate(value, max(0.0, value - resolution), value + resolution, n, RESOLUTION,
                    confidence)


def failover_estimate(rows: pd.DataFrame, windows: Windows, selector: Selector,
                      confidence: float = DEFAULT_CONFIDENCE) -> Estimate:
    """`time_to_failover_s` with the resolution its requests allow."""
    instant = failover_instant(rows, windows, selector)
    fault = get_window(windows, FAULT, _NEEDS)
    sends = _failover_rows(rows, windows, selector)["ts_send"].to_numpy()
    value = instant if math.isnan(instant) or math.isinf(instant) else instant - fault.start
    looked = max(fault.duration_s - SPAN_S, 0.0)
    return _duration_estimate(value, sends, instant, fault.start, FAILOVER_STEP_S, looked,
                              confidence)


def time_to_failover_s(
    rows: pd.DataFrame,
    windows: Windows,
    selector: Selector,
    threshold: float = FAILURE_THRESHOLD,
) -> float:
    """Fault start → the point after which the rolling 1 s failure rate stays under threshold."""
    instant = failover_instant(rows, windows, selector, threshold)
    if math.isnan(instant) or math.isinf(instant):
        return instant
    return instant - get_window(windows, FAULT).start


def time_to_recover_s(
    rows: pd.DataFrame,
    windows: Windows,
    selector: Selector,
    latency_factor: float = LATENCY_FACTOR,
    tolerance: float = AVAILABILITY_TOLERANCE,
) -> float:
    """Fault end → the point after which every 1 s span of the recovery window is back to baseline.

    Back to baseline: availability ≥ baseline availability - `tolerance`, and
    p95 latency ≤ `latency_factor` x baseline p95 (both of the selector).
    """
    return _recovery(rows, windows, selector, latency_factor, tolerance)[0]


def recover_estimate(rows: pd.DataFrame, windows: Windows, selector: Selector,
                     confidence: float = DEFAULT_CONFIDENCE) -> Estimate:
    """`time_to_recover_s` with the resolution its requests allow."""
    value, sends, search = _recovery(rows, windows, selector, LATENCY_FACTOR,
                                     AVAILABILITY_TOLERANCE)
    looked = max(search.duration_s - SPAN_S, 0.0)
    return _duration_estimate(value, sends, search.start + value, search.start,
                              RECOVERY_STEP_S, looked, confidence)


def _recovery(
    rows: pd.DataFrame,
    windows: Windows,
    selector: Selector,
    latency_factor: float,
    tolerance: float,
    span_s: float = SPAN_S,
    step_s: float = RECOVERY_STEP_S,
) -> tuple[float, np.ndarray, Window]:
    """(time to recover, sends searched, the searched window)."""
    rows = prepare_rows(rows)
    baseline = get_window(windows, BASELINE, _NEEDS_ALL)
    fault = get_window(windows, FAULT, _NEEDS_ALL)
    recovery = get_window(windows, RECOVERY, _NEEDS_ALL)
    search = Window(RECOVERY, fault.end, max(recovery.end, fault.end))
    nothing = np.array([], dtype=float)
    base_availability = measure(rows, "availability", selector, baseline)
    base_p95 = measure(rows, "p95_ms", selector, baseline)
    if math.isnan(base_availability) or math.isnan(base_p95):
        return math.nan, nothing, search
    chosen = select(slice_window(rows, search), selector)
    if chosen.empty:
        return math.nan, nothing, search
    sample = Sample.from_rows(chosen, search.duration_s)
    sends = chosen["ts_send"].to_numpy()
    starts = _span_starts(search, span_s, step_s)
    lo = np.searchsorted(sends, starts, side="left")
    hi = np.searchsorted(sends, np.minimum(starts + span_s, search.end), side="left")
    availability_fn, p95_fn = WINDOW_METRICS["availability"], WINDOW_METRICS["p95_ms"]
    unhealthy = np.zeros(len(starts), dtype=bool)
    for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
        span = sample.cut(int(a), int(b), span_s)
        if span.considered == 0:
            continue
        p95 = p95_fn(span, span)
        unhealthy[i] = availability_fn(span, span) < base_availability - tolerance or (
            not math.isnan(p95) and p95 > latency_factor * base_p95
        )
    if not unhealthy.any():
        return 0.0, sends, search
    if unhealthy[-1]:
        return math.inf, sends, search
    instant = min(starts[np.flatnonzero(unhealthy)[-1]] + step_s, search.end)
    return float(instant - fault.end), sends, search
