"""A local instance is named by (pid, start ticks): a clock step must not make a live
process look dead, and a recycled pid must not look like ours."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from chaos.runtime.local import LocalRuntime
from chaos.runtime.processes import InstancePlan, LocalProcess, start_ticks


def plan() -> InstancePlan:
    return InstancePlan(id="sleeper-1", service="sleeper", program="sleeper", role=None,
                        host="127.0.0.1", port=1, url="http://127.0.0.1:1",
                        argv=[sys.executable, "-c", "import time; time.sleep(30)"])


def test_start_ticks_are_fixed_for_a_live_process_and_none_for_a_gone_one() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        first = start_ticks(child.pid)
        assert first is not None and first > 0
        assert start_ticks(child.pid) == first
    finally:
        child.kill()
        child.wait()
    assert start_ticks(child.pid) is None


def test_a_boot_time_step_does_not_make_a_live_instance_look_dead(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = LocalRuntime([plan()], tmp_path, attached=True)
    runtime._start([runtime.plans["sleeper-1"]])
    try:
        proc = runtime.procs["sleeper-1"]
        real = psutil.boot_time()
        # /proc/stat's btime moving by a second, as it does under NTP or VM clock steps.
        monkeypatch.setattr(psutil, "boot_time", lambda: real + 1.0)
        monkeypatch.setattr("psutil._pslinux.boot_time", lambda: real + 1.0)
        assert runtime._alive(proc)
        assert runtime.pids() == {"sleeper-1": proc.pid}
    finally:
        runtime.teardown()
    assert start_ticks(proc.pid) is None  # stopped and reaped


def test_a_recycled_pid_is_not_taken_for_the_instance(tmp_path: Path) -> None:
    runtime = LocalRuntime([plan()], tmp_path, attached=True)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        ticks = start_ticks(stranger.pid)
        assert ticks is not None
        # Our record names the same pid but an earlier start: someone else holds it now.
        runtime.procs["sleeper-1"] = LocalProcess(runtime.plans["sleeper-1"], stranger.pid,
                                                  ticks - 1)
        assert not runtime._alive(runtime.procs["sleeper-1"])
        runtime.teardown()
        assert stranger.poll() is None  # never signalled
    finally:
        stranger.kill()
        stranger.wait()


def test_state_written_by_one_process_is_read_back_by_another(tmp_path: Path) -> None:
    runtime = LocalRuntime([plan()], tmp_path, attached=False)
    runtime._start([runtime.plans["sleeper-1"]])
    runtime._save()
    try:
        attached = LocalRuntime.attach(tmp_path)
        assert attached.pids() == {"sleeper-1": runtime.procs["sleeper-1"].pid}
    finally:
        runtime.teardown()
    assert LocalRuntime.attach(tmp_path).pids() == {}
