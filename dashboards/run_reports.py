"""Many runs' reports at once, over the host's cores.

A suite writes its runs' reports at its end, once every verdict is known: a
dozen and more, 0.3-0.8 s of CPU each. They are independent, so worker
processes write them side by side. The workers come from a fork server that
has imported the report code once (plotly, pandas: ~2.5 s), not from a fork of
the caller, which may hold threads.

A suite starts its writers with its first deploy (`ReportWriters`), and waits
for their imports before its first load: they then cost the suite's end
nothing but the reports, and no measured second any CPU.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path

from dashboards.report import write_run_report

__all__ = ["ReportWriters", "report_writers", "write_run_reports"]

REPORT_MODULE = "dashboards.report"

log = logging.getLogger(__name__)


class ReportWriters:
    """Worker processes (one per core, `workers`) ready to write reports."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else os.cpu_count() or 1
        self.pool: ProcessPoolExecutor | None = None
        self._started: list[Future[int]] = []
        if self.workers >= 2:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([REPORT_MODULE])
            self.pool = ProcessPoolExecutor(self.workers, mp_context=context)
            # One task a worker makes the pool start them all, each forked once the
            # server has imported the report code.
            self._started = [self.pool.submit(os.getpid) for _ in range(self.workers)]

    def wait_ready(self) -> None:
        """Until the server's imports are done and its workers forked. Workers that
        could not start (a caller's script re-run by the server and failing) leave
        the reports to this process, as with one core."""
        try:
            for started in self._started:
                started.result()
        except BrokenProcessPool:
            log.warning("the report workers did not start; reports are written here")
            self.close()

    def write(self, run_dirs: Sequence[Path]) -> list[Path]:
        """Each run's report (as `write_run_report`), in order. One run, or one
        core, is written here."""
        self.wait_ready()
        if self.pool is None or len(run_dirs) < 2:
            return [write_run_report(d) for d in run_dirs]
        return list(self.pool.map(write_run_report, run_dirs))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None


@contextmanager
def report_writers(workers: int | None = None) -> Iterator[ReportWriters]:
    """`ReportWriters`, shut down on the way out (errors and Ctrl-C too)."""
    writers = ReportWriters(workers)
    try:
        yield writers
    finally:
        writers.close()


def write_run_reports(run_dirs: Sequence[Path], workers: int | None = None) -> list[Path]:
    """Each run's report (as `write_run_report`), in order; `workers`: processes to
    use (default: one per core)."""
    workers = min(len(run_dirs), workers or os.cpu_count() or 1)
    if workers < 2:
        return [write_run_report(d) for d in run_dirs]
    with report_writers(workers) as writers:
        return writers.write(run_dirs)
