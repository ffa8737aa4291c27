"""A capacity sweep in a run report: its steps as judged, and each component's
load at the knee (the same figures `gatecrash capacity` prints)."""

from __future__ import annotations

import html
import math

from dashboards.tables import VERDICT_CLASSES, Html, html_table
from records import CapacityRecord

__all__ = ["sweep_html"]

# A step's word in the colour of the verdict it stands for.
STEP_BADGES = {"pass": "holds", "fail": "fails", "cut": "inconclusive"}


def _num(value: float, digits: int = 0) -> str:
    if math.isnan(value):
        return "—"
    return "∞" if math.isinf(value) else f"{value:,.{digits}f}"


def sweep_html(record: CapacityRecord) -> str:
    c = record.capacity
    knee = f"{record.knee_rps:g} req/s" if record.knee_rps is not None else "none"
    head = (f"<p>Knee <b>{html.escape(knee)}</b>; capacity interval "
            f"[{_num(c.low)}, {_num(c.high)}] req/s at {c.confidence:.0%} "
            f"({html.escape(c.method)}, n={c.n}). SLO: {html.escape(str(record.slo))}. "
            f"{html.escape(record.ended)}.</p>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in record.notes)
    rows = [[s.index, _num(s.rate_rps), f"{s.sent}/{s.scheduled}",
             f"{_num(s.p95_corrected_ms.value)} [{_num(s.p95_corrected_ms.low)}, "
             f"{_num(s.p95_corrected_ms.high)}]", _num(s.availability.value, 4),
             Html(f'<span class="badge {VERDICT_CLASSES[STEP_BADGES[s.outcome]]}">'
                  f"{s.outcome}</span>"),
             _num(s.lag.p95_ms, 1), s.lag.missing, _num(s.host_max_pct),
             _num(s.generator_max_pct),
             ", ".join(map(str, s.generator_bound_s)) or "—"] for s in record.steps]
    header = ["step", "req/s", "sent/due", "p95 ms [interval]", "availability", "outcome",
              "send lag p95 ms", "no answer", "host CPU %", "generator CPU %",
              "generator-bound s"]
    parts = [head, f"<ul>{notes}</ul>" if notes else "",
             html_table(header, rows, "Steps (requests by intended send)")]
    if record.knee is not None:
        loads = [[c.component, len(c.instances) or "—", _num(c.cpu_pct, 1),
                  _num(c.cpu_ms_per_request, 2), _num(c.rss_mb, 1)]
                 for c in record.knee.components]
        parts.append(html_table(["component", "instances", "CPU % of a core", "CPU-ms/request",
                                 "RSS MiB"], loads, f"At the knee ({knee})"))
    return "".join(parts)
