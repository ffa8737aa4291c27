"""Self-contained HTML reports: one run, and two runs side by side (the claims suite's
report is `dashboards.evidence`).

plotly.js is inlined once per page (users may be offline; no CDN). Every
number comes from `dashboards.analysis` (tables) or `dashboards.figures`
(plots), which read the same window metrics as the verdicts.
"""

import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from dashboards.analysis import METRICS, TABLE_METRICS, fault_summary, window_estimates
from dashboards.differences import differences_html, domains
from dashboards.figures import comparison_figure, timeline_figure
from dashboards.intervals import Estimate, method_label
from dashboards.pages import figure_html, page, when, write_page
from dashboards.panels import run_panels, run_span
from dashboards.runs import load_run
from dashboards.sample_sizes import Measurement
from dashboards.sweep_tables import sweep_html
from dashboards.tables import (
    Html,
    format_estimate,
    format_value,
    html_table,
    verdict_badge,
)
from dashboards.timelines import bucket_width
from dashboards.windows import Windows, rows_span
from records import FaultEvent, Proof, RunRecord, Verdict
from records.layout import REPORT_FILE

__all__ = [
    "render_comparison",
    "render_run_report",
    "write_comparison",
    "write_run_report",
]

_METRIC_AT_START = re.compile(r"^\s*([a-z][a-z0-9_]*)")


def _selector_text(selector: Mapping[str, str]) -> str:
    return "{" + ",".join(f"{k}={v}" for k, v in selector.items()) + "}" if selector else ""


def _trials(run: RunRecord) -> list[Windows]:
    """The run's windows, one mapping per trial; the whole run as one window when
    meta.json has none."""
    if run.trials:
        return list(run.trials)
    span = rows_span(run.rows) if not run.rows.empty else run_span(run)
    return [{"run": (span.start, span.end)}]


def _hypothesis_unit(verdict: Verdict) -> str:
    match = _METRIC_AT_START.match(verdict.hypothesis)
    spec = METRICS.get(match.group(1)) if match else None
    return spec.unit if spec else ""


# --- one run -------------------------------------------------------------------------------


def _header(run: RunRecord) -> str:
    span = run_span(run)
    meta = run.meta
    parts = [
        f"<h1>{html.escape(run.experiment or run.run_id)} — {html.escape(run.arch or '?')}</h1>",
        "<p class='meta'>"
        f"run <code>{html.escape(run.run_id)}</code> · status <b>{meta.status}</b> · "
        f"{when(meta.started)} · {span.duration_s:.1f} s · "
        f"{len(run.rows):,} requests · {meta.load_mode} loop · seed {meta.seed}</p>",
    ]
    if meta.claim:
        parts.append(f"<blockquote>{html.escape(meta.claim)}</blockquote>")
    if run.problems:
        items = "".join(f"<li>{html.escape(p)}</li>" for p in run.problems)
        parts.append(f"<div class='problems'><b>Read with care:</b><ul>{items}</ul></div>")
    return "".join(parts)


def verdict_estimate(v: Verdict) -> str:
    """What a verdict was decided on: `quantity = value [low, high] (method)`."""
    if v.value is None and v.low is None:
        return "not measured"
    unit = _hypothesis_unit(v)
    shown = format_estimate(v.value, v.low, v.high, unit)
    method = ""
    if v.method is not None:
        method = method_label(_as_estimate(v))
    compared = f" {v.op} {format_value(v.bound, unit)}" if v.op is not None else ""
    return f"{v.quantity} = {shown}{compared} ({method})" if method else f"{v.quantity} = {shown}"


def _as_estimate(v: Verdict) -> Estimate:
    nan = float("nan")
    return Estimate(v.value if v.value is not None else nan, v.low if v.low is not None else nan,
                    v.high if v.high is not None else nan, v.n or 0, v.method or "",
                    v.confidence or 0.95)


def n_cell(v: Verdict) -> str:
    """A verdict's sample size, with each sample's when it has several."""
    if v.n is None:
        return "—"
    if len(v.samples) > 1:
        return f"{v.n:,} (" + ", ".join(f"{n:,}" for n in v.samples.values()) + ")"
    return f"{v.n:,}"


def _scorecard(verdicts: Sequence[Verdict]) -> str:
    if not verdicts:
        return "<p>No verdicts recorded for this run.</p>"
    rows = []
    for v in verdicts:
        rows.append(
            [
                v.claim_id or "—",
                v.arch,
                Html(f"<code>{html.escape(v.hypothesis)}</code>"),
                verdict_estimate(v),
                n_cell(v),
                verdict_badge(v.verdict),
                v.detail,
            ]
        )
    header = ["claim", "arch", "hypothesis", "estimate [interval]", "n", "verdict", "reason"]
    return html_table(header, rows, "Verdicts")


def _faults_table(run: RunRecord) -> str:
    if not run.faults:
        return "<p>No fault was applied in this run.</p>"

    def proof(read_back: Proof | None) -> str:
        return "—" if read_back is None else ("proven" if read_back.ok else "NOT proven")

    rows = [
        [
            f.label,
            f"+{f.start - run.t0:.2f} s",
            "—" if f.end is None else f"+{f.end - run.t0:.2f} s",
            "—" if f.end is None else f"{f.end - f.start:.2f} s",
            proof(f.proof),
            proof(f.removal_proof),
            _traffic_text(f),
        ]
        for f in run.faults
    ]
    header = ["fault", "start", "end", "length", "took effect", "removed", "traffic proof"]
    return html_table(header, rows, "Faults")


def _traffic_text(event: FaultEvent) -> str:
    """What the fault met, and from where that is known; "unavailable" is said as such."""
    proof = event.traffic_proof
    if proof is None:
        return "— (instance fault)"
    if proof.source == "unavailable":
        return f"UNAVAILABLE: {proof.detail}"
    if event.http_traffic:
        parts = [f"{t}: {c.matched} matched, {c.fired} fired, {c.bytes_forwarded} B"
                 for t, c in event.http_traffic.items()]
    else:
        parts = [f"{t}: {h.connections} conn, {h.bytes_upstream}+{h.bytes_downstream} B"
                 for t, h in event.traffic.items()]
    return f"{'; '.join(parts)} ({proof.source})"


def _selectors(run: RunRecord) -> list[dict[str, str]]:
    return [{}, *({"domain": d} for d in domains(run))]


def _measured(metric: str, measured: Measurement | None) -> str:
    if measured is None:
        return "—"
    e = measured.estimate
    text = format_estimate(e.value, e.low, e.high, METRICS[metric].unit)
    return f"{text} ({measured.note})" if measured.note else text


def _fault_metrics_table(run: RunRecord) -> str:
    rows = []
    for selector in _selectors(run):
        summary = fault_summary(run.rows, _trials(run), selector)
        rows.append(
            [
                _selector_text(selector) or "all traffic",
                _measured("requests_lost", summary.requests_lost),
                _measured("time_to_failover_s", summary.time_to_failover_s),
                _measured("time_to_recover_s", summary.time_to_recover_s),
            ]
        )
    header = ["traffic", "requests lost", "time to failover", "time to recover"]
    caption = "Fault handling (fault + recovery windows; times: the worst trial)"
    return html_table(header, rows, caption)


def _cell(metric: str, measured: Measurement) -> Html:
    """A window table cell: the value, and its interval below it when there is one."""
    e = measured.estimate
    unit = METRICS[metric].unit
    value = html.escape(format_value(e.value, unit))
    if not e.measured or e.low == e.high:
        return Html(value)
    interval = f"[{format_value(e.low, unit)}, {format_value(e.high, unit)}]"
    return Html(f"{value}<br><small>{html.escape(interval)}</small>")


def _window_metrics_tables(run: RunRecord) -> str:
    trials = _trials(run)
    parts = []
    for selector in _selectors(run):
        table = window_estimates(run.rows, trials, TABLE_METRICS, selector)
        rows = [
            [name, *(_cell(m, table[name][m]) for m in TABLE_METRICS)]
            for name in table
        ]
        caption = f"Window metrics — {_selector_text(selector) or 'all traffic'}"
        if len(trials) > 1:
            caption += f" (rows of {len(trials)} trials pooled per window)"
        parts.append(html_table(["window", *TABLE_METRICS], rows, caption))
    spans = "; ".join(
        (f"trial {i + 1}: " if len(trials) > 1 else "")
        + ", ".join(
            f"{name} +{start - run.t0:.1f}…+{end - run.t0:.1f} s"
            for name, (start, end) in windows.items()
        )
        for i, windows in enumerate(trials)
    )
    first, rest = parts[0], "".join(parts[1:])
    details = f"<details><summary>per domain</summary>{rest}</details>" if rest else ""
    return f"<p class='meta'>Windows: {html.escape(spans)}</p>{first}{details}"


def render_run_report(run: RunRecord) -> str:
    """The HTML of one run's report."""
    panels = run_panels(run)
    figure = timeline_figure(run, panels, "Timeline (shaded: faults)") if panels else None
    body = [
        _header(run),
        "<h2>Scorecard</h2>",
        _scorecard(run.verdicts),
        "<h2>Faults</h2>",
        _faults_table(run),
        _fault_metrics_table(run) if not run.rows.empty else "",
        "<h2>Timeline</h2>",
        "<p>No requests were recorded.</p>" if run.rows.empty else "",
        figure_html(figure) if figure is not None else "",
        "<h2>Windows</h2>",
        _window_metrics_tables(run) if not run.rows.empty else "<p>No requests.</p>",
        *(["<h2>Capacity sweep</h2>", sweep_html(run.capacity)] if run.capacity else []),
    ]
    return page(f"{run.experiment} {run.arch} — {run.run_id}", "".join(body))


def write_run_report(run_dir: str | Path) -> Path:
    """Write ``<run_dir>/report.html`` and return its path."""
    run = load_run(run_dir)
    return write_page(run.path / REPORT_FILE, render_run_report(run))


# --- two runs ------------------------------------------------------------------------------


def _labels(a: RunRecord, b: RunRecord) -> tuple[str, str]:
    if a.arch and b.arch and a.arch != b.arch:
        return a.arch, b.arch
    return a.run_id, b.run_id


def render_comparison(a: RunRecord, b: RunRecord) -> str:
    """The HTML of two runs side by side on the same time and y scales."""
    la, lb = _labels(a, b)
    span_a, span_b = run_span(a), run_span(b)
    bucket = bucket_width(max(span_a, span_b, key=lambda w: w.duration_s))
    panels = [run_panels(a, span_a, bucket), run_panels(b, span_b, bucket)]
    figure = comparison_figure([a, b], panels, [la, lb])
    scorecards = "".join(
        f"<h3>{html.escape(label)}</h3>{_scorecard(run.verdicts)}"
        for label, run in ((la, a), (lb, b))
    )
    body = [
        f"<h1>{html.escape(a.experiment or a.run_id)}: {html.escape(la)} vs {html.escape(lb)}</h1>",
        f"<p class='meta'>{html.escape(la)}: <code>{html.escape(a.run_id)}</code> "
        f"({len(a.rows):,} requests) · {html.escape(lb)}: <code>{html.escape(b.run_id)}</code> "
        f"({len(b.rows):,} requests) · time in seconds since each run's start</p>",
        differences_html(a, b, la, lb),
        "<h2>Verdicts</h2>",
        scorecards,
        "<h2>Timelines (same scales)</h2>",
        figure_html(figure),
    ]
    return page(f"{la} vs {lb}", "".join(body))


def write_comparison(run_a: str | Path, run_b: str | Path, out: str | Path) -> Path:
    """Write the comparison of two run folders to `out` (a file, or a folder to put it in)."""
    a, b = load_run(run_a), load_run(run_b)
    target = Path(out)
    if target.is_dir():
        target = target / f"compare_{a.path.name}_vs_{b.path.name}.html"
    return write_page(target, render_comparison(a, b))
