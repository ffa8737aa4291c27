"""Open-loop rows and CPU samples for the saturation, sweep and resources tests,
written and read back by the real run-record writer and reader."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from records import COLUMNS, CpuSample, RunMeta, RunRecord, RunWriter, read_run
from records.rows import rows_table

__all__ = ["T0", "Seconds", "Segment", "write_run"]

T0 = 1_700_000_000.0


@dataclass(frozen=True)
class Segment:
    """Arrivals due evenly at `rate` req/s in [start, end) s after T0, all alike."""

    start: float
    end: float
    rate: float
    latency_ms: float = 20.0
    lag_ms: float = 1.0
    status: int = 200
    # Every `slow_every`-th request takes `slow_ms` instead (a tail).
    slow_every: int = 0
    slow_ms: float = 0.0


@dataclass
class Seconds:
    """CPU samples, one a second over [0, seconds), each covering the second before it."""

    seconds: int
    host_pct: float = 40.0
    generator_pct: float = 20.0
    instances: dict[str, float] = field(default_factory=lambda: {"gateway-1": 30.0})
    rss_mb: dict[str, float] = field(default_factory=lambda: {"gateway-1": 80.0})
    # second -> (host_pct, generator_max_pct) overrides
    busy: dict[int, tuple[float, float]] = field(default_factory=dict)
    # second -> {instance: pct} overrides
    load: dict[int, dict[str, float]] = field(default_factory=dict)

    def samples(self) -> list[CpuSample]:
        out = []
        for s in range(self.seconds):
            host, gen = self.busy.get(s, (self.host_pct, self.generator_pct))
            out.append(CpuSample(ts=T0 + s + 1, span_s=1.0, host_pct=host, cores=2,
                                 generator_pct=gen, generator_max_pct=gen,
                                 generator_rss_mb=50.0,
                                 instances=self.load.get(s, self.instances),
                                 rss_mb=self.rss_mb))
        return out


def _row(intended: float, seg: Segment, slow: bool) -> dict[str, Any]:
    send = intended + seg.lag_ms / 1000
    latency = seg.slow_ms if slow else seg.latency_ms
    end = send + latency / 1000
    ok = 200 <= seg.status < 300
    return {"ts_send": send, "ts_intended": intended, "ts_end": end, "latency_ms": latency,
            "latency_corrected_ms": (end - intended) * 1000, "status": seg.status,
            "error_kind": None if ok else "http_5xx", "domain": "identity",
            "endpoint": "identity.profile", "method": "GET", "route": "primary",
            "instance": "auth-1", "gateway": "gateway-1", "entry": None, "failover": False,
            "stream": False,
            "ttft_ms": None, "tpot_ms": None, "itl_mean_ms": None, "itl_max_ms": None,
            "e2e_ms": None, "tokens_out": None, "response_bytes": 10, "worker": "w1"}


def write_run(folder: Path, segments: list[Segment], cpu: Seconds | None = None,
              mode: str = "open") -> RunRecord:
    rows = []
    for seg in segments:
        count = round((seg.end - seg.start) * seg.rate)
        for i, due in enumerate(T0 + seg.start + np.arange(count) / seg.rate):
            rows.append(_row(float(due), seg, bool(seg.slow_every) and
                             (i % seg.slow_every == seg.slow_every - 1)))
    writer = RunWriter.create(folder, RunMeta(run_id=folder.name, experiment="t", claim="c",
                                              arch="single", seed=1, load_mode=mode,  # type: ignore[arg-type]
                                              started=T0, t0=T0))
    if rows:
        writer.write_rows(rows_table([tuple(r[c] for c in COLUMNS) for r in rows]), "w1")
    if cpu is not None:
        with writer.cpu_log() as log:
            for sample in cpu.samples():
                log.write(sample)
    return read_run(folder)
