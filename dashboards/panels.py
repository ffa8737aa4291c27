"""The panels of a run's figures: one subplot each (traffic, availability, failures,
chat, latency, CPU), on the time axis the whole figure shares.

Every plotted number comes from `dashboards.timelines` (window metrics per
bucket) or `dashboards.recovery`, the code the verdicts use. Series are
bucketed (at most ``MAX_POINTS`` per trace) so a 10-minute, 500k-row run
draws a few thousand points, not half a million.
"""

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboards.outcomes import ERROR_KINDS, ROUTES, prepare_rows
from dashboards.recovery import failover_instant
from dashboards.timelines import MAX_POINTS, bucket_width, distinct_values, timeline, timeline_by
from dashboards.windows import FAULT, Window, rows_span
from records import RunRecord

__all__ = [
    "PERCENT",
    "SATURATION_PCT",
    "Panel",
    "run_panels",
    "run_span",
    "step_line",
    "xs",
]

# A CPU sample at or above this share means the measurement itself may be the bottleneck.
SATURATION_PCT = 90.0
ROUTE_COLOURS = {
    "primary": "#2ca02c",
    "retry": "#98df8a",
    "cache-hit": "#1f77b4",
    "fallback-cache": "#ff7f0e",
    "fallback-degraded": "#d62728",
}
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)
LATENCY_STYLES = {"p50_ms": "#1f77b4", "p95_ms": "#ff7f0e", "p99_ms": "#d62728"}
CORRECTED = {
    "p50_ms": "p50_corrected_ms",
    "p95_ms": "p95_corrected_ms",
    "p99_ms": "p99_corrected_ms",
}
PERCENT = 100.0
CPU_COLUMNS = {"host_pct": "#333333", "generator_pct": "#9467bd", "generator_max_pct": "#8c564b"}


@dataclass
class Panel:
    """One subplot: a title, a y-axis title, traces, and optional marks (x, label)."""

    key: str
    title: str
    y_title: str
    traces: list[go.Scatter] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)
    y_max: float | None = None


def run_span(run: RunRecord) -> Window:
    """The span to plot: the run's start to its end (to its last request while it goes)."""
    start = run.meta.started
    span = rows_span(run.rows) if not run.rows.empty else Window("run", start, start)
    end = run.meta.ended if run.meta.ended is not None else span.end
    return Window("run", start, max(end, span.end, start))


def step_line(
    x: np.ndarray, y: pd.Series, name: str, line: dict[str, str] | None = None, **style: object
) -> go.Scatter:
    """A bucketed series drawn as steps: a bucket's value holds over its whole width.

    The colour follows the name, so "business" or "auth-1" looks the same in every
    panel and in both columns of a comparison.
    """
    colour = PALETTE[zlib.crc32(name.encode()) % len(PALETTE)]
    return go.Scatter(
        x=x,
        y=y.to_numpy(dtype=float),
        name=name,
        mode="lines",
        legendgroup=name,
        line={"shape": "hv", "color": colour, **(line or {})},
        **style,
    )


def xs(frame: pd.DataFrame) -> np.ndarray:
    """A timeline's x values: its buckets, in seconds since the run's start."""
    return frame.index.to_numpy(dtype=float)


@dataclass(frozen=True)
class _Axis:
    """The time axis every series of one figure shares: span, origin, bucket width."""

    span: Window
    t0: float
    bucket_s: float

    def series(self, rows: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
        return timeline(rows, metrics, None, self.span, self.t0, self.bucket_s)

    def by(
        self, rows: pd.DataFrame, column: str, metric: str, values: Sequence[str] | None = None
    ) -> pd.DataFrame:
        return timeline_by(rows, column, metric, None, values, self.span, self.t0, self.bucket_s)


def run_panels(
    run: RunRecord, span: Window | None = None, bucket_s: float | None = None
) -> list[Panel]:
    """The timeline panels of one run, x in seconds since the run's start."""
    rows = prepare_rows(run.rows)
    span = span or run_span(run)
    axis = _Axis(span, run.t0, bucket_s or bucket_width(span))
    panels: list[Panel] = []
    if not rows.empty:
        panels += _traffic_panels(run, rows, axis)
        panels += _chat_panels(rows, axis)
    cpu = _cpu_panel(run.cpu, run.t0)
    if cpu is not None:
        panels.append(cpu)
    return panels


def _traffic_panels(run: RunRecord, rows: pd.DataFrame, axis: _Axis) -> list[Panel]:
    total = axis.series(rows, ["rate_rps"])
    by_domain = axis.by(rows, "domain", "rate_rps")
    rate = Panel("rate", "Request rate (by domain)", "req/s")
    rate.traces.append(step_line(xs(total), total["rate_rps"], "all", line={"color": "#333"}))
    rate.traces += [step_line(xs(by_domain), by_domain[d], d) for d in by_domain.columns]

    availability = axis.by(rows, "domain", "availability")
    avail = Panel("availability", "Availability by domain", "%", y_max=105.0)
    avail.traces += [
        step_line(xs(availability), availability[d] * PERCENT, f"{d} available")
        for d in availability.columns
    ]

    kinds = distinct_values(rows[rows["failed"]], "failure_kind", ERROR_KINDS)
    failures = axis.by(rows, "failure_kind", "ratio", kinds)
    fail = Panel("failures", "Failure rate by error kind (stacked)", "% of requests")
    fail.traces += [
        step_line(xs(failures), failures[k] * PERCENT, k, stackgroup="failures") for k in kinds
    ]
    fault = run.windows.get(FAULT)
    if fault is not None:
        instant = failover_instant(rows, run.windows, {})
        if math.isfinite(instant) and instant > fault[0]:
            fail.marks.append((instant - axis.t0, f"failed over +{instant - fault[0]:.2f} s"))

    routes = axis.by(rows, "route", "rate_rps", distinct_values(rows, "route", ROUTES))
    mix = Panel("routes", "Route mix (stacked; X-Gatecrash-Route)", "req/s")
    mix.traces += [
        step_line(
            xs(routes),
            routes[r],
            r,
            stackgroup="routes",
            line={"color": ROUTE_COLOURS.get(r, "#7f7f7f")},
        )
        for r in routes.columns
    ]

    instances = axis.by(rows, "instance", "rate_rps")
    per_instance = Panel("instances", "Requests per instance (take-over)", "req/s")
    per_instance.traces += [step_line(xs(instances), instances[i], i) for i in instances.columns]
    return [rate, avail, fail, _latency_panel(rows, axis), mix, per_instance]


def _chat_panels(rows: pd.DataFrame, axis: _Axis) -> list[Panel]:
    if not rows["ttft_ms"].notna().any():
        return []
    chat = axis.series(rows, ["ttft_p50_ms", "ttft_p95_ms", "tokens_per_s"])
    ttft = Panel("ttft", "Chat: time to first token", "ms")
    ttft.traces += [step_line(xs(chat), chat[m], m) for m in ("ttft_p50_ms", "ttft_p95_ms")]
    tokens = Panel("tokens", "Chat: tokens per second", "tokens/s")
    tokens.traces.append(step_line(xs(chat), chat["tokens_per_s"], "tokens_per_s"))
    return [ttft, tokens]


def _latency_panel(rows: pd.DataFrame, axis: _Axis) -> Panel:
    names = list(LATENCY_STYLES)
    corrected = bool(rows["corrected_ms"].notna().any())
    if corrected:
        names += [CORRECTED[n] for n in LATENCY_STYLES]
    series = axis.series(rows, names)
    title = "Latency of available answers" + (" (dotted: CO-corrected)" if corrected else "")
    panel = Panel("latency", title, "ms")
    for name, colour in LATENCY_STYLES.items():
        panel.traces.append(step_line(xs(series), series[name], name, line={"color": colour}))
        if corrected:
            panel.traces.append(
                step_line(
                    xs(series),
                    series[CORRECTED[name]],
                    CORRECTED[name],
                    line={"color": colour, "dash": "dot"},
                )
            )
    return panel


def _thin(frame: pd.DataFrame) -> pd.DataFrame:
    step = max(1, math.ceil(len(frame) / MAX_POINTS))
    return frame.iloc[::step]


def _cpu_panel(cpu: pd.DataFrame, t0: float) -> Panel | None:
    if cpu.empty:
        return None
    samples = _thin(cpu)
    x = samples["ts"].to_numpy(dtype=float) - t0
    # A summed generator figure may pass 100 % on several cores without saturating
    # any; the busiest single process says whether the generator was the limit.
    judged = {
        "host_pct",
        "generator_max_pct" if "generator_max_pct" in samples else "generator_pct",
    }
    panel = Panel("cpu", f"CPU (saturated at ≥ {SATURATION_PCT:.0f} % marked)", "%")
    for column, colour in CPU_COLUMNS.items():
        if column not in samples or samples[column].isna().all():
            continue
        values = samples[column]
        panel.traces.append(step_line(x, values, column, line={"color": colour}))
        hot = (values >= SATURATION_PCT).to_numpy()
        if column in judged and hot.any():
            panel.traces.append(
                go.Scatter(
                    x=x[hot],
                    y=values[hot].to_numpy(dtype=float),
                    mode="markers",
                    name=f"{column} saturated",
                    marker={"color": "#d62728", "size": 7, "symbol": "x"},
                )
            )
    return panel if panel.traces else None
