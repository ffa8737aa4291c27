"""Run folders written by the real writer (`records.RunWriter`, rows in the recorder's
schema via `records.rows.rows_table`) and read back by the real reader, for the
verdict engine's tests: what is judged here is what a run would have recorded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dashboards.analysis import RunData
from records import RunMeta, RunWindows, RunWriter, read_run
from records.rows import COLUMNS, rows_table

__all__ = ["T0", "recorded", "request", "spaced"]

T0 = 1_700_000_000.0


def request(ts: float, domain: str = "identity", status: int = 200, latency_ms: float = 10.0,
            route: str | None = "primary", error_kind: str | None = None) -> tuple[Any, ...]:
    """One row as the recorder buffers it (a tuple in `COLUMNS` order)."""
    values: dict[str, Any] = {
        "ts_send": ts, "ts_intended": None, "ts_end": ts + latency_ms / 1000,
        "latency_ms": latency_ms, "latency_corrected_ms": None, "status": status,
        "error_kind": error_kind, "domain": domain, "endpoint": f"{domain}.op",
        "method": "GET", "route": route if status and status < 400 else None,
        "instance": "x-1", "gateway": "gateway-1", "entry": None, "failover": False,
        "stream": False, "ttft_ms": None,
        "tpot_ms": None, "itl_mean_ms": None, "itl_max_ms": None, "e2e_ms": None,
        "tokens_out": None, "response_bytes": 100, "worker": "w1",
    }
    return tuple(values[c] for c in COLUMNS)


def spaced(start: float, end: float, count: int, **fields: Any) -> list[tuple[Any, ...]]:
    """`count` requests evenly spread over [start, end)."""
    step = (end - start) / max(count, 1)
    return [request(start + i * step, **fields) for i in range(count)]


def recorded(root: Path, rows: Sequence[tuple[Any, ...]], trials: Sequence[RunWindows],
             arch: str = "dual", name: str = "run") -> RunData:
    """Write a run folder with these rows and windows, read it back, as `RunData`."""
    meta = RunMeta(run_id=name, experiment="e", claim="c", arch=arch, seed=1,
                   load_mode="closed", started=T0, t0=T0, windows=list(trials),
                   trials=len(trials))
    writer = RunWriter.create(root / name, meta)
    writer.write_rows(rows_table(list(rows)), "w1")
    record = read_run(root / name)
    return RunData.of(record.rows, record.trials, record.cpu)
