"""Per-bucket time series of window metrics, for plots.

A timeline point is the window metric of `dashboards.metrics` applied to one
bucket (1 s by default), so a plot and a verdict can never disagree on how a
number is computed. Long runs get wider buckets so a trace never exceeds
``MAX_POINTS`` points: that thins what is drawn, never what verdicts read.
"""

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from dashboards.errors import UnknownMetricError
from dashboards.metrics import WINDOW_METRICS
from dashboards.outcomes import prepare_rows
from dashboards.rows import Selector, base_selector, select, selector_mask
from dashboards.samples import Sample
from dashboards.windows import Window, rows_span, slice_window

__all__ = [
    "BUCKET_S",
    "MAX_POINTS",
    "TIME_COLUMN",
    "bucket_width",
    "distinct_values",
    "timeline",
    "timeline_by",
]

BUCKET_S = 1.0
# 2,000 points per trace keep a 10-minute run at 1 s resolution and bound an hour-long one.
MAX_POINTS = 2000
TIME_COLUMN = "t_s"


def bucket_width(span: Window, bucket_s: float = BUCKET_S, max_points: int = MAX_POINTS) -> float:
    """`bucket_s`, widened to whole multiples of it when the span would need more points."""
    buckets = span.duration_s / bucket_s
    if buckets <= max_points:
        return bucket_s
    return bucket_s * math.ceil(buckets / max_points)


def _edges(span: Window, width: float) -> np.ndarray:
    count = max(1, math.ceil(span.duration_s / width))
    edges = span.start + width * np.arange(count + 1)
    edges[-1] = span.end
    return edges


def _cuts(rows: pd.DataFrame, selector: Selector, edges: np.ndarray) -> tuple[Sample, np.ndarray]:
    """The selector's rows as one sample, and where each bucket edge cuts it."""
    mask = selector_mask(rows, selector)
    sends = rows["ts_send"].to_numpy()[mask]
    return Sample.from_rows(rows, 0.0, mask), np.searchsorted(sends, edges, side="left")


def timeline(
    rows: pd.DataFrame,
    metrics: Sequence[str],
    selector: Selector | None = None,
    span: Window | None = None,
    t0: float | None = None,
    bucket_s: float = BUCKET_S,
) -> pd.DataFrame:
    """One column per metric, one row per bucket of `span` (default: the rows' span).

    Rows (raw or prepared) in; the index `t_s` is the bucket start in seconds after `t0`
    (default: the span start), so several runs can share a time axis.
    """
    unknown = [m for m in metrics if m not in WINDOW_METRICS]
    if unknown:
        raise UnknownMetricError(unknown[0], WINDOW_METRICS, "timelines take window metrics")
    selector = selector or {}
    rows = prepare_rows(rows)
    span = span or rows_span(rows)
    origin = span.start if t0 is None else t0
    edges = _edges(span, bucket_width(span, bucket_s))
    in_span = slice_window(rows, span)
    sample, cuts = _cuts(in_span, selector, edges)
    base, base_cuts = _cuts(in_span, base_selector(selector), edges)
    columns: dict[str, list[float]] = {m: [] for m in metrics}
    for i in range(len(edges) - 1):
        length = float(edges[i + 1] - edges[i])
        bucket = sample.cut(int(cuts[i]), int(cuts[i + 1]), length)
        bucket_base = base.cut(int(base_cuts[i]), int(base_cuts[i + 1]), length)
        for metric in metrics:
            columns[metric].append(WINDOW_METRICS[metric](bucket, bucket_base))
    index = pd.Index(edges[:-1] - origin, name=TIME_COLUMN)
    return pd.DataFrame(columns, index=index)


def distinct_values(rows: pd.DataFrame, column: str, order: Iterable[str] = ()) -> list[str]:
    """Non-null values of a column: those of `order` first (in that order), then the rest sorted."""
    present = set(rows[column].dropna().astype(str).unique())
    ordered = [v for v in order if v in present]
    return ordered + sorted(present - set(ordered))


def timeline_by(
    rows: pd.DataFrame,
    column: str,
    metric: str,
    selector: Selector | None = None,
    values: Sequence[str] | None = None,
    span: Window | None = None,
    t0: float | None = None,
    bucket_s: float = BUCKET_S,
) -> pd.DataFrame:
    """One column per value of `column`: `metric` with ``{column: value}`` added to the selector.

    E.g. route mix = ``timeline_by(rows, "route", "rate_rps")``; failure rate by
    kind = ``timeline_by(rows, "failure_kind", "ratio")``.
    """
    rows = prepare_rows(rows)
    span = span or rows_span(rows)
    chosen = values if values is not None else distinct_values(select(rows, selector or {}), column)
    series = {
        value: timeline(rows, [metric], {**(selector or {}), column: value}, span, t0, bucket_s)[
            metric
        ]
        for value in chosen
    }
    if not series:
        return pd.DataFrame(index=pd.Index([], name=TIME_COLUMN, dtype=float))
    return pd.DataFrame(series)
