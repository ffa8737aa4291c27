"""What differs between two runs: the numbers that decide between them, side by side,
and which run each favours."""

import html
import math

from dashboards.analysis import METRICS, evaluate
from dashboards.errors import DashboardsError
from dashboards.rows import Selector
from dashboards.tables import Html, format_value, html_table
from dashboards.windows import BASELINE, FAULT, RECOVERY
from records import RunRecord

__all__ = ["differences_html", "domains"]

# Metrics where a larger value is the better architecture; latency, failures and
# times are better smaller; the rest (degraded_ratio, ratio) is a matter of design.
HIGHER_IS_BETTER = frozenset({"availability", "rate_rps", "count", "tokens_per_s"})
LOWER_IS_BETTER = frozenset(
    {"failure_rate", "failed", "requests_lost", "time_to_failover_s", "time_to_recover_s"}
    | {name for name, spec in METRICS.items() if spec.unit == "ms"}
)
COMPARED_WINDOW_METRICS = ("availability", "failure_rate", "p95_ms", "p99_ms", "rate_rps")
RUN_METRIC_NAMES = ("requests_lost", "time_to_failover_s", "time_to_recover_s")


def domains(run: RunRecord) -> list[str]:
    if run.rows.empty or "domain" not in run.rows:
        return []
    return sorted(str(d) for d in run.rows["domain"].dropna().unique())


def _difference(metric: str, unit: str, va: float, vb: float, la: str, lb: str) -> tuple[str, str]:
    """(difference text, which is better) for B relative to A."""
    if any(math.isnan(v) for v in (va, vb)):
        return "—", ""
    if va == vb:
        return "equal", ""
    if any(math.isinf(v) for v in (va, vb)):
        text = "one never settled"
    elif unit == "fraction":
        text = f"{(vb - va) * 100:+.2f} pts"
    else:
        text = f"{format_value(vb - va, unit)}" + (f" (x{vb / va:.2f})" if va else "")
    if metric in HIGHER_IS_BETTER:
        return text, lb if vb > va else la
    if metric in LOWER_IS_BETTER:
        return text, lb if vb < va else la
    return text, ""


def _comparisons(a: RunRecord, b: RunRecord) -> list[tuple[str, str, Selector, str | None]]:
    """(label, metric, selector, window) of the numbers that decide between two runs."""
    common = [w for w in (BASELINE, FAULT, RECOVERY) if w in a.windows and w in b.windows]
    items: list[tuple[str, str, Selector, str | None]] = []
    for window in common:
        items += [(f"{m}@{window}", m, {}, window) for m in COMPARED_WINDOW_METRICS]
    if FAULT in common:
        for domain in sorted(set(domains(a)) | set(domains(b))):
            selector = {"domain": domain}
            items.append(
                (f"availability{{domain={domain}}}@fault", "availability", selector, FAULT)
            )
    if {FAULT, RECOVERY} <= set(common):
        items += [(m, m, {}, None) for m in RUN_METRIC_NAMES]
    return items


def _safe_evaluate(run: RunRecord, metric: str, selector: Selector, window: str | None) -> float:
    try:
        return evaluate(run.rows, run.trials, metric, selector, window)
    except DashboardsError:
        return math.nan


def differences_html(a: RunRecord, b: RunRecord, la: str, lb: str) -> str:
    rows, sentences = [], []
    for label, metric, selector, window in _comparisons(a, b):
        unit = METRICS[metric].unit
        va = _safe_evaluate(a, metric, selector, window)
        vb = _safe_evaluate(b, metric, selector, window)
        diff, better = _difference(metric, unit, va, vb, la, lb)
        fa, fb = format_value(va, unit), format_value(vb, unit)
        rows.append([Html(f"<code>{html.escape(label)}</code>"), fa, fb, diff, better or "—"])
        if better:
            sentences.append(
                f"<li><code>{html.escape(label)}</code>: {html.escape(la)} {fa}, "
                f"{html.escape(lb)} {fb} — <span class='better'>"
                f"{html.escape(better)} better</span> ({html.escape(diff)})</li>"
            )
    if not rows:
        return "<p>The two runs share no windows to compare.</p>"
    table = html_table(["metric", la, lb, f"{lb} - {la}", "better"], rows, "Side by side")
    listing = f"<ul>{''.join(sentences)}</ul>" if sentences else "<p>No difference.</p>"
    return f"<h2>What differs</h2>{listing}{table}"
