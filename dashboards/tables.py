"""HTML tables and number formatting for the reports (plain strings, escaped by default)."""

import html
import math
from collections.abc import Sequence

from dashboards.analysis import METRICS

__all__ = [
    "Html",
    "format_estimate",
    "format_metric",
    "format_value",
    "html_table",
    "verdict_badge",
]

PERCENT = 100.0
VERDICT_CLASSES = {"holds": "holds", "fails": "fails", "inconclusive": "inconclusive"}


class Html(str):
    """Markup that is already safe; any other cell text is escaped."""

    __slots__ = ()


def format_value(value: float | None, unit: str) -> str:
    """A number as a reader wants it: 99.95 %, 12.3 ms, never (∞), — for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "never (∞)" if value > 0 else "-∞"
    if unit == "fraction":
        return f"{value * PERCENT:.2f} %"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "requests":
        return f"{value:,.0f}"
    if unit in ("req/s", "tokens/s"):
        return f"{value:,.1f} {unit}"
    return f"{value:.4g}"


def format_estimate(value: float | None, low: float | None, high: float | None,
                    unit: str) -> str:
    """A value with its interval: 99.20 % [97.10 %, 99.80 %]; the value alone when the
    interval is the point (an exact count)."""
    shown = format_value(value, unit)
    if low is None or high is None or (low == high == value):
        return shown
    return f"{shown} [{format_value(low, unit)}, {format_value(high, unit)}]"


def format_metric(metric: str, value: float | None) -> str:
    """`format_value` with the metric's registered unit."""
    spec = METRICS.get(metric)
    return format_value(value, spec.unit if spec else "")


# Cells that read as numbers are right-aligned, so digits line up in a column.
_NUMERIC_START = (*"0123456789+-—", "never")


def _cell(value: object) -> str:
    return value if isinstance(value, Html) else html.escape(str(value))


def _td(value: object) -> str:
    numeric = not isinstance(value, Html) and str(value).startswith(_NUMERIC_START)
    return f"<td class='n'>{_cell(value)}</td>" if numeric else f"<td>{_cell(value)}</td>"


def html_table(
    header: Sequence[str], rows: Sequence[Sequence[object]], caption: str = "", css: str = ""
) -> Html:
    """A table; cells are escaped unless they are `Html`."""
    head = "".join(f"<th>{_cell(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in rows)
    title = f"<caption>{_cell(caption)}</caption>" if caption else ""
    klass = f' class="{html.escape(css)}"' if css else ""
    return Html(f"<table{klass}>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def verdict_badge(verdict: str) -> Html:
    """A coloured verdict word (holds / fails / inconclusive / anything else in grey)."""
    css = VERDICT_CLASSES.get(verdict, "unknown")
    return Html(f'<span class="badge {css}">{html.escape(verdict or "—")}</span>')
