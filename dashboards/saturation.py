"""Was the measurement sound in every second? Host CPU, load-generator CPU and the
generator's schedule, judged second by second rather than as a window mean.

A window mean hides what matters: a 10 s window at 80 % mean host CPU may hold
two seconds at 100 %, and the requests of those two seconds measured the
machine, not the architecture. So any single second of a judged window in
which the host or the generator was saturated, or in which the generator fell
behind its schedule, is named, and the verdicts resting on it are inconclusive.

Seconds are counted from the load's start `t0`: second k is [t0 + k, t0 + k + 1).
- CPU (cpu.jsonl): a sample covers the `span_s` seconds before its `ts` and
  speaks for the second holding the middle of that span (samples come once a
  second, so each second has about one). The host is saturated in a second when
  its CPU (all cores) reaches `host_pct`; the generator when its busiest process
  reaches `generator_pct` of one core.
- Contention: the host's CPU less what the run's own processes (every instance
  and the generator) used is what other processes took. A host saturated while
  they took `FOREIGN_PCT` or more of it was saturated by them (`CONTENDED`).
- Schedule (open loop, from rows): a request belongs to the second of its
  intended send; the generator is behind in a second when the p95 of that
  second's send lags (ts_send - ts_intended) exceeds `send_lag_ms`. That lag has
  two causes, told apart: the generator itself (its CPU, its event loop), or
  its pool of users all waiting on slow answers (requests in flight at the
  intended sends of that second reached the pool's size): then arrivals wait
  for a free user, or are dropped, because the system under test is slow. The
  first is `LAG`; the second is `POOL`, a problem of its own in a judged window
  (the pool was too small for what was measured) and, in a capacity sweep, a
  symptom of the overload the sweep is looking for.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from records.cpu import INSTANCE_PREFIX

__all__ = [
    "CONTENDED",
    "DEFAULT_SATURATION_PCT",
    "DEFAULT_SEND_LAG_MS",
    "FOREIGN_PCT",
    "GENERATOR",
    "HOST",
    "LAG",
    "POOL",
    "STARVATION_PUSH",
    "SaturationBounds",
    "flagged_seconds",
    "format_seconds",
    "judged_seconds",
    "per_second",
    "saturation_findings",
    "saturation_problems",
]

HOST, GENERATOR, LAG, POOL = "host", "generator", "lag", "pool"
CONTENDED = "contended"
KINDS = (HOST, GENERATOR, LAG, POOL, CONTENDED)
# Percent of all cores that processes outside the run may use in a saturated second
# before the saturation is put on them: the kernel's share of loopback traffic and
# the machine's own daemons stay well under it (a quarter of the host: half a core on 2).
FOREIGN_PCT = 25.0
# In flight at an intended send, out of the pool's users, from which the pool is
# taken as exhausted (with several load processes one may run out before the rest).
POOL_FULL_SHARE = 0.9
DEFAULT_SATURATION_PCT = 95.0
# A generator late by more than this (p95 over a second) adds its own delay to every
# corrected latency of that second; 100 ms is 40 % of the default 250 ms SLO.
DEFAULT_SEND_LAG_MS = 100.0
LAG_QUANTILE = 0.95
MS = 1000.0
# Longest list of seconds written out in a problem; the rest is counted.
LISTED_SECONDS = 12
# A judged second without a CPU sample: saturation cannot be ruled out.
UNSAMPLED = "unsampled"
# Which way a system under test starved of CPU moves a metric: +1 up (slower
# answers, more failures and losses, a later failover or recovery), -1 down (fewer
# answers available). Starvation never makes a service faster or more available,
# so a verdict that starvation could only have pushed the other way stands on a
# saturated host (gatecrash.verdicts). Metrics whose direction depends on the
# architecture (ratio of routes, rejected_ratio, rates, CPU) are not listed.
_LATENCIES = ("p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms", "p50_corrected_ms",
              "p95_corrected_ms", "p99_corrected_ms", "mean_corrected_ms", "ttft_p50_ms",
              "ttft_p95_ms", "tpot_p50_ms")
STARVATION_PUSH: dict[str, int] = {
    "availability": -1, "failure_rate": +1, "failed": +1, "requests_lost": +1,
    "loss_rate": +1, "time_to_failover_s": +1, "time_to_recover_s": +1,
    **dict.fromkeys(_LATENCIES, +1)}


@dataclass(frozen=True)
class SaturationBounds:
    host_pct: float = DEFAULT_SATURATION_PCT
    generator_pct: float = DEFAULT_SATURATION_PCT
    send_lag_ms: float = DEFAULT_SEND_LAG_MS
    # The open-loop pool's users (load.max_users); None: lag is never put on the pool.
    pool: int | None = None


def per_second(cpu: pd.DataFrame, rows: pd.DataFrame | None, t0: float) -> pd.DataFrame:
    """One row per second since `t0` with data: host_pct, generator_pct (busiest
    load process), foreign_pct (the host's CPU not used by the run's processes, % of
    all cores), lag_p95_ms, sent and busy_max (the most requests in flight at an
    intended send; open-loop rows by intended send); NaN where a second has no
    sample or no open-loop row."""
    parts = []
    if not cpu.empty and "span_s" in cpu:
        middle = cpu["ts"].to_numpy() - cpu["span_s"].to_numpy() / 2
        host = cpu["host_pct"].to_numpy(dtype=float)
        own = np.full(len(cpu), np.nan)  # unknown without the run's own figures
        if {"cores", "generator_pct"} <= set(cpu.columns):
            instances = [c for c in cpu.columns if c.startswith(INSTANCE_PREFIX)]
            own = (cpu[instances].fillna(0.0).to_numpy().sum(axis=1)
                   + cpu["generator_pct"].to_numpy(dtype=float)) / cpu["cores"].to_numpy()
        by_cpu = pd.DataFrame({
            "second": np.floor(middle - t0).astype(int),
            "host_pct": host,
            "generator_pct": cpu["generator_max_pct"].to_numpy(dtype=float),
            "foreign_pct": np.clip(host - own, 0.0, None),
        }).groupby("second").max()
        parts.append(by_cpu)
    if rows is not None and not rows.empty and "ts_intended" in rows:
        sent = rows[rows["ts_intended"].notna()]
        if not sent.empty:
            intended = sent["ts_intended"].to_numpy(dtype=float)
            by_second = pd.DataFrame({
                "second": np.floor(intended - t0).astype(int),
                "lag_ms": (sent["ts_send"].to_numpy(dtype=float) - intended) * MS,
                "busy": _in_flight(rows, intended),
            }).groupby("second")
            parts.append(pd.DataFrame({"lag_p95_ms": by_second["lag_ms"].quantile(LAG_QUANTILE),
                                       "sent": by_second.size(),
                                       "busy_max": by_second["busy"].max()}))
    frame = pd.concat(parts, axis=1) if parts else pd.DataFrame()
    for column in ("host_pct", "generator_pct", "foreign_pct", "lag_p95_ms", "sent",
                   "busy_max"):
        if column not in frame:
            frame[column] = math.nan
    return frame.sort_index()


def _in_flight(rows: pd.DataFrame, at: np.ndarray) -> np.ndarray:
    """Requests sent but not yet answered at each instant of `at`."""
    sends = np.sort(rows["ts_send"].to_numpy(dtype=float))
    ends = np.sort(rows["ts_end"].to_numpy(dtype=float))
    return (np.searchsorted(sends, at, side="right")
            - np.searchsorted(ends, at, side="right")).astype(float)


def judged_seconds(spans: Iterable[tuple[float, float]], t0: float) -> list[int]:
    """The seconds since `t0` that belong to any of the half-open spans.

    A CPU sample covers a whole second, so a second belongs to the span holding
    its middle (most of it): a fault window that ends 0.05 s into a second does not
    take on the CPU of what follows it (a killed instance's restart). A span that
    holds no second's middle still has the second it lies in.
    """
    seconds: set[int] = set()
    for start, end in spans:
        if end <= start:
            continue
        first, last = math.ceil(start - t0 - 0.5), math.ceil(end - t0 - 0.5)
        if last <= first:
            first = math.floor((start + end) / 2 - t0)
            last = first + 1
        seconds.update(range(first, last))
    return sorted(seconds)


def flagged_seconds(seconds: pd.DataFrame, judged: Sequence[int],
                    bounds: SaturationBounds) -> dict[str, list[int]]:
    """The judged seconds that break each bound, by kind (HOST, GENERATOR, LAG, POOL,
    and CONTENDED: the host seconds whose saturation other processes caused)."""
    inside = seconds.loc[seconds.index.isin(judged)]
    saturated = inside["host_pct"] >= bounds.host_pct
    late = inside["lag_p95_ms"] > bounds.send_lag_ms
    full = (inside["busy_max"] >= POOL_FULL_SHARE * bounds.pool if bounds.pool
            else pd.Series(False, index=inside.index))
    found = {
        HOST: inside.index[saturated],
        CONTENDED: inside.index[saturated & (inside["foreign_pct"] >= FOREIGN_PCT)],
        GENERATOR: inside.index[inside["generator_pct"] >= bounds.generator_pct],
        LAG: inside.index[late & ~full],
        POOL: inside.index[late & full],
    }
    return {kind: [int(s) for s in found[kind]] for kind in KINDS}


def format_seconds(seconds: Sequence[int]) -> str:
    """`3-5, 9` (runs of consecutive seconds joined), at most LISTED_SECONDS runs."""
    runs: list[list[int]] = []
    for s in sorted(seconds):
        if runs and s == runs[-1][-1] + 1:
            runs[-1].append(s)
        else:
            runs.append([s])
    text = ", ".join(f"{r[0]}" if len(r) == 1 else f"{r[0]}-{r[-1]}"
                     for r in runs[:LISTED_SECONDS])
    return text + (f" and {len(runs) - LISTED_SECONDS} more" if len(runs) > LISTED_SECONDS
                   else "")


def saturation_problems(cpu: pd.DataFrame, rows: pd.DataFrame | None,
                        spans: Iterable[tuple[float, float]], t0: float,
                        bounds: SaturationBounds) -> list[str]:
    """Why the judged spans' seconds cannot be trusted (empty: every second can).

    Names each offending second (since the load started); a run whose CPU was not
    sampled in any judged second cannot show it was unsaturated, and says so.
    """
    return [text for _, text in saturation_findings(cpu, rows, spans, t0, bounds)]


def saturation_findings(cpu: pd.DataFrame, rows: pd.DataFrame | None,
                        spans: Iterable[tuple[float, float]], t0: float,
                        bounds: SaturationBounds) -> list[tuple[str, str]]:
    """`saturation_problems` with the kind of each: HOST, GENERATOR, LAG, POOL or
    UNSAMPLED (a host saturated by others is HOST too: the system was starved all
    the same)."""
    judged = judged_seconds(spans, t0)
    if not judged:
        return []
    seconds = per_second(cpu, rows, t0)
    sampled = seconds.loc[seconds.index.isin(judged), "host_pct"].notna().sum()
    problems = []
    if not sampled:
        problems.append((UNSAMPLED, "no CPU sample covers the judged windows: host and "
                                     "generator saturation cannot be ruled out"))
    flags = flagged_seconds(seconds, judged, bounds)
    of = f"of {len(judged)} judged second(s)"
    if flags[HOST]:
        foreign = seconds.loc[flags[HOST], "foreign_pct"].max()
        others = (f"; processes outside the run used up to {foreign:.0f}% of it then"
                  if flags[CONTENDED] else "")
        problems.append((HOST, f"host CPU saturated (>= {bounds.host_pct:g}% of all cores) "
                                f"in {len(flags[HOST])} {of}: {format_seconds(flags[HOST])} s "
                                f"after load start{others}"))
    if flags[GENERATOR]:
        problems.append((GENERATOR, f"load generator saturated (a load process at >= "
                                     f"{bounds.generator_pct:g}% of a core) in "
                                     f"{len(flags[GENERATOR])} {of}: "
                                     f"{format_seconds(flags[GENERATOR])} s after load start"))
    if flags[LAG]:
        worst = seconds.loc[flags[LAG], "lag_p95_ms"].max()
        problems.append((LAG, f"load generator behind its schedule (p95 send lag > "
                               f"{bounds.send_lag_ms:g} ms, worst {worst:.0f} ms) in "
                               f"{len(flags[LAG])} {of}: {format_seconds(flags[LAG])} s after "
                               "load start"))
    if flags[POOL]:
        problems.append((POOL, f"open-loop pool exhausted (its {bounds.pool} users all "
                                f"waiting on answers, arrivals sent late or dropped) in "
                                f"{len(flags[POOL])} {of}: {format_seconds(flags[POOL])} s "
                                "after load start; raise load.max_users"))
    return problems
