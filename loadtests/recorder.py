"""Per-request rows to Parquet parts, fed by Locust's `events.request` hook.

No Locust import: the hook is a plain method taking the event's keyword
arguments, so the recorder is unit-tested in the test process directly.

Hot path: one tuple appended per request (cheaper than one append per column;
the transpose to columns happens at flush, off the request path). A flush swaps
the buffer and hands the rows to a single writer thread, which builds the Arrow
table and writes `rows/part-<worker>-<n>.parquet` via a temp name + rename, so
an aborted run keeps every finished part and never a half-written one. A remote
worker has no run folder: its flush hands the rows to a sink (the row channel's
outbox, loadtests.relay) and its master writes the parts (loadtests.master).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from loadtests.entries import ENTRY_ATTR, FAILOVER_ATTR
from loadtests.live import WorkerLive
from loadtests.metrics import MS, StreamMetrics, classify_error
from records.layout import part_name
from records.rows import FALLBACK_ROUTES, Row, rows_table, write_rows_part

__all__ = [
    "HEADER_GATEWAY",
    "HEADER_INSTANCE",
    "HEADER_ROUTE",
    "RowRecorder",
]

log = logging.getLogger(__name__)

# Header names pinned by docs/contracts.md (not imported from targets/: the
# packages meet in contracts, not in each other's internals, DESIGN.md §3).
HEADER_ROUTE = "X-Gatecrash-Route"
HEADER_INSTANCE = "X-Gatecrash-Instance"
HEADER_GATEWAY = "X-Gatecrash-Gateway"
DEGRADED_ROUTES = frozenset(FALLBACK_ROUTES)
REJECTED_STATUS = 429
FLUSH_ROWS = 5000
_NO_METRICS = StreamMetrics()
_EMPTY: dict[str, Any] = {}

def _last(value: Any) -> str | None:
    """A repeated header arrives as a list: the last hop's value wins."""
    if isinstance(value, list):
        return value[-1] if value else None
    return value


class RowRecorder:
    """Buffers rows of one load process and writes them as Parquet parts.

    `executor` runs the writes (Locust: a one-thread gevent pool, so a write
    never blocks the event loop; None: write inline, for tests). It also keeps
    the live counters (`snapshot`), so they cost nothing when it is not hooked.
    """

    def __init__(
        self,
        rows_dir: Path | None,
        worker: str,
        *,
        flush_rows: int = FLUSH_ROWS,
        executor: Executor | None = None,
        sink: Callable[[list[Row]], None] | None = None,
    ) -> None:
        if (rows_dir is None) == (sink is None):
            raise ValueError("give the recorder either a rows folder or a sink")
        self.rows_dir = None if rows_dir is None else Path(rows_dir)
        # A remote worker's rows go to its master (loadtests.relay), not to disk.
        self.sink = sink
        self.worker = worker
        self.flush_rows = flush_rows
        self.executor = executor
        self._live = WorkerLive(worker=worker, pid=os.getpid(), ts=0.0, started=0.0)
        # Plain int attributes: the cheapest counters on the hot path.
        self._ok = self._degraded = self._rejected = self._failures = 0
        self.parts_written = 0
        self._rows: list[Row] = []
        self._n_parts = 0
        # Rows stay referenced until written, so close() can write them itself.
        self._pending: list[tuple[Future[None], list[Row], Path]] = []

    def snapshot(self) -> WorkerLive:
        """This process's live record with the current counts (the caller fills the rest)."""
        live = self._live
        live.ok, live.degraded = self._ok, self._degraded
        live.rejected, live.failures = self._rejected, self._failures
        live.requests = self._ok + self._rejected + self._failures
        return live

    @staticmethod
    def warm_up() -> None:
        """Load pyarrow's lazy parts now, before any load.

        The first `pa.array` imports pandas (pyarrow checks for pandas objects):
        seconds on a busy host. Done lazily in the writer thread mid-run, that
        import holds the GIL and import locks, stalls the event loop and can
        deadlock a shutdown. Done here it costs startup time only.
        """
        pq.write_table(rows_table([]), pa.BufferOutputStream())

    # -- hot path -------------------------------------------------------------
    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        context: dict[str, Any] | None = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        **_: Any,
    ) -> None:
        """Locust `events.request` listener: one row per request (a few µs; keep it so)."""
        ctx = context or _EMPTY
        if response is not None:
            status = response.status_code or 0
            headers = response.headers
            # Written by the failover session (loadtests.entries); absent otherwise.
            entry = getattr(response, ENTRY_ATTR, None)
            failover = getattr(response, FAILOVER_ATTR, False)
        else:
            status, headers, entry, failover = 0, None, None, False
        if headers:
            get = headers.get
            route, instance, gateway = get(HEADER_ROUTE), get(HEADER_INSTANCE), get(HEADER_GATEWAY)
            if list in (route.__class__, instance.__class__, gateway.__class__):
                route, instance, gateway = _last(route), _last(instance), _last(gateway)
        else:
            route = instance = gateway = None
        # Fast path for the common answer; the full classification otherwise.
        if exception is None and 0 < status < 400:
            kind = None
            self._ok += 1
            if route in DEGRADED_ROUTES:
                self._degraded += 1
        else:
            kind = classify_error(status, exception)
            if status == REJECTED_STATUS:
                self._rejected += 1
            else:
                self._failures += 1
        ts_send = start_time or 0.0
        ts_end = ts_send + response_time / MS
        ts_intended = ctx.get("ts_intended")
        m = ctx.get("stream_metrics") or _NO_METRICS
        self._rows.append((
            ts_send, ts_intended, ts_end, response_time,
            None if ts_intended is None else (ts_end - ts_intended) * MS,
            status, kind, ctx.get("domain", "other"), ctx.get("endpoint", name), request_type,
            route, instance, gateway, entry, failover, ctx.get("stream", False),
            m.ttft_ms, m.tpot_ms, m.itl_mean_ms, m.itl_max_ms, m.e2e_ms,
            ctx.get("tokens_out"), response_length or 0, self.worker,
        ))
        if len(self._rows) >= self.flush_rows:
            self.flush()

    # -- flushing -------------------------------------------------------------
    def flush(self, *, inline: bool = False) -> None:
        """Hand the buffered rows to the writer (returns at once), or write them now."""
        rows, self._rows = self._rows, []
        if self.sink is not None:
            if rows:
                self.sink(rows)  # a queue append: never blocks, never writes
            return
        self._pending = [p for p in self._pending if not p[0].done()]
        if not rows:
            return
        assert self.rows_dir is not None
        path = self.rows_dir / part_name(self.worker, self._n_parts)
        self._n_parts += 1
        if self.executor is None or inline:
            self._write(rows, path)
        else:
            self._pending.append((self.executor.submit(self._write, rows, path), rows, path))

    def close(self) -> None:
        """Write everything not yet on disk, inline; idempotent.

        Never yields to the event loop: at shutdown Locust may end the process
        as soon as this greenlet yields (two shutdown paths race on SIGTERM).
        A part still being written by the thread is written again here under
        its final name; the rename is atomic and the content identical.
        """
        self.flush(inline=True)
        for fut, rows, path in self._pending:
            if not fut.done():
                self._write(rows, path)
        self._pending = []

    def _write(self, rows: list[Row], path: Path) -> None:
        # The part's temp name is unique: close() may write the same part as the thread.
        try:
            write_rows_part(path, rows_table(rows))
        except Exception:
            # Losing a part is a measurement error the run must show, not hide.
            log.exception("could not write %d rows to %s", len(rows), path)
            raise
        self.parts_written += 1

    @property
    def buffered(self) -> int:
        return len(self._rows)

