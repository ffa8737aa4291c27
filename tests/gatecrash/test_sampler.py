"""The CPU sampler counts an instance's whole process tree: a product whose work is
done by a child (NGINX's worker under its master) must not read as idle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from gatecrash.sampler import _Usage

# A parent that sleeps while its one child spins: all the tree's CPU is the child's.
PARENT = ("import subprocess, sys, time\n"
          "child = subprocess.Popen([sys.executable, '-c', 'while True: pass'])\n"
          "try:\n    time.sleep(60)\nfinally:\n    child.kill()\n")
MEASURE_S = 1.0


@pytest.fixture
def busy_child_tree() -> Iterator[int]:
    parent = subprocess.Popen([sys.executable, "-c", PARENT])
    try:
        deadline = time.monotonic() + 10
        while not psutil.Process(parent.pid).children() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield parent.pid
    finally:
        for proc in psutil.Process(parent.pid).children(recursive=True):
            proc.kill()
        parent.kill()
        parent.wait()


def test_a_tree_counts_its_busy_child_the_process_alone_does_not(
        busy_child_tree: int) -> None:
    tree, alone = _Usage(), _Usage()
    tree.of_tree(busy_child_tree), alone.of(busy_child_tree)
    time.sleep(MEASURE_S)
    tree_pct, tree_mb = tree.of_tree(busy_child_tree)
    alone_pct, alone_mb = alone.of(busy_child_tree)
    # The child spins on one core; even on a loaded 2-core host it gets a share
    # far above the sleeping parent's.
    assert tree_pct > 10.0 > alone_pct, (tree_pct, alone_pct)
    assert tree_mb > alone_mb > 0


def test_ended_processes_are_forgotten_unlisted_running_ones_kept() -> None:
    sleepers = [subprocess.Popen(["sleep", "60"]) for _ in range(2)]
    kept, ending = (p.pid for p in sleepers)
    try:
        usage = _Usage()
        usage.begin_sample()
        for pid in (kept, ending):
            usage.of(pid)
        usage.end_sample()
        # Neither listed in this sample; one still running (e.g. a paused container)
        # is kept, so that listed again it is measured from its last sample, not
        # from its birth. The one that ended (a zombie too) is forgotten.
        os.kill(ending, signal.SIGKILL)
        time.sleep(0.2)
        usage.begin_sample()
        usage.end_sample()
        assert set(usage._procs) == {kept}
        sleepers[1].wait()
        usage.begin_sample()
        usage.end_sample()
        assert set(usage._procs) == {kept}
    finally:
        for proc in sleepers:
            proc.kill()
            proc.wait()
    assert usage.of_tree(ending) == (0.0, 0.0)  # a process gone reads as nothing


# A process that works for a while, then idles: what it did is all it will ever do.
BURST = ("import time\nend = time.process_time() + 0.3\n"
         "while time.process_time() < end:\n    pass\ntime.sleep(60)\n")


def test_a_process_born_since_the_last_sample_is_counted_from_its_birth() -> None:
    usage = _Usage()
    usage.begin_sample()
    usage.end_sample()  # a sample before the process existed
    proc = subprocess.Popen([sys.executable, "-c", BURST])
    try:
        deadline = time.monotonic() + 20
        while psutil.Process(proc.pid).cpu_times().user < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
        usage.begin_sample()
        pct, _ = usage.of_tree(proc.pid)
        assert usage._previous is not None
        span = usage._now - usage._previous
        usage.end_sample()
        # Its start-up and burst (>= 0.3 s of CPU) fell in this span: all counted,
        # not read as 0 (which leaves them to "processes outside the run").
        assert pct >= 100.0 * 0.3 / span, (pct, span)
        # The next sample measures it from this one on: idle now.
        time.sleep(0.5)
        usage.begin_sample()
        assert usage.of_tree(proc.pid)[0] < 10.0
        usage.end_sample()
    finally:
        proc.kill()
        proc.wait()


def test_the_first_sample_does_not_count_what_came_before_it(
        busy_child_tree: int) -> None:
    usage = _Usage()
    usage.begin_sample()
    assert usage.of_tree(busy_child_tree)[0] == 0.0  # born when? unknown: no guess
    usage.end_sample()
