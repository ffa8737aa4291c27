"""CPU of the host, the load generator and every instance, once a second.

A verdict is only as good as its measurement: a run whose host or load
generator was saturated is inconclusive, and these samples are the evidence.
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


class CpuSampler:
    def __init__(self, record: RunWriter, instance_pids: Callable[[], dict[str, int]],
                 generator_pids: Callable[[], Iterable[int]]) -> None:
        self.record = record
        self.instance_pids = instance_pids
        self.generator_pids = generator_pids
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)
        self._procs: dict[int, psutil.Process] = {}

    def start(self) -> None:
        psutil.cpu_percent(None)  # the first call only sets the reference point
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _pct(self, pid: int) -> float:
        """Percent of one core since the last sample (100 = one core busy)."""
        proc = self._procs.get(pid)
        try:
            if proc is None:
                proc = self._procs[pid] = psutil.Process(pid)
                proc.cpu_percent(None)
                return 0.0
            return proc.cpu_percent(None)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            self._procs.pop(pid, None)
            return 0.0

    def _loop(self) -> None:
        with self.record.cpu_log() as out:
            while not self._stop.wait(SAMPLE_INTERVAL_S):
                try:
                    generator = [self._pct(p) for p in self.generator_pids()]
                    instances = {iid: round(self._pct(pid), 1)
                                 for iid, pid in self.instance_pids().items()}
                except (psutil.Error, OSError) as exc:
                    # A process vanishing mid-sample must not end the run; say so.
                    log.warning("cpu sample skipped: %s", exc)
                    continue
                out.write(CpuSample(ts=time.time(), host_pct=psutil.cpu_percent(None),
                                    cores=psutil.cpu_count() or 1,
                                    generator_pct=round(sum(generator), 1),
                                    generator_max_pct=round(max(generator, default=0.0), 1),
                                    instances=instances))
