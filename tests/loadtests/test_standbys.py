"""Locust interpreters started ahead of their loads (loadtests.standbys): real short
Locust runs against the fake service, and the processes they leave (none)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from loadtests import LoadRun, LoadSpec, Mix, standby_generators, start_load
from loadtests.config import PACKAGE_ROOT, locust_env
from loadtests.standbys import STANDBY_MODULE
from records import read_rows
from tests.loadtests.fake_service import FAKE_API_KEY

pytestmark = pytest.mark.timeout(120)

SPEC = LoadSpec(mode="closed", users=2, duration_s=1, wait_min_s=0.01, wait_max_s=0.05,
                mix=Mix(chat=0))
RUN_MARGIN_S = 25.0
READY_TIMEOUT_S = 30.0


def _standbys() -> list[psutil.Process]:
    """This test process's children that are standby interpreters not yet handed a load."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if STANDBY_MODULE in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.Error:
            continue
    return found


def _run(out: Path, url: str) -> tuple[LoadRun, list[str]]:
    with start_load(SPEC, url, FAKE_API_KEY, out) as run:
        cmdline = psutil.Process(run.pid).cmdline()
        assert run.wait(SPEC.duration_s + RUN_MARGIN_S) == 0, run.log_tail()
    rows, live = read_rows(out), run.live()
    assert live.final and len(rows) == live.requests > 0, run.log_tail()
    return run, cmdline


def _one_ready() -> psutil.Process:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        ready = _standbys()
        if ready:
            assert len(ready) == 1, "one standby at a time"
            return ready[0]
        time.sleep(0.05)
    raise AssertionError("no standby interpreter was started")


def test_loads_back_to_back_run_in_interpreters_started_ahead(fake_url: str,
                                                              tmp_path: Path) -> None:
    with standby_generators():
        first_ready = _one_ready()
        run1, cmd1 = _run(tmp_path / "a", fake_url)
        # The next load's interpreter is started once this one has stopped, not during it.
        second_ready = _one_ready()
        assert second_ready.create_time() >= run1.launched
        handed = time.time()
        run2, cmd2 = _run(tmp_path / "b", fake_url)
        leftover = _one_ready()
    assert run1.pid == first_ready.pid and STANDBY_MODULE in cmd1
    assert run2.pid == second_ready.pid and STANDBY_MODULE in cmd2
    assert second_ready.create_time() < handed
    # Its Locust log is the run folder's, as for a cold start.
    assert "Aggregated" in run2.log_path.read_text(encoding="utf-8")
    assert not leftover.is_running() or leftover.status() == psutil.STATUS_ZOMBIE
    assert not _standbys(), "the unused standby is removed with the context"


def test_outside_the_context_locust_starts_cold(fake_url: str, tmp_path: Path) -> None:
    _, cmd = _run(tmp_path, fake_url)
    assert "locust" in cmd and STANDBY_MODULE not in cmd
    assert not _standbys()


def test_a_dead_standby_is_replaced_by_a_cold_start(fake_url: str, tmp_path: Path) -> None:
    with standby_generators():
        ready = _one_ready()
        ready.kill()
        ready.wait(10)
        run, cmd = _run(tmp_path, fake_url)
    assert run.pid != ready.pid and STANDBY_MODULE not in cmd
    assert not _standbys()


def test_a_standby_exits_when_its_conductor_goes_away() -> None:
    proc = subprocess.Popen([sys.executable, "-m", STANDBY_MODULE], cwd=PACKAGE_ROOT,
                            env=locust_env({}), stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert proc.stdin is not None
        proc.stdin.close()  # what the conductor's death looks like from the standby
        assert proc.wait(READY_TIMEOUT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
