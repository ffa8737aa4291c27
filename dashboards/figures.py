"""Plotly figures of a run: its panels (`dashboards.panels`) on one time axis, with
faults drawn as labelled bands; two runs side by side; a claim's key figure."""

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards.panels import PERCENT, Panel, run_span, step_line, xs
from dashboards.timelines import timeline
from records import FaultEvent, RunRecord

__all__ = [
    "claim_figure",
    "comparison_figure",
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
    rows: int,
) -> None:
    """Fault bands on every panel of a column, labelled once at the top; panel marks.

    Shapes are placed by explicit axis references: plotly's `add_vrect(row="all")`
    and `add_vline(row=...)` look through every trace for empty subplots, which
    took a quarter of a run report's time."""
    for fault in faults:
        x0 = fault.start - t0
        x1 = (fault.end - t0) if fault.end is not None else end_x
        for row in range(1, rows + 1):
            index = (row - 1) * cols + col
            fig.add_shape(type="rect", x0=x0, x1=x1, xref=_axis("x", index), y0=0, y1=1,
                          yref=_axis("y", index) + " domain", fillcolor=FAULT_FILL,
                          line_width=0, layer="below")
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
            fig.add_shape(type="line", x0=x, x1=x, xref=_axis("x", index), y0=0, y1=1,
                          yref=_axis("y", index) + " domain",
                          line={"color": FAILOVER_COLOUR, "dash": "dash"})
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
    _decorate(fig, panels, run.faults, run.t0, end_x, col=1, cols=1, rows=count)
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
        _decorate(fig, ordered, run.faults, run.t0, run_span(run).end - run.t0, col, cols,
                  count)
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
        fig.add_trace(step_line(xs(series), series["availability"] * PERCENT, name), row=1, col=1)
        p99 = step_line(xs(series), series["p99_ms"], name, showlegend=False)
        fig.add_trace(p99, row=2, col=1)
    if runs:
        first = runs[0]
        _decorate(fig, [], first.faults, first.t0, run_span(first).end - first.t0, col=1, cols=1,
                  rows=2)
    fig.update_yaxes(range=[0, 105], row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=2, col=1)
    fig.update_layout(
        template=TEMPLATE,
        height=CLAIM_FIGURE_HEIGHT_PX,
        hovermode="x unified",
        margin={"l": 50, "r": 20, "t": 40, "b": 30},
    )
    return fig
