"""Plotly figures of a run: timelines on one time axis with faults drawn as bands.

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
from plotly.subplots import make_subplots

from dashboards.outcomes import ERROR_KINDS, ROUTES, prepare_rows
from dashboards.recovery import failover_instant
from dashboards.timelines import MAX_POINTS, bucket_width, distinct_values, timeline, timeline_by
from dashboards.windows import FAULT, Window, rows_span
from records import FaultEvent, RunRecord

__all__ = [
    "SATURATION_PCT",
    "Panel",
    "claim_figure",
    "comparison_figure",
    "run_panels",
    "run_span",
    "timeline_figure",
]

PANEL_HEIGHT_PX = 210
CLAIM_FIGURE_HEIGHT_PX = 340
FIGURE_MARGIN_PX = 120
TEMPLATE = "plotly_white"
FAULT_FILL = "rgba(214, 39, 40, 0.14)"
FAULT_TEXT = "#b22222"
FAILOVER_COLOUR = "#6a3d9a"
LABEL_BACKGROUND = "rgba(255, 255, 255, 0.75)"
LEGEND_X = 1.01
# Room on the right for one legend per panel, next to the panel it explains.
RIGHT_MARGIN_PX = 190
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


def _line(
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


def _x(frame: pd.DataFrame) -> np.ndarray:
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
    rate.traces.append(_line(_x(total), total["rate_rps"], "all", line={"color": "#333"}))
    rate.traces += [_line(_x(by_domain), by_domain[d], d) for d in by_domain.columns]

    availability = axis.by(rows, "domain", "availability")
    avail = Panel("availability", "Availability by domain", "%", y_max=105.0)
    avail.traces += [
        _line(_x(availability), availability[d] * PERCENT, f"{d} available")
        for d in availability.columns
    ]

    kinds = distinct_values(rows[rows["failed"]], "failure_kind", ERROR_KINDS)
    failures = axis.by(rows, "failure_kind", "ratio", kinds)
    fail = Panel("failures", "Failure rate by error kind (stacked)", "% of requests")
    fail.traces += [
        _line(_x(failures), failures[k] * PERCENT, k, stackgroup="failures") for k in kinds
    ]
    fault = run.windows.get(FAULT)
    if fault is not None:
        instant = failover_instant(rows, run.windows, {})
        if math.isfinite(instant) and instant > fault[0]:
            fail.marks.append((instant - axis.t0, f"failed over +{instant - fault[0]:.2f} s"))

    routes = axis.by(rows, "route", "rate_rps", distinct_values(rows, "route", ROUTES))
    mix = Panel("routes", "Route mix (stacked; X-Gatecrash-Route)", "req/s")
    mix.traces += [
        _line(
            _x(routes),
            routes[r],
            r,
            stackgroup="routes",
            line={"color": ROUTE_COLOURS.get(r, "#7f7f7f")},
        )
        for r in routes.columns
    ]

    instances = axis.by(rows, "instance", "rate_rps")
    per_instance = Panel("instances", "Requests per instance (take-over)", "req/s")
    per_instance.traces += [_line(_x(instances), instances[i], i) for i in instances.columns]
    return [rate, avail, fail, _latency_panel(rows, axis), mix, per_instance]


def _chat_panels(rows: pd.DataFrame, axis: _Axis) -> list[Panel]:
    if not rows["ttft_ms"].notna().any():
        return []
    chat = axis.series(rows, ["ttft_p50_ms", "ttft_p95_ms", "tokens_per_s"])
    ttft = Panel("ttft", "Chat: time to first token", "ms")
    ttft.traces += [_line(_x(chat), chat[m], m) for m in ("ttft_p50_ms", "ttft_p95_ms")]
    tokens = Panel("tokens", "Chat: tokens per second", "tokens/s")
    tokens.traces.append(_line(_x(chat), chat["tokens_per_s"], "tokens_per_s"))
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
        panel.traces.append(_line(_x(series), series[name], name, line={"color": colour}))
        if corrected:
            panel.traces.append(
                _line(
                    _x(series),
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
        panel.traces.append(_line(x, values, column, line={"color": colour}))
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


def _axis(kind: str, index: int) -> str:
    return kind if index == 1 else f"{kind}{index}"


def _decorate(
    fig: go.Figure,
    panels: Sequence[Panel],
    faults: Sequence[FaultEvent],
    t0: float,
    end_x: float,
    col: int,
    cols: int,
) -> None:
    """Fault bands on every panel of a column, labelled once at the top; panel marks."""
    for fault in faults:
        x0 = fault.start - t0
        x1 = (fault.end - t0) if fault.end is not None else end_x
        fig.add_vrect(
            x0=x0, x1=x1, row="all", col=col, fillcolor=FAULT_FILL, line_width=0, layer="below"
        )
        top = _axis("y", col) + " domain"
        fig.add_annotation(
            x=x0,
            xref=_axis("x", col),
            y=1.0,
            yref=top,
            text=fault.label,
            showarrow=False,
            xanchor="left",
            yanchor="top",
            bgcolor=LABEL_BACKGROUND,
            font={"color": FAULT_TEXT, "size": 11},
        )
    for row, panel in enumerate(panels, start=1):
        index = (row - 1) * cols + col
        for x, label in panel.marks:
            fig.add_vline(x=x, row=row, col=col, line={"color": FAILOVER_COLOUR, "dash": "dash"})
            fig.add_annotation(
                x=x,
                xref=_axis("x", index),
                y=0.95,
                yref=_axis("y", index) + " domain",
                text=label,
                showarrow=False,
                xanchor="left",
                font={"color": FAILOVER_COLOUR, "size": 10},
            )


def _legend_name(row: int) -> str:
    return "legend" if row == 1 else f"legend{row}"


def _row_legends(fig: go.Figure, rows: int, cols: int) -> None:
    """One legend per panel row, beside it, instead of one long list for the whole figure."""
    for row in range(1, rows + 1):
        domain = fig.layout[_axis("yaxis", (row - 1) * cols + 1)].domain
        fig.layout[_legend_name(row)] = {
            "y": domain[1],
            "yanchor": "top",
            "x": LEGEND_X,
            "xanchor": "left",
            "font": {"size": 10},
            "tracegroupgap": 1,
        }


def _layout(fig: go.Figure, rows: int, title: str) -> None:
    fig.update_layout(
        template=TEMPLATE,
        title=title,
        height=PANEL_HEIGHT_PX * rows + FIGURE_MARGIN_PX,
        hovermode="x unified",
        margin={"l": 60, "r": RIGHT_MARGIN_PX, "t": 80, "b": 40},
    )
    # make_subplots(shared_xaxes=...) already makes the panels zoom together.
    fig.update_xaxes(showticklabels=True)
    fig.update_xaxes(title_text="seconds since run start", row=rows)


def timeline_figure(run: RunRecord, panels: Sequence[Panel], title: str = "") -> go.Figure:
    """All panels of one run stacked on a shared time axis, faults as labelled bands."""
    count = max(1, len(panels))
    fig = make_subplots(
        rows=count,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.35 / count,
        subplot_titles=[p.title for p in panels] or [""],
    )
    for row, panel in enumerate(panels, start=1):
        for trace in panel.traces:
            trace.legend = _legend_name(row)
            fig.add_trace(trace, row=row, col=1)
        fig.update_yaxes(title_text=panel.y_title, row=row, col=1, rangemode="tozero")
        if panel.y_max is not None:
            fig.update_yaxes(range=[0, panel.y_max], row=row, col=1)
    end_x = run_span(run).end - run.t0
    _decorate(fig, panels, run.faults, run.t0, end_x, col=1, cols=1)
    _row_legends(fig, count, 1)
    _layout(fig, count, title)
    return fig


def comparison_figure(
    runs: Sequence[RunRecord], panel_sets: Sequence[Sequence[Panel]], labels: Sequence[str]
) -> go.Figure:
    """Runs side by side (one column each); a row is one kind of panel with one y scale."""
    keys: list[str] = []
    titles: dict[str, str] = {}
    for panels in panel_sets:
        for panel in panels:
            if panel.key not in keys:
                keys.append(panel.key)
                titles[panel.key] = panel.title
    cols = len(runs)
    subplot_titles = [f"{labels[c]} — {titles[k]}" for k in keys for c in range(cols)]
    count = max(1, len(keys))
    fig = make_subplots(
        rows=count,
        cols=cols,
        shared_xaxes="all",
        shared_yaxes="rows",
        vertical_spacing=0.35 / count,
        horizontal_spacing=0.04,
        subplot_titles=subplot_titles or None,
    )
    for col, (run, panels) in enumerate(zip(runs, panel_sets, strict=True), start=1):
        by_key = {p.key: p for p in panels}
        ordered = [by_key.get(k, Panel(k, titles[k], "")) for k in keys]
        for row, panel in enumerate(ordered, start=1):
            for trace in panel.traces:
                trace.legendgroup = f"{labels[col - 1]}:{trace.name}"
                trace.name = f"{labels[col - 1]}: {trace.name}"
                trace.legend = _legend_name(row)
                fig.add_trace(trace, row=row, col=col)
            # No fixed y range here: plotly.js then drops autorange on the matched axes of
            # the rows below (seen with 4.1); autorange of matched axes already shares scales.
            if col == 1:
                fig.update_yaxes(title_text=panel.y_title, row=row, col=col, rangemode="tozero")
        _decorate(fig, ordered, run.faults, run.t0, run_span(run).end - run.t0, col, cols)
    _row_legends(fig, count, cols)
    _layout(fig, count, "")
    return fig


def claim_figure(runs: Sequence[RunRecord]) -> go.Figure:
    """The key figure of one claim: availability and p99 of each architecture's run.

    Runs share an axis of seconds since their own start; the first run's faults
    are drawn (the architectures of one claim run the same timeline).
    """
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.12,
        subplot_titles=["availability (%)", "p99 latency of available answers (ms)"],
    )
    for run in runs:
        if run.rows.empty:
            continue
        span = run_span(run)
        series = timeline(run.rows, ["availability", "p99_ms"], None, span, run.t0)
        name = run.arch or run.run_id
        fig.add_trace(_line(_x(series), series["availability"] * PERCENT, name), row=1, col=1)
        p99 = _line(_x(series), series["p99_ms"], name, showlegend=False)
        fig.add_trace(p99, row=2, col=1)
    if runs:
        first = runs[0]
        _decorate(fig, [], first.faults, first.t0, run_span(first).end - first.t0, col=1, cols=1)
    fig.update_yaxes(range=[0, 105], row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=2, col=1)
    fig.update_layout(
        template=TEMPLATE,
        height=CLAIM_FIGURE_HEIGHT_PX,
        hovermode="x unified",
        margin={"l": 50, "r": 20, "t": 40, "b": 30},
    )
    return fig
