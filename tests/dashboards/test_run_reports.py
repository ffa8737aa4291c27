"""Many runs' reports written side by side (dashboards.run_reports) are the reports
`write_run_report` writes one by one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from dashboards.errors import RunFolderError
from dashboards.report import write_run_report
from dashboards.run_reports import report_writers, write_run_reports
from tests.dashboards.runfolders import RunSpec, make_run

PACKAGE_ROOT = Path(__file__).resolve().parents[2]

# What differs between two writings of one report: the time it was written, and
# the ids plotly draws at random for each figure's div.
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
VARYING = re.compile(rf"(written [^<]*|{UUID})")


def _stable(path: Path) -> str:
    return VARYING.sub("", path.read_text(encoding="utf-8"))


def test_reports_written_in_workers_are_those_written_one_by_one(tmp_path: Path) -> None:
    runs = [make_run(tmp_path / "pool", RunSpec(run_id=f"run-{i}", arch=arch))
            for i, arch in enumerate(("single", "dual", "dual"))]
    alone = [make_run(tmp_path / "alone", RunSpec(run_id=f"run-{i}", arch=arch))
             for i, arch in enumerate(("single", "dual", "dual"))]
    written = write_run_reports(runs, workers=2)
    assert written == [r / "report.html" for r in runs]
    for pooled, run in zip(written, alone, strict=True):
        assert _stable(pooled) == _stable(write_run_report(run))


def test_a_worker_s_error_reaches_the_caller(tmp_path: Path) -> None:
    good = make_run(tmp_path, RunSpec(run_id="good"))
    missing = tmp_path / "no-such-run"
    with pytest.raises(RunFolderError, match="no-such-run"):
        write_run_reports([good, missing], workers=2)


def _live(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _report_workers() -> list[psutil.Process]:
    """Live processes forked by this process's fork server (the report workers);
    other children of a long test session (some gone, some zombies) are passed over."""
    servers = []
    for child in psutil.Process().children():
        try:
            if "forkserver" in " ".join(child.cmdline()):
                servers.append(child)
        except psutil.Error:
            continue
    return [w for s in servers if _live(s) for w in s.children() if _live(w)]


def test_writers_started_ahead_are_up_before_the_reports_and_gone_after(tmp_path: Path) -> None:
    runs = [make_run(tmp_path, RunSpec(run_id=f"run-{i}")) for i in range(2)]
    with report_writers(2) as writers:
        writers.wait_ready()
        # Forked by the server that imported the report code, before any report.
        workers = _report_workers()
        assert workers and not (tmp_path / "run-0" / "report.html").exists()
        assert writers.write(runs) == [r / "report.html" for r in runs]
    assert not [w for w in workers if _live(w)]
    with report_writers(1) as alone:  # one core: no worker, written here
        alone.wait_ready()
        assert alone.pool is None and alone.write(runs[:1]) == [runs[0] / "report.html"]


UNGUARDED_SCRIPT = """
import sys
from pathlib import Path

from dashboards.run_reports import report_writers

# No `if __name__ == "__main__"`: the fork server runs this again in each worker,
# where starting a pool fails, and the workers die.
with report_writers(2) as writers:
    writers.wait_ready()
    print(writers.pool is None, len(writers.write([Path(a) for a in sys.argv[1:]])))
"""


def test_workers_that_cannot_start_leave_the_reports_to_the_caller(tmp_path: Path) -> None:
    runs = [make_run(tmp_path, RunSpec(run_id=f"run-{i}")) for i in range(2)]
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED_SCRIPT, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), *map(str, runs)], cwd=PACKAGE_ROOT,
                          env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "2"]
    assert all((r / "report.html").is_file() for r in runs)
