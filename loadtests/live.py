"""Live stats: each load process rewrites one small JSON file about once a second.

One file per generating process (`load/live/<worker>.json`) rather than a
master-side aggregate, so the same reader works for the in-process runner and
for master/worker mode, and the last write of each file is that worker's
final totals (including the open-loop `dropped` count) after the run.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["LiveStats", "WorkerLive", "read_live", "read_worker_live", "read_workers",
           "write_worker_live"]


@dataclass
class WorkerLive:
    """One load process's counters. Failures exclude 429s (*rejected*) and dropped arrivals."""

    worker: str
    pid: int
    ts: float
    started: float
    requests: int = 0
    ok: int = 0
    failures: int = 0
    rejected: int = 0
    degraded: int = 0
    dropped: int = 0
    rate_rps: float = 0.0
    users: int = 0
    final: bool = False
    dropped_per_s: dict[str, int] = field(default_factory=dict)
    # Open loop: this process's share of the planned arrivals (sent + dropped, once done).
    intended: int | None = None


@dataclass(frozen=True)
class LiveStats:
    """All load processes together; `rate_rps` sums the workers' last-second rates."""

    ts: float = 0.0
    started: float | None = None
    requests: int = 0
    ok: int = 0
    failures: int = 0
    rejected: int = 0
    degraded: int = 0
    dropped: int = 0
    rate_rps: float = 0.0
    users: int = 0
    workers: int = 0
    final: bool = False


def write_worker_live(path: Path, stats: WorkerLive) -> None:
    # Write-then-rename: a reader never sees half a file.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(asdict(stats)), encoding="utf-8")
    os.replace(tmp, path)


def read_worker_live(path: Path) -> WorkerLive | None:
    try:
        return WorkerLive(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None  # vanished or from an incompatible version: skip, never crash a live view


def read_workers(live_dir: Path) -> list[WorkerLive]:
    """Each load process's latest counters, by worker name."""
    return [w for p in sorted(Path(live_dir).glob("*.json")) if (w := read_worker_live(p))]


def read_live(live_dir: Path) -> LiveStats:
    """Aggregate the per-worker files; zeros before any process has written."""
    workers = read_workers(live_dir)
    if not workers:
        return LiveStats()
    return LiveStats(
        ts=max(w.ts for w in workers),
        started=min(w.started for w in workers),
        requests=sum(w.requests for w in workers),
        ok=sum(w.ok for w in workers),
        failures=sum(w.failures for w in workers),
        rejected=sum(w.rejected for w in workers),
        degraded=sum(w.degraded for w in workers),
        dropped=sum(w.dropped for w in workers),
        rate_rps=sum(0.0 if w.final else w.rate_rps for w in workers),
        users=sum(0 if w.final else w.users for w in workers),
        workers=len(workers),
        final=all(w.final for w in workers),
    )
