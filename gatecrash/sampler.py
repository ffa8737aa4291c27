"""CPU and memory of the host, the load generator and every instance, once a second.

A verdict is only as good as its measurement: a run whose host or load
generator was saturated in any second is inconclusive (dashboards.saturation),
and these samples are the evidence. They also give what each component costs
(CPU-ms and resident memory per request, dashboards.resources).

Samples follow a fixed one-second grid from `start` (no drift from the time a
sample takes), and each says how long a span its percents cover.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable

import psutil

from records import CpuSample, RunWriter

__all__ = ["CpuSampler"]

log = logging.getLogger(__name__)

SAMPLE_INTERVAL_S = 1.0
MIB = 1024 * 1024
# A process that ended or cannot be read between listing it and reading it.
GONE = (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess)


def _ended(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _children_by_parent() -> dict[int, list[int]]:
    """Every process's children, from one pass over the process table. psutil's
    `children()` makes that pass for each call: once per instance and second, it
    was a quarter of a core of the conductor's, taken from the stack it measures."""
    found: dict[int, list[int]] = {}
    for proc in psutil.process_iter(["ppid"]):
        ppid = proc.info["ppid"]
        if ppid is not None:
            found.setdefault(ppid, []).append(proc.pid)
    return found


class _Usage:
    """Percent of one core since the previous sample, and resident memory, per
    process tree: an instance's program and every process under it (NGINX's worker
    under its master, a container's program under its init), so a product that
    works in child processes is not measured as idle.

    A process first seen after the first sample was born since the one before (a
    restarted instance, a new worker): all the CPU it has used fell in this span,
    and is counted. Read as 0, a restarted replica's start-up (a second of a core
    for Python's imports) was taken for a process outside the run, which made the
    second "contended" and the recovery window's verdicts inconclusive."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}
        self._seen: set[int] = set()
        self._previous: float | None = None  # when the previous sample began
        self._now = time.time()
        # Built at the first tree of a sample, for all of the sample's trees.
        self._children: dict[int, list[int]] | None = None

    def begin_sample(self) -> None:
        self._now = time.time()
        self._children = None

    def _percent(self, pid: int) -> float:
        proc = self._procs.get(pid)
        if proc is not None:
            return proc.cpu_percent(None)
        proc = self._procs[pid] = psutil.Process(pid)
        times = proc.cpu_times()
        proc.cpu_percent(None)  # the reference point of the next sample
        if self._previous is None:  # the first sample: when it was born is unknown
            return 0.0
        span = max(self._now - self._previous, 1e-3)
        return 100.0 * (times.user + times.system) / span

    def of(self, pid: int) -> tuple[float, float]:
        """One process alone (a load generator's worker: each is listed itself)."""
        self._seen.add(pid)
        try:
            return self._percent(pid), self._procs[pid].memory_info().rss / MIB
        except GONE:
            self._procs.pop(pid, None)
            return 0.0, 0.0

    def of_tree(self, pid: int) -> tuple[float, float]:
        """A process and all its descendants, summed. Resident memory is summed too,
        so pages the tree shares (a forked worker's) count once per process."""
        root = self.of(pid)
        if pid not in self._procs:  # gone
            return root
        usage = [root, *(self.of(c) for c in self._descendants(pid))]
        return sum(pct for pct, _ in usage), sum(mb for _, mb in usage)

    def _descendants(self, pid: int) -> list[int]:
        if self._children is None:
            self._children = _children_by_parent()
        children = self._children
        found, todo = [], list(children.get(pid, ()))
        while todo:
            child = todo.pop()
            found.append(child)
            todo.extend(children.get(child, ()))
        return found

    def end_sample(self) -> None:
        """Forget the processes that ended (killed instances, ended workers). One
        still running but not listed this time (a paused container) is kept: seen
        again, it must not pass for a newborn and have its whole life counted."""
        for pid in set(self._procs) - self._seen:
            if _ended(self._procs[pid]):
                del self._procs[pid]
        self._seen = set()
        self._previous = self._now
        self._children = None


class CpuSampler:
    def __init__(self, record: RunWriter, instance_pids: Callable[[], dict[str, int]],
                 generator_pids: Callable[[], Iterable[int]]) -> None:
        self.record = record
        self.instance_pids = instance_pids
        self.generator_pids = generator_pids
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)
        self._usage = _Usage()
        self._last = 0.0

    def start(self) -> None:
        psutil.cpu_percent(None)  # the first call only sets the reference point
        # Reference points of every process already there: the first sample then
        # measures them, and counts a process born after this from its birth.
        with contextlib.suppress(psutil.Error, OSError):
            self._measure()
        self._last = time.time()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _measure(self) -> tuple[list[tuple[float, float]], dict[str, tuple[float, float]]]:
        """CPU % and RSS since the previous measure: each load generator process, and
        each instance's process tree."""
        self._usage.begin_sample()
        try:
            generator = [self._usage.of(p) for p in self.generator_pids()]
            instances = {iid: self._usage.of_tree(pid)
                         for iid, pid in self.instance_pids().items()}
        finally:
            self._usage.end_sample()
        return generator, instances

    def _sample(self) -> CpuSample:
        generator, instances = self._measure()
        now = time.time()
        span, self._last = max(now - self._last, 1e-3), now
        return CpuSample(
            ts=now, span_s=round(span, 4), host_pct=psutil.cpu_percent(None),
            cores=psutil.cpu_count() or 1,
            generator_pct=round(sum(pct for pct, _ in generator), 1),
            generator_max_pct=round(max((pct for pct, _ in generator), default=0.0), 1),
            generator_rss_mb=round(sum(mb for _, mb in generator), 1),
            instances={iid: round(pct, 1) for iid, (pct, _) in instances.items()},
            rss_mb={iid: round(mb, 1) for iid, (_, mb) in instances.items()})

    def _loop(self) -> None:
        started = time.monotonic()
        with self.record.cpu_log() as out:
            while True:
                # The next point of the grid: a slow sample delays the next one, never
                # the ones after it (and a late one is not followed by a burst).
                elapsed = time.monotonic() - started
                wait = (elapsed // SAMPLE_INTERVAL_S + 1) * SAMPLE_INTERVAL_S - elapsed
                if self._stop.wait(wait):
                    return
                try:
                    out.write(self._sample())
                except (psutil.Error, OSError) as exc:
                    # A process vanishing mid-sample must not end the run; say so.
                    log.warning("cpu sample skipped: %s", exc)
