"""CPU and memory of the host, the load generator and every instance, once a second.

A verdict is only as good as its measurement: a run whose host or load
generator was saturated in any second is inconclusive (dashboards.saturation),
and these samples are the evidence. They also give what each component costs
(CPU-ms and resident memory per request, dashboards.resources).

Samples follow a fixed one-second grid from `start` (no drift from the time a
sample takes), and each says how long a span its percents cover.
"""

from __future__ import annotations

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


class _Usage:
    """Percent of one core since the previous call, and resident memory, per process
    tree: an instance's program and every process under it (NGINX's worker under
    its master, a container's program under its init), so a product that works in
    child processes is not measured as idle."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}
        self._seen: set[int] = set()

    def _process(self, pid: int) -> tuple[psutil.Process, bool]:
        proc = self._procs.get(pid)
        if proc is None:
            proc = self._procs[pid] = psutil.Process(pid)
            proc.cpu_percent(None)  # the first call only sets the reference point
            return proc, True
        return proc, False

    def of(self, pid: int) -> tuple[float, float]:
        """One process alone (a load generator's worker: each is listed itself)."""
        self._seen.add(pid)
        try:
            proc, new = self._process(pid)
            return 0.0 if new else proc.cpu_percent(None), proc.memory_info().rss / MIB
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            self._procs.pop(pid, None)
            return 0.0, 0.0

    def of_tree(self, pid: int) -> tuple[float, float]:
        """A process and all its descendants, summed. Resident memory is summed too,
        so pages the tree shares (a forked worker's) count once per process."""
        try:
            children = [c.pid for c in psutil.Process(pid).children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            self._procs.pop(pid, None)
            return 0.0, 0.0
        usage = [self.of(p) for p in (pid, *children)]
        return sum(pct for pct, _ in usage), sum(mb for _, mb in usage)

    def end_sample(self) -> None:
        """Drop processes not seen in this sample (ended children, killed instances)."""
        for pid in set(self._procs) - self._seen:
            del self._procs[pid]
        self._seen = set()


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
        self._last = time.time()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _sample(self) -> CpuSample:
        generator = [self._usage.of(p) for p in self.generator_pids()]
        instances = {iid: self._usage.of_tree(pid)
                     for iid, pid in self.instance_pids().items()}
        self._usage.end_sample()
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
