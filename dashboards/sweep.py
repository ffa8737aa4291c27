"""A capacity sweep judged step by step, and its knee (DESIGN.md §5, *capacity*).

A sweep sends open-loop arrivals in constant-rate steps. A request belongs to
the step of its *intended* send (a late generator does not move it to the next
step). Each load process starts its schedule at its first arrival, so a step's
span is taken from that process's earliest intended send.

How a step is judged against the SLO (p95 of latency and availability):
- latency is the corrected one (from the intended send) of its available
  answers; every arrival the step scheduled but that has no row (the generator
  dropped it, or it was still unanswered) counts as slower than the time since
  the step ended, which is always more than the SLO's p95 bound (a step is only
  judged that long after its end; before, it is *cut*);
- p95 comes with its order-statistic interval and availability (available /
  non-rejected) with its Wilson interval, both recorded;
- the step **passes** when both point estimates meet the SLO, and **fails**
  otherwise. The uncertainty of that call is carried by the knee's interval.

The knee: the last passing step before the first two consecutive failing steps.
One failing step followed by a passing one is noise (a neighbour's burst on a
shared host), not the knee. When the sweep ends on a single failing step, the
knee is the last pass before it; when no step fails, it is the last step (the
ceiling: the capacity is at least that), and when no step passed before the
failing pair, the capacity is below the first step.

The capacity estimate: the knee's rate, with a bootstrap interval: the requests
of every judged step are resampled (2000 times, fixed seed) and the knee found
again by the same rule. Resampled in blocks of consecutive requests (the circular
block bootstrap, dashboards.blocks): one host stall delays a run of requests
together, and must weigh as one event, not as many. Low end: the 2.5 % quantile
of those knees; high end: the 97.5 % quantile plus one step (the true knee lies
below the next step), or +inf when nothing bounds it from above: no step failed,
or the first failing step had its generator saturated or behind schedule in some
second (then that failure may be the generator's). A generator whose pool of users is all waiting
on slow answers is not behind by its own fault: that is the overload itself
(dashboards.saturation, `POOL`), and its late or dropped arrivals count against
the step. Host saturation is recorded per step but does not void a step: one
host running the architecture and its generator is what a sweep on one machine
measures, and its CPU limit is a legitimate knee. Not so when processes outside
the run saturated it (`CONTENDED`): a first failing step with such a second
leaves the capacity open above, like a generator-bound one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboards.blocks import block_bootstrap_estimate
from dashboards.intervals import (
    DEFAULT_CONFIDENCE,
    Estimate,
    proportion,
    quantile,
)
from dashboards.outcomes import prepare_rows
from dashboards.resources import component_loads
from dashboards.saturation import (
    CONTENDED,
    GENERATOR,
    HOST,
    LAG,
    SaturationBounds,
    flagged_seconds,
    judged_seconds,
    per_second,
)
from records.capacity import CapacityRecord, GeneratorLag, Interval, Slo, SweepStep

__all__ = ["Knee", "SweepPlan", "capacity_estimate", "find_knee", "judge_sweep",
           "step_outcomes"]

P95 = 0.95
MS = 1000.0
# Float slack when placing an intended send on a step boundary.
EPS = 1e-6
STEP_METHOD = ("circular block bootstrap over each step's requests in time order, "
               "knee rule re-applied")


@dataclass(frozen=True)
class SweepPlan:
    """The steps as scheduled: each step's rate (req/s), their common length, the
    rise from one to the next (the sweep's resolution), and the warm-up before the
    first step (at its rate, not judged)."""

    rates: tuple[float, ...]
    step_s: float
    step_rps: float
    warmup_s: float = 0.0

    def offset(self, k: int) -> float:
        """Seconds from the schedule's start to step k's."""
        return self.warmup_s + k * self.step_s

    def scheduled(self, k: int) -> int:
        """Arrivals due in step k (half-open, as the generator's schedule counts them)."""
        before = self.rates[0] * self.warmup_s + sum(self.rates[:k]) * self.step_s
        return math.ceil(before + self.rates[k] * self.step_s - EPS) - math.ceil(before - EPS)


@dataclass(frozen=True)
class Knee:
    index: int | None  # the knee step; None when no step passed before the failure
    first_fail: int | None  # the first step of the failure that decided it
    decided: bool  # nothing to come can change it: the sweep may stop
    reason: str


def find_knee(passed: Sequence[bool], complete: bool) -> Knee:
    """The knee rule (module doc) over the judged steps in order; `complete`: no
    further step will be judged (the ceiling was reached or the sweep stopped)."""
    last_pass: int | None = None
    for i, ok in enumerate(passed):
        if ok:
            last_pass = i
        elif i + 1 < len(passed) and not passed[i + 1]:
            return Knee(last_pass, i, True, f"steps {i} and {i + 1} failed in a row")
        elif i + 1 == len(passed):
            if complete:
                return Knee(last_pass, i, True, f"the last step ({i}) failed")
            return Knee(last_pass, i, False, f"step {i} failed; the next one decides")
    if complete:
        return Knee(last_pass, None, True, "no step failed: the ceiling was reached")
    return Knee(last_pass, None, False, "no step failed yet")


@dataclass
class _Step:
    index: int
    rate: float
    start: float
    end: float
    scheduled: int
    rows: pd.DataFrame
    # One unit per arrival: its corrected latency when available (NaN otherwise),
    # whether it was available, and whether it counts for availability.
    latency: np.ndarray
    ok: np.ndarray
    counted: np.ndarray

    @property
    def missing(self) -> int:
        return max(self.scheduled - len(self.rows), 0)


def _units(rows: pd.DataFrame, missing: int, censor_ms: float) -> tuple[np.ndarray, ...]:
    available = rows["available"].to_numpy(bool)
    latency = np.where(available, rows["corrected_ms"].to_numpy(float), np.nan)
    return (np.concatenate([latency, np.full(missing, censor_ms)]),
            np.concatenate([available, np.zeros(missing, bool)]),
            np.concatenate([~rows["rejected"].to_numpy(bool), np.zeros(missing, bool)]))


def _steps(rows: pd.DataFrame, plan: SweepPlan, judged_at: float,
           sent_until: float) -> list[_Step]:
    """Every step that started before the load stopped sending, with its rows (by
    intended send); its missing arrivals are censored at the time since its end."""
    prepared = prepare_rows(rows)
    prepared = prepared[prepared["ts_intended"].notna()]
    if prepared.empty:
        return []
    # Each load process's schedule starts at its own first arrival.
    origin_of = prepared.groupby("worker")["ts_intended"].transform("min").to_numpy(float)
    origin = float(prepared["ts_intended"].min())
    offset = prepared["ts_intended"].to_numpy(float) - origin_of - plan.warmup_s
    step_of = np.floor(offset / plan.step_s + EPS).astype(int)  # the warm-up: < 0
    steps = []
    for k, rate in enumerate(plan.rates):
        start, end = origin + plan.offset(k), origin + plan.offset(k + 1)
        if start >= sent_until:
            break
        # In time order: the knee's interval resamples runs of consecutive requests.
        mine = prepared[step_of == k].sort_values("ts_intended", kind="stable")
        scheduled = plan.scheduled(k)
        censor = max((judged_at - end) * MS, 0.0)
        latency, ok, counted = _units(mine, max(scheduled - len(mine), 0), censor)
        steps.append(_Step(k, rate, start, end, scheduled, mine, latency, ok, counted))
    return steps


def _p95(latency: np.ndarray) -> float:
    known = latency[~np.isnan(latency)]
    return float(np.quantile(known, P95)) if known.size else math.nan


def _row_p95(values: np.ndarray) -> np.ndarray:
    """np.quantile's linear p95 of each row, NaN left out (numpy's nanquantile over an
    axis loops in Python: 2000 resamples took seconds)."""
    ordered = np.sort(values, axis=-1)  # NaN sort last
    known = (~np.isnan(values)).sum(axis=-1)
    position = np.maximum(known - 1, 0) * P95
    below = np.floor(position).astype(int)[..., None]
    above = np.ceil(position).astype(int)[..., None]
    low = np.take_along_axis(ordered, below, axis=-1)[..., 0]
    high = np.take_along_axis(ordered, above, axis=-1)[..., 0]
    return np.where(known > 0, low + (high - low) * (position - below[..., 0]), np.nan)


def _availability(ok: np.ndarray, counted: np.ndarray) -> float:
    total = counted.sum()
    return float(ok.sum() / total) if total else math.nan


def _passes(p95: float, availability: float, slo: Slo) -> bool:
    # NaN (no answer at all) compares False: a step that served nothing fails.
    return p95 <= slo.p95_ms and availability >= slo.availability


def _judgeable(steps: list[_Step], settle_s: float, judged_at: float,
               sent_until: float) -> list[_Step]:
    """Steps whose every arrival was due before the load stopped sending, and whose
    end is `settle_s` old: the others are cut."""
    return [s for s in steps if s.end <= sent_until + EPS and s.end + settle_s <= judged_at]


def step_outcomes(rows: pd.DataFrame, plan: SweepPlan, slo: Slo, judged_at: float,
                  settle_s: float) -> list[bool]:
    """Pass (True) or fail of each step judgeable at `judged_at` (points only, cheap:
    what a running sweep checks to know when to stop)."""
    steps = _judgeable(_steps(rows, plan, judged_at, judged_at), settle_s, judged_at,
                       judged_at)
    return [_passes(_p95(s.latency), _availability(s.ok, s.counted), slo) for s in steps]


def _interval(estimate: Estimate) -> Interval:
    return Interval(value=estimate.value, low=estimate.low, high=estimate.high, n=estimate.n,
                    method=estimate.method, confidence=estimate.confidence)


def _lag(step: _Step, bound_ms: float) -> GeneratorLag:
    lag = (step.rows["ts_send"].to_numpy(float) - step.rows["ts_intended"].to_numpy(float)) * MS
    if not lag.size:
        return GeneratorLag(p50_ms=math.nan, p95_ms=math.nan, max_ms=math.nan, late=0,
                            missing=step.missing)
    return GeneratorLag(p50_ms=round(float(np.quantile(lag, 0.5)), 1),
                        p95_ms=round(float(np.quantile(lag, P95)), 1),
                        max_ms=round(float(lag.max()), 1), late=int((lag > bound_ms).sum()),
                        missing=step.missing)


def _unsound(step: SweepStep) -> bool:
    """The step may have failed for the generator's or the neighbours' sake."""
    return bool(step.generator_bound_s or step.contended_s)


def _open_above(knee: Knee, steps: Sequence[SweepStep]) -> bool:
    """Nothing bounds the capacity from above: no step failed, or the first failing
    step may have failed for another reason than the architecture."""
    return knee.first_fail is None or _unsound(steps[knee.first_fail])


def _own_seconds(step: _Step, t0: float) -> list[int]:
    """The seconds (since `t0`) mostly inside the step: a neighbour's overloaded
    second must not be held against it."""
    overlapping = judged_seconds([(step.start, step.end)], t0)
    own = [k for k in overlapping if step.start <= t0 + k + 0.5 < step.end]
    return own or overlapping


def _knee_rate(knee: Knee, plan: SweepPlan) -> float:
    return plan.rates[knee.index] if knee.index is not None else 0.0


def _capacity(steps: list[_Step], plan: SweepPlan, slo: Slo, knee: Knee,
              open_above: bool, confidence: float) -> Estimate:
    resampled = [s for s in steps if s.latency.size >= 2]  # one unit has no spread
    fixed = {s.index: _passes(_p95(s.latency), _availability(s.ok, s.counted), slo)
             for s in steps if s.latency.size < 2}

    def knee_of(*picks: np.ndarray, axis: int = -1) -> np.ndarray | float:
        """The knee of each resample (picks: resamples x units, one array per step;
        one 1-d pick per step: the point itself)."""
        passed: dict[int, np.ndarray] = {}
        for s, pick in zip(resampled, picks, strict=True):
            pick = np.atleast_2d(pick)
            latency = s.latency[pick]
            total = s.counted[pick].sum(axis=-1)
            availability = np.where(total > 0, s.ok[pick].sum(axis=-1) / np.maximum(total, 1),
                                    np.nan)
            with np.errstate(invalid="ignore"):  # NaN (nothing served) compares False
                passed[s.index] = ((_row_p95(latency) <= slo.p95_ms)
                                   & (availability >= slo.availability))
        count = next(iter(passed.values())).shape[0]
        knees = np.array([
            _knee_rate(find_knee([bool(passed[s.index][b]) if s.index in passed
                                  else fixed[s.index] for s in steps], complete=True), plan)
            for b in range(count)])
        return float(knees[0]) if picks[0].ndim == 1 else knees

    n = int(sum(s.latency.size for s in steps))
    value = _knee_rate(knee, plan)
    low = high = value
    if resampled:
        boot = block_bootstrap_estimate([s.latency for s in resampled], knee_of, confidence)
        low = boot.low if math.isfinite(boot.low) else value
        high = boot.high if math.isfinite(boot.high) else value
    high = math.inf if open_above else high + plan.step_rps
    return Estimate(value, max(low, 0.0), high, n, STEP_METHOD, confidence)


def judge_sweep(rows: pd.DataFrame, cpu: pd.DataFrame, *, arch: str, t0: float,
                plan: SweepPlan, slo: Slo, judged_at: float, sent_until: float | None = None,
                complete: bool = True, bounds: SaturationBounds | None = None,
                settle_s: float | None = None, ended: str = "",
                confidence: float = DEFAULT_CONFIDENCE) -> CapacityRecord:
    """Every step started before `sent_until` (when the load stopped sending; default
    `judged_at`), judged unless it ended after that or within `settle_s` of
    `judged_at` (then cut); the knee and the capacity estimate. `t0`: the load's
    start (names the seconds); `complete`: the sweep is over (no further step will
    come); `ended`: why."""
    bounds = bounds or SaturationBounds()
    settle_s = slo.p95_ms / MS if settle_s is None else settle_s
    sent_until = judged_at if sent_until is None else sent_until
    steps = _steps(rows, plan, judged_at, sent_until)
    judged = _judgeable(steps, settle_s, judged_at, sent_until)
    judged_ids = {s.index for s in judged}
    seconds = per_second(cpu, rows, t0)
    records = []
    passed = []
    for s in steps:
        p95 = quantile(s.latency, P95, confidence)
        availability = proportion(int(s.ok.sum()), int(s.counted.sum()), confidence)
        ok = _passes(p95.value, availability.value, slo)
        if s.index in judged_ids:
            passed.append(ok)
        own = _own_seconds(s, t0)
        flags = flagged_seconds(seconds, own, bounds)
        inside = seconds.loc[seconds.index.isin(own)]
        detail = (f"p95 {p95.value:.0f} ms ({'<=' if p95.value <= slo.p95_ms else '>'} "
                  f"{slo.p95_ms:g}), availability {availability.value:.4g} "
                  f"({'>=' if availability.value >= slo.availability else '<'} "
                  f"{slo.availability:g})")
        if s.missing:
            detail += f"; {s.missing} arrival(s) with no answer counted as over the bound"
        records.append(SweepStep(
            index=s.index, rate_rps=s.rate, start=s.start, end=s.end, scheduled=s.scheduled,
            sent=len(s.rows), p95_corrected_ms=_interval(p95),
            availability=_interval(availability),
            outcome=("pass" if ok else "fail") if s.index in judged_ids else "cut",
            detail=detail,
            lag=_lag(s, bounds.send_lag_ms),
            host_max_pct=float(inside["host_pct"].max()) if len(inside) else math.nan,
            generator_max_pct=float(inside["generator_pct"].max()) if len(inside) else math.nan,
            generator_bound_s=sorted(set(flags[GENERATOR]) | set(flags[LAG])),
            host_saturated_s=flags[HOST], contended_s=flags[CONTENDED],
            components=component_loads(cpu, rows, (s.start, s.end))))
    knee = find_knee(passed, complete=complete or len(judged) == len(plan.rates))
    notes = []
    open_above = _open_above(knee, records)
    if knee.first_fail is None and judged:
        notes.append(f"no step failed up to {judged[-1].rate:g} req/s: the capacity is at "
                     "least that; raise the ceiling (rate_max) to find the knee")
    first_fail = records[knee.first_fail] if knee.first_fail is not None else None
    if first_fail is not None and first_fail.generator_bound_s:
        notes.append(f"the first failing step ({first_fail.rate_rps:g} req/s) had the "
                     "generator saturated or behind its schedule in second(s) "
                     f"{first_fail.generator_bound_s} after load start: its "
                     "failure may be the generator's, so the capacity is only bounded below")
    if first_fail is not None and first_fail.contended_s:
        notes.append(f"the first failing step ({first_fail.rate_rps:g} req/s) had the host "
                     "saturated by processes outside the run in second(s) "
                     f"{first_fail.contended_s} after load start: its failure may be theirs, "
                     "so the capacity is only bounded below; measure on a quieter host")
    if knee.index is None and knee.first_fail is not None and not open_above:
        notes.append(f"no step passed before the failure: the capacity is below "
                     f"{plan.rates[0]:g} req/s; start the sweep lower")
    capacity = _capacity(judged, plan, slo, knee, open_above, confidence) if judged else \
        Estimate(math.nan, -math.inf, math.inf, 0, STEP_METHOD, confidence)
    return CapacityRecord(
        arch=arch, slo=slo, step_rps=plan.step_rps, step_s=plan.step_s,
        warmup_s=plan.warmup_s, judged_at=judged_at, sent_until=sent_until, steps=records,
        knee_step=knee.index, knee_rps=_knee_rate(knee, plan) if knee.index is not None
        else None, capacity=_interval(capacity), ended=ended or knee.reason, notes=notes)


def capacity_estimate(rows: pd.DataFrame, record: CapacityRecord,
                      confidence: float = DEFAULT_CONFIDENCE, *,
                      recompute: bool = False) -> Estimate:
    """A judged sweep's capacity again, at another confidence, from its rows (the
    steps, their outcomes and the generator's seconds as `record` has them).

    At the record's own confidence it is the record's interval: the same rows and
    seed give the same resamples, and resampling a sweep's steps costs ~1 s of CPU
    (`recompute`: resample anyway)."""
    if not recompute and confidence == record.capacity.confidence:
        c = record.capacity
        return Estimate(c.value, c.low, c.high, c.n, c.method, c.confidence)
    judged = [s for s in record.steps if s.outcome != "cut"]
    if not judged:
        return Estimate(math.nan, -math.inf, math.inf, 0, STEP_METHOD, confidence)
    plan = SweepPlan(tuple(s.rate_rps for s in record.steps), record.step_s, record.step_rps,
                     record.warmup_s)
    steps = _steps(rows, plan, record.judged_at, record.sent_until)[:len(judged)]
    knee = find_knee([s.outcome == "pass" for s in judged], complete=True)
    return _capacity(steps, plan, record.slo, knee, _open_above(knee, record.steps), confidence)
