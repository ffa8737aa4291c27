"""`gatecrash run --remote-workers 2` as a user types it, with two `gatecrash worker`
processes as if on other hosts; one is killed mid-run. The verdict of the window it
took part in is inconclusive and names it; the other worker's rows all arrived."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtests import MasterAddress
from records import read_events, read_verdicts
from records.events import LoadEvent
from tests.loadtests.workers import WorkerHost, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

EXPERIMENT = """\
name: lost-worker
claim: requests are answered
architectures: [single]
deploy: {replicas: 1, proxies: false}
load: {mode: closed, users: 4, wait_min_s: 0.02, wait_max_s: 0.05, duration_s: 10,
       mix: {identity: 1, business: 1, chat: 0}}
warmup_s: 0.5
require_unsaturated: false
hypotheses: ['count@baseline >= 1']
"""
RUN_TIMEOUT_S = 240
FIRST_ROWS_TIMEOUT_S = 150.0
EXIT_INCONCLUSIVE = 3


def _wait_for_rows_of(run_root: Path, worker: str, gatecrash: subprocess.Popen[str]) -> None:
    """Until the master has written a part of `worker` (it is then surely mid-run)."""
    deadline = time.monotonic() + FIRST_ROWS_TIMEOUT_S
    while time.monotonic() < deadline:
        if list(run_root.glob(f"*/rows/part-{worker}-*.parquet")):
            return
        assert gatecrash.poll() is None, gatecrash.communicate()
        time.sleep(0.1)
    raise AssertionError(f"no rows of {worker} within {FIRST_ROWS_TIMEOUT_S:g} s")


def test_a_worker_killed_mid_run_makes_the_verdict_inconclusive(tmp_path: Path) -> None:
    exp = tmp_path / "lost-worker.yaml"
    exp.write_text(EXPERIMENT)
    runs = tmp_path / "runs"
    master = MasterAddress("127.0.0.1", free_port())
    gatecrash = subprocess.Popen(
        [sys.executable, "-m", "gatecrash.cli", "run", str(exp), "--out", str(runs),
         "--remote-workers", "2", "--master-bind", str(master), "--join-timeout", "120"],
        env={**os.environ, "GATECRASH_HOME": str(tmp_path / "home")},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    hosts = [WorkerHost(master, name, tmp_path / "hosts", tmp_path / f"{name}.log")
             for name in ("gen-a", "gen-b")]
    try:
        _wait_for_rows_of(runs, "gen-b", gatecrash)
        hosts[1].kill()
        out, _ = gatecrash.communicate(timeout=RUN_TIMEOUT_S)
        assert hosts[0].wait() == 0, hosts[0].tail()
    finally:
        for host in hosts:
            if host.proc.poll() is None:
                host.kill()
        if gatecrash.poll() is None:
            gatecrash.kill()
    assert gatecrash.returncode == EXIT_INCONCLUSIVE, out
    [run] = runs.iterdir()
    [verdict] = read_verdicts(run)
    assert verdict.verdict == "inconclusive"
    assert "load worker gen-b was lost mid-run" in verdict.detail, verdict.detail
    [note] = [e for e in read_events(run, []) if isinstance(e, LoadEvent)]
    by_name = {w.worker: w for w in note.workers}
    assert by_name["gen-b"].state == "lost" and by_name["gen-b"].lost_at is not None
    survivor = by_name["gen-a"]
    assert survivor.state == "finished" and survivor.rows == survivor.requests > 0
    assert survivor.missing == 0 and survivor.retries >= 0
    assert "worker gen-b lost" in note.note
    fleet = json.loads((run / "load" / "workers.json").read_text())
    assert {w["name"]: w["state"] for w in fleet["workers"]} == {"gen-a": "finished",
                                                                  "gen-b": "lost"}
