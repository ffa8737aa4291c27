"""Run records: where gatecrash, chaos, loadtests and dashboards meet (DESIGN.md §3-§4).

Every file of a run folder, its name and its schema, is defined once here:
`layout` (file names, RECORD_VERSION), `meta` (RunMeta), `events` (FaultEvent,
PhaseEvent, AbortEvent), `verdicts` (Verdict), `rows` (the per-request row
schema), `cpu` (CpuSample), `live` (LiveProgress), `capacity` (CapacityRecord,
a sweep's steps and knee); `writer` writes them and
`reader` reads them back. This package imports none of the other five.

Exports load lazily: a load process writing rows through `records.rows` must
not also import pandas for the reader.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from records.capacity import CapacityRecord, Slo, SweepStep
    from records.cpu import CpuSample, cpu_frame
    from records.errors import RecordError, RecordVersionError
    from records.events import (
        AbortEvent,
        Event,
        FaultEvent,
        HopTraffic,
        LoadEvent,
        PhaseEvent,
        Proof,
        WorkerTally,
    )
    from records.junit import write_junit
    from records.layout import RECORD_VERSION, RunFolder
    from records.live import LiveProgress
    from records.meta import RunMeta, RunStatus, RunWindows, Span
    from records.reader import (
        RowsFollower,
        RunRecord,
        read_capacity,
        read_cpu,
        read_events,
        read_live,
        read_meta,
        read_rows,
        read_rows_table,
        read_run,
        read_verdicts,
    )
    from records.rows import (
        COLUMNS,
        ERROR_KINDS,
        FALLBACK_ROUTES,
        ROUTES,
        ROW_SCHEMA,
        STREAM_METRIC_COLUMNS,
    )
    from records.verdicts import (
        FAILS,
        HOLDS,
        INCONCLUSIVE,
        NO_VERDICT,
        Verdict,
        VerdictWord,
        overall_verdict,
    )
    from records.writer import RunWriter

_HOME = {
    "CapacityRecord": "capacity", "Slo": "capacity", "SweepStep": "capacity",
    "CpuSample": "cpu", "cpu_frame": "cpu",
    "RecordError": "errors", "RecordVersionError": "errors",
    "AbortEvent": "events", "Event": "events", "FaultEvent": "events", "HopTraffic": "events",
    "PhaseEvent": "events", "Proof": "events", "LoadEvent": "events", "WorkerTally": "events",
    "write_junit": "junit",
    "RECORD_VERSION": "layout", "RunFolder": "layout",
    "LiveProgress": "live",
    "RunMeta": "meta", "RunStatus": "meta", "RunWindows": "meta", "Span": "meta",
    "RowsFollower": "reader", "RunRecord": "reader", "read_capacity": "reader",
    "read_cpu": "reader", "read_events": "reader",
    "read_live": "reader", "read_meta": "reader", "read_rows": "reader",
    "read_rows_table": "reader", "read_run": "reader", "read_verdicts": "reader",
    "COLUMNS": "rows", "ERROR_KINDS": "rows", "FALLBACK_ROUTES": "rows", "ROUTES": "rows",
    "ROW_SCHEMA": "rows",
    "STREAM_METRIC_COLUMNS": "rows",
    "FAILS": "verdicts", "HOLDS": "verdicts", "INCONCLUSIVE": "verdicts",
    "NO_VERDICT": "verdicts", "Verdict": "verdicts", "VerdictWord": "verdicts",
    "overall_verdict": "verdicts",
    "RunWriter": "writer",
}

__all__ = [
    "COLUMNS",
    "ERROR_KINDS",
    "FAILS",
    "FALLBACK_ROUTES",
    "HOLDS",
    "INCONCLUSIVE",
    "NO_VERDICT",
    "RECORD_VERSION",
    "ROUTES",
    "ROW_SCHEMA",
    "STREAM_METRIC_COLUMNS",
    "AbortEvent",
    "CapacityRecord",
    "CpuSample",
    "Event",
    "FaultEvent",
    "HopTraffic",
    "LiveProgress",
    "LoadEvent",
    "PhaseEvent",
    "Proof",
    "RecordError",
    "RecordVersionError",
    "RowsFollower",
    "RunFolder",
    "RunMeta",
    "RunRecord",
    "RunStatus",
    "RunWindows",
    "RunWriter",
    "Slo",
    "Span",
    "SweepStep",
    "Verdict",
    "VerdictWord",
    "WorkerTally",
    "cpu_frame",
    "overall_verdict",
    "read_capacity",
    "read_cpu",
    "read_events",
    "read_live",
    "read_meta",
    "read_rows",
    "read_rows_table",
    "read_run",
    "read_verdicts",
    "write_junit",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'records' has no attribute {name!r}")
    return getattr(importlib.import_module(f"records.{module}"), name)
