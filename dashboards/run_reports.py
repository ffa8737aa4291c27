"""Many runs' reports at once, over the host's cores.

A suite writes its runs' reports at its end, once every verdict is known: a
dozen and more, 0.3-0.8 s of CPU each. They are independent, so worker
processes write them side by side. The workers come from a fork server that
has imported the report code once (plotly, pandas: ~2.5 s), not from a fork of
the caller, which may hold threads.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from dashboards.report import write_run_report

__all__ = ["write_run_reports"]

REPORT_MODULE = "dashboards.report"


def write_run_reports(run_dirs: Sequence[Path], workers: int | None = None) -> list[Path]:
    """Each run's report (as `write_run_report`), in order; `workers`: processes to
    use (default: one per core). One run, or one core, is written here."""
    workers = min(len(run_dirs), workers or os.cpu_count() or 1)
    if workers < 2:
        return [write_run_report(d) for d in run_dirs]
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([REPORT_MODULE])
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(write_run_report, run_dirs))
