"""The load's closing note: per worker, what it reported against what the run folder holds.

Every load process reports its counts (its live file, or its master's copy for
a remote worker); the rows are in the run folder. A worker whose rows do not
all arrive (lost mid-run, or its outbox full) shows as `missing`, and a lost
worker is named with when and why. Open loop: each worker's share of the
plan (`intended`), what it sent, what it dropped, and how late it sent
(send time - intended send time).
"""

from __future__ import annotations

import time

import pandas as pd

from loadtests.fleet import Fleet, RemoteWorker, WorkerState
from loadtests.live import WorkerLive
from loadtests.shapes import ArrivalSchedule, Ramp
from loadtests.spec import LoadSpec
from records.events import LoadEvent, WorkerTally

__all__ = ["tally_load"]

MS = 1000.0
LAG_QUANTILES = (0.5, 0.99)


def _lags(rows: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    """Per worker: p50, p99 and max of send - intended send, in ms (open-loop rows)."""
    timed = rows.dropna(subset=["ts_intended"])
    if timed.empty:
        return {}
    lag = (timed["ts_send"] - timed["ts_intended"]) * MS
    out = {}
    for worker, values in lag.groupby(timed["worker"]):
        p50, p99 = values.quantile(list(LAG_QUANTILES))
        out[str(worker)] = (float(p50), float(p99), float(values.max()))
    return out


def _tally(name: str, live: WorkerLive | None, remote: RemoteWorker | None, rows: int,
           lag: tuple[float, float, float] | None) -> WorkerTally:
    requests = live.requests if live else (remote.requests_reported if remote else 0)
    p50, p99, top = lag if lag is not None else (None, None, None)
    tally = WorkerTally(
        worker=name, requests=requests, rows=rows, missing=max(requests - rows, 0),
        intended=live.intended if live else None, dropped=live.dropped if live else 0,
        lag_p50_ms=p50, lag_p99_ms=p99, lag_max_ms=top)
    if remote is None:
        return tally
    return tally.model_copy(update={
        "remote": True, "host": remote.host, "share": remote.share,
        "state": "lost" if remote.state is WorkerState.LOST else "finished",
        "joined": remote.joined, "lost_at": remote.lost_at, "lost_why": remote.lost_why,
        "clock_offset_ms": remote.clock_offset_s * MS, "clock_rtt_ms": remote.clock_rtt_s * MS,
        "retries": remote.retries, "refused": remote.rows_refused,
        "duplicates": remote.duplicates,
    })


def _note(workers: list[WorkerTally], requests: int, rows: int, planned: int | None) -> str:
    sign = "=" if rows == requests else ("<" if rows < requests else ">")
    note = (f"{rows} rows in the run folder {sign} {requests} requests reported by "
            f"{len(workers)} worker(s)")
    if planned is not None:
        dropped = sum(w.dropped for w in workers)
        note += f"; {requests} of {planned} planned arrivals sent, {dropped} dropped"
    for w in workers:
        if w.state == "lost":
            note += f"; worker {w.worker} lost ({w.lost_why}), {w.missing} of its rows missing"
        elif w.missing:
            note += f"; worker {w.worker}: {w.missing} rows missing"
        elif w.lost_why:  # stalled, then delivered everything
            note += f"; worker {w.worker} {w.lost_why}"
    return note


def tally_load(lives: list[WorkerLive], fleet: Fleet | None, spec: LoadSpec,
               rows: pd.DataFrame) -> LoadEvent:
    """The closing note from the workers' last counters, the master's view of the
    remote ones (`fleet`), and the rows of the run folder."""
    by_name = {w.worker: w for w in lives}
    remotes = {w.name: w for w in fleet.workers} if fleet else {}
    counts = rows["worker"].value_counts() if not rows.empty else pd.Series(dtype=int)
    lags = _lags(rows) if not rows.empty else {}
    names = sorted(set(by_name) | set(remotes), key=lambda n: (
        remotes[n].share if n in remotes else 0, n))
    workers = [_tally(n, by_name.get(n), remotes.get(n), int(counts.get(n, 0)), lags.get(n))
               for n in names]
    requests = sum(w.requests for w in workers)
    total_rows = len(rows)
    planned = None
    if spec.mode in ("open", "sweep"):
        ramps = [Ramp(s.duration_s, *s.rates()) for s in spec.rate_stages()]
        planned = ArrivalSchedule(ramps, max_lag_s=spec.max_lag_s).arrivals
    return LoadEvent(ts=time.time(), workers=workers, requests=requests, rows=total_rows,
                     missing=sum(w.missing for w in workers), planned=planned,
                     note=_note(workers, requests, total_rows, planned))
