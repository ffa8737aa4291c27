"""A sweep run: what an experiment run does differently when its load is a sweep.

While it runs, `SweepRun.check` judges each step once its rows are in (it reads
the rows only then, and only the parts it has not read) and stops the load as
soon as the knee is decided, so the architecture is not driven far past it.
When it is over, `SweepRun.finish` judges every step again on all the rows
(dashboards.sweep: the step rule, the knee rule, the interval), writes
capacity.json, and gives the run's baseline window: the steps up to the knee,
where what the architecture costs below its capacity is measured
(`cpu_ms_per_request@baseline`).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from dashboards.saturation import SaturationBounds
from dashboards.sweep import SweepPlan, find_knee, judge_sweep, step_outcomes
from gatecrash.errors import GatecrashError
from loadtests.spec import LoadSpec, SweepSteps
from records import CapacityRecord, RowsFollower, RunWindows, RunWriter, Slo

__all__ = ["SweepRun", "pool_size", "sweep_plan"]

# The open-loop pool: enough users that the ceiling's rate could run at half a second
# of latency each (twice the default SLO's p95) before arrivals wait for a free user.
POOL_LATENCY_S = 0.5
MIN_POOL = 50
MAX_POOL = 1000
# The load processes flush their rows about once a second: a running sweep judges
# a step only this long (plus the SLO's bound) after its end, with its rows on disk.
ROWS_FLUSH_S = 1.5
CHECK_EVERY_S = 1.0


def sweep_plan(spec: LoadSpec) -> SweepPlan:
    if spec.sweep is None:
        raise GatecrashError(f"a {spec.mode} load has no sweep steps")
    return SweepPlan(tuple(spec.sweep.rates()), spec.sweep.step_s, spec.sweep.step_rps,
                     spec.sweep.warmup_s)


def pool_size(sweep: SweepSteps) -> int:
    return min(max(math.ceil(sweep.rate_max * POOL_LATENCY_S), MIN_POOL), MAX_POOL)


class SweepRun:
    """What a run does differently when its load is a sweep (see the module doc)."""

    def __init__(self, spec: LoadSpec, slo: Slo, run_dir: Path) -> None:
        self.plan = sweep_plan(spec)
        self.pool = spec.max_users
        self.slo = slo
        self.settle_s = slo.p95_ms / 1000 + ROWS_FLUSH_S
        self.stopped: str | None = None
        self.stopped_at: float | None = None
        self.record: CapacityRecord | None = None
        self._next_check = 0.0
        self._judged = 0
        self._rows = RowsFollower(run_dir)
        # When the next step can be judged (its end plus settle_s), once the first
        # rows have placed the schedule; reading before then cannot move the knee.
        self._next_due = 0.0

    @classmethod
    def of(cls, spec: LoadSpec, slo: Slo, run_dir: Path) -> SweepRun | None:
        """The sweep of a `sweep` load, else None."""
        return cls(spec, slo, run_dir) if spec.mode == "sweep" else None

    def check(self, now: float) -> str | None:
        """Why the sweep should stop now (its knee is decided), else None; cheap
        between steps (rows are read only when a new step can be judged)."""
        if now < self._next_check or now < self._next_due:
            return None
        self._next_check = now + CHECK_EVERY_S
        rows = self._rows.read()
        if rows.empty:
            return None
        passed = step_outcomes(rows, self.plan, self.slo, now, self.settle_s)
        # The schedule starts at the first arrival (dashboards.sweep places steps so).
        origin = float(rows["ts_intended"].min())
        self._next_due = origin + self.plan.offset(len(passed) + 1) + self.settle_s
        if len(passed) == self._judged:
            return None
        self._judged = len(passed)
        knee = find_knee(passed, complete=False)
        if knee.decided:
            self.stopped = f"knee found ({knee.reason}), sweep stopped"
            self.stopped_at = now
        return self.stopped

    def finish(self, writer: RunWriter, arch: str, rows: pd.DataFrame, cpu: pd.DataFrame,
               t0: float, load_end: float) -> RunWindows:
        """Judge every step on all the rows, write capacity.json; the windows to judge
        the hypotheses on (baseline: the steps up to the knee)."""
        ended = self.stopped or "the sweep's schedule ended"
        record = judge_sweep(rows, cpu, arch=arch, t0=t0, plan=self.plan, slo=self.slo,
                             judged_at=load_end, sent_until=self.stopped_at or load_end,
                             complete=True, ended=ended,
                             bounds=SaturationBounds(pool=self.pool))
        writer.write_capacity(record)
        self.record = record
        if not record.steps:
            return RunWindows(baseline=(t0, t0))
        start = record.steps[0].start
        end = record.steps[record.knee_step].end if record.knee_step is not None else start
        return RunWindows(baseline=(start, end))
