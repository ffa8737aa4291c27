"""Per-request rows to Parquet parts, fed by Locust's `events.request` hook.

No Locust import: the hook is a plain method taking the event's keyword
arguments, so the recorder is unit-tested in the test process directly.

Hot path: one tuple appended per request (cheaper than one append per column;
the transpose to columns happens at flush, off the request path). A flush swaps
the buffer and hands the rows to a single writer thread, which builds the Arrow
table and writes `rows/part-<worker>-<n>.parquet` via a temp name + rename, so
an aborted run keeps every finished part and never a half-written one.
"""

from __future__ import annotations

import logging
import os
import uuid
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from loadtests.layout import part_name
from loadtests.live import WorkerLive
from loadtests.metrics import MS, StreamMetrics, classify_error
from loadtests.schema import ROW_SCHEMA

__all__ = [
    "HEADER_GATEWAY",
    "HEADER_INSTANCE",
    "HEADER_ROUTE",
    "RowRecorder",
    "rows_to_table",
]

log = logging.getLogger(__name__)

# Header names pinned by docs/contracts.md (not imported from targets/: the
# packages meet in contracts, not in each other's internals, DESIGN.md §3).
HEADER_ROUTE = "X-Gatecrash-Route"
HEADER_INSTANCE = "X-Gatecrash-Instance"
HEADER_GATEWAY = "X-Gatecrash-Gateway"
DEGRADED_ROUTES = frozenset({"fallback-cache", "fallback-degraded"})
REJECTED_STATUS = 429
FLUSH_ROWS = 5000
_NO_METRICS = StreamMetrics()

Row = tuple[Any, ...]


def rows_to_table(rows: list[Row]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(ROW_SCHEMA)
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, ROW_SCHEMA, strict=True)]
    return pa.Table.from_arrays(arrays, schema=ROW_SCHEMA)


def _header(headers: Any, name: str) -> str | None:
    value = headers.get(name)
    if value.__class__ is list:  # repeated header: the last hop's value wins
        value = value[-1] if value else None
    return value


class RowRecorder:
    """Buffers rows of one load process and writes them as Parquet parts.

    `executor` runs the writes (Locust: a one-thread gevent pool, so a write
    never blocks the event loop; None: write inline, for tests). `enabled=False`
    keeps only the counters (the benchmark's "without recorder" arm does not
    even install the hook).
    """

    def __init__(
        self,
        rows_dir: Path,
        worker: str,
        *,
        flush_rows: int = FLUSH_ROWS,
        executor: Executor | None = None,
    ) -> None:
        self.rows_dir = Path(rows_dir)
        self.worker = worker
        self.flush_rows = flush_rows
        self.executor = executor
        self.counters = WorkerLive(worker=worker, pid=os.getpid(), ts=0.0, started=0.0)
        self.parts_written = 0
        self._rows: list[Row] = []
        self._n_parts = 0
        # Rows stay referenced until written, so close() can write them itself.
        self._pending: list[tuple[Future[None], list[Row], Path]] = []

    @staticmethod
    def warm_up() -> None:
        """Load pyarrow's lazy parts now, before any load.

        The first `pa.array` imports pandas (pyarrow checks for pandas objects):
        seconds on a busy host. Done lazily in the writer thread mid-run, that
        import holds the GIL and import locks, stalls the event loop and can
        deadlock a shutdown. Done here it costs startup time only.
        """
        pq.write_table(rows_to_table([]), pa.BufferOutputStream())

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
        ctx = context or {}
        status = int(getattr(response, "status_code", 0) or 0)
        headers = getattr(response, "headers", None)
        if headers:
            route = _header(headers, HEADER_ROUTE)
            instance = _header(headers, HEADER_INSTANCE)
            gateway = _header(headers, HEADER_GATEWAY)
        else:
            route = instance = gateway = None
        # Fast path for the common answer; the full classification otherwise.
        kind = None if exception is None and 0 < status < 400 else classify_error(status, exception)
        ts_send = start_time if start_time is not None else 0.0
        ts_end = ts_send + response_time / MS
        ts_intended = ctx.get("ts_intended")
        metrics: StreamMetrics = ctx.get("stream_metrics", _NO_METRICS)
        self._rows.append((
            ts_send,
            ts_intended,
            ts_end,
            response_time,
            None if ts_intended is None else (ts_end - ts_intended) * MS,
            status,
            kind,
            ctx.get("domain", "other"),
            ctx.get("endpoint", name),
            request_type,
            route,
            instance,
            gateway,
            ctx.get("stream", False),
            metrics.ttft_ms,
            metrics.tpot_ms,
            metrics.itl_mean_ms,
            metrics.itl_max_ms,
            metrics.e2e_ms,
            ctx.get("tokens_out"),
            response_length or 0,
            self.worker,
        ))
        c = self.counters
        c.requests += 1
        if kind is None:
            c.ok += 1
            if route in DEGRADED_ROUTES:
                c.degraded += 1
        elif status == REJECTED_STATUS:
            c.rejected += 1
        else:
            c.failures += 1
        if len(self._rows) >= self.flush_rows:
            self.flush()

    # -- flushing -------------------------------------------------------------
    def flush(self, *, inline: bool = False) -> None:
        """Hand the buffered rows to the writer (returns at once), or write them now."""
        rows, self._rows = self._rows, []
        self._pending = [p for p in self._pending if not p[0].done()]
        if not rows:
            return
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
        # A unique temp name: close() may write the same part as the writer thread.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            pq.write_table(rows_to_table(rows), tmp)
            os.replace(tmp, path)
        except Exception:
            # Losing a part is a measurement error the run must show, not hide.
            log.exception("could not write %d rows to %s", len(rows), path)
            raise
        self.parts_written += 1

    @property
    def buffered(self) -> int:
        return len(self._rows)

