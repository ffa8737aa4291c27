"""What `gatecrash capacity` prints: each sweep's steps, the knee and what every
component used there, and, for both architectures, the load per gateway at
equal rates (C5's "moins de charge par Gateway")."""

from __future__ import annotations

import math
from collections.abc import Sequence

from dashboards.resources import total_of
from gatecrash.capacity import CapacityResult
from records.capacity import ComponentLoad, SweepStep

__all__ = ["capacity_table", "gateway_load_table"]

# The components that route: the gateways and the middleware router.
ROUTING_PREFIXES = ("gateway", "router")
DASH = "-"


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or math.isnan(value):
        return DASH
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def _seconds(seconds: Sequence[int]) -> str:
    return ",".join(str(s) for s in seconds) or DASH


def _grid(rows: list[tuple[str, ...]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.rjust(w) if i else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
            for r in rows]


def _step_row(s: SweepStep) -> tuple[str, ...]:
    p95 = s.p95_corrected_ms
    return (str(s.index), _num(s.rate_rps), f"{s.sent}/{s.scheduled}",
            f"{_num(p95.value)} [{_num(p95.low)}, {_num(p95.high)}]",
            _num(s.availability.value, 4), s.outcome, _num(s.lag.p50_ms, 1),
            _num(s.lag.p95_ms, 1), str(s.lag.late), str(s.lag.missing),
            _num(s.host_max_pct), _num(s.generator_max_pct),
            _seconds(s.generator_bound_s), _seconds(s.host_saturated_s),
            _seconds(s.contended_s))


STEP_HEADER = ("step", "req/s", "sent/due", "p95 ms [interval]", "avail", "outcome",
               "lag p50", "lag p95", "late", "missing", "host %", "gen %",
               "gen-bound s", "host-sat s", "contended s")
COMPONENT_HEADER = ("component", "instances", "CPU %", "CPU-ms/req", "RSS MiB")


def _component_rows(loads: Sequence[ComponentLoad]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [COMPONENT_HEADER]
    total = total_of(loads)
    for c in [*loads, *([total] if total else [])]:
        rows.append((c.component, str(len(c.instances)) if c.instances else DASH,
                     _num(c.cpu_pct, 1), _num(c.cpu_ms_per_request, 2), _num(c.rss_mb, 1)))
    return rows


def _one(result: CapacityResult) -> list[str]:
    record = result.record
    c = result.capacity
    if record.knee_rps is not None:
        knee = f"{record.knee_rps:g} req/s"
    elif record.steps and math.isfinite(c.high):
        knee = f"below {record.steps[0].rate_rps:g} req/s"
    else:
        knee = "not measured"
    lines = [f"capacity of {result.arch}: {knee}  (interval [{_num(c.low)}, {_num(c.high)}] "
             f"req/s at {c.confidence:.0%}, n={c.n}; {c.method})",
             f"  SLO {record.slo}; steps of {record.step_rps:g} req/s x {record.step_s:g} s; "
             f"{record.ended}",
             "  a step passes when its p95 (corrected, unanswered arrivals counted as over the "
             "bound) and its availability meet the SLO; lag = send - intended, ms; seconds "
             "since load start",
             *_grid([STEP_HEADER, *(_step_row(s) for s in record.steps)])]
    if record.knee is not None:
        lines.append(f"  at the knee ({record.knee.rate_rps:g} req/s): CPU % of one core, "
                     "CPU-ms per answered request, resident memory")
        lines += _grid(_component_rows(record.knee.components), indent="    ")
    lines += [f"  note: {note}" for note in record.notes]
    lines.append(f"  run folder: {result.run_dir}")
    return lines


def gateway_load_table(results: Sequence[CapacityResult]) -> list[str]:
    """CPU % of each gateway and router at every rate the sweeps both judged."""
    columns: list[tuple[str, str]] = []  # (arch, component)
    by_rate: dict[float, dict[tuple[str, str], float]] = {}
    judged = [{s.rate_rps for s in r.record.steps if s.outcome != "cut"} for r in results]
    common = set.intersection(*judged) if judged else set()
    for result in results:
        for step in result.record.steps:
            if step.rate_rps not in common:
                continue
            for comp in step.components:
                if comp.component.startswith(ROUTING_PREFIXES):
                    key = (result.arch, comp.component)
                    if key not in columns:
                        columns.append(key)
                    by_rate.setdefault(step.rate_rps, {})[key] = comp.cpu_pct
    if not columns:
        return []
    header = ("req/s", *(f"{a}:{c}" for a, c in columns))
    rows = [(_num(rate), *(_num(by_rate[rate].get(k), 1) for k in columns))
            for rate in sorted(by_rate)]
    return ["load per gateway at equal rates (CPU % of one core, mean over the step):",
            *_grid([header, *rows])]


def capacity_table(results: Sequence[CapacityResult]) -> str:
    lines: list[str] = []
    for result in results:
        lines += [*_one(result), ""]
    if len(results) > 1:
        lines += gateway_load_table(results)
    return "\n".join(lines).rstrip()
