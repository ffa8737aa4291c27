"""The stream error kinds are series of their own in a run's failure panel, and
failed requests' latency stands next to the percentiles of available answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dashboards.analysis import TABLE_METRICS, evaluate
from dashboards.outcomes import DERIVED_COLUMNS, prepare_rows
from dashboards.panels import run_panels
from dashboards.runs import load_run
from tests.dashboards.runfolders import RunSpec, make_run

STREAM_KINDS = ("stream_cut", "stream_error_event", "stream_stall", "malformed")


def test_each_stream_error_kind_is_its_own_series(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path, RunSpec()))
    rows = run.rows.drop(columns=list(DERIVED_COLUMNS))  # classified again below
    chat = np.flatnonzero((rows["domain"] == "chat").to_numpy() & (rows["status"] == 200))
    for i, kind in enumerate(STREAM_KINDS):  # a few streams of each kind: 200, then broke
        rows.loc[rows.index[chat[i::8][:5]], "error_kind"] = kind
    run.rows = prepare_rows(rows)
    failures = next(p for p in run_panels(run) if p.key == "failures")
    names = {trace.name for trace in failures.traces}
    assert set(STREAM_KINDS) <= names
    # A broken stream is failed, with its latency reported, never an available answer.
    assert evaluate(rows, run.windows, "failed_p50_ms") > 0
    assert TABLE_METRICS.index("failed_p50_ms") == TABLE_METRICS.index("p99_ms") + 1
