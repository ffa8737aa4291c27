"""The knee rule, and sweeps judged step by step on writer-made rows and samples."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dashboards.sweep import SweepPlan, capacity_estimate, find_knee, judge_sweep, step_outcomes
from records import CapacityRecord, RunRecord, Slo
from tests.dashboards.sweeprows import T0, Seconds, Segment, write_run

PLAN = SweepPlan(rates=(20.0, 40.0, 60.0, 80.0, 100.0), step_s=2.0, step_rps=20.0)
SLO = Slo()  # p95 <= 250 ms, availability >= 0.99
END = T0 + 11


def steps(*segments: Segment) -> list[Segment]:
    return list(segments)


def healthy(k: int, **kw: float) -> Segment:
    return Segment(2 * k, 2 * k + 2, PLAN.rates[k], **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("passed", "complete", "knee", "first_fail", "decided"), [
    ([True, True, True, False, False], False, 2, 3, True),
    ([True, False, True, True, False, False], False, 3, 4, True),  # one failing step is noise
    ([True, True, False], False, 1, 2, False),  # the next step decides
    ([True, True, False], True, 1, 2, True),  # the sweep ended on it
    ([False, False], False, None, 0, True),  # below the first step
    ([True, True, True], True, 2, None, True),  # the ceiling
    ([True, False, True], True, 2, None, True),
    ([], False, None, None, False),
])
def test_knee_rule(passed: list[bool], complete: bool, knee: int | None,
                   first_fail: int | None, decided: bool) -> None:
    found = find_knee(passed, complete)
    assert (found.index, found.first_fail, found.decided) == (knee, first_fail, decided)


def test_plan_counts_arrivals_like_the_schedule() -> None:
    assert [PLAN.scheduled(k) for k in range(5)] == [40, 80, 120, 160, 200]
    odd = SweepPlan(rates=(2.5, 5.0), step_s=1.0, step_rps=2.5)
    assert [odd.scheduled(0), odd.scheduled(1)] == [3, 5]  # arrivals at 0, .4, .8 | 1.2 ...


def test_a_clear_knee(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", steps(
        healthy(0), healthy(1), healthy(2),
        healthy(3, slow_every=5, slow_ms=600), healthy(4, latency_ms=800)), Seconds(10))
    record = judge_sweep(run.rows, run.cpu, arch="single", t0=T0, plan=PLAN, slo=SLO,
                         judged_at=END)
    assert [s.outcome for s in record.steps] == ["pass", "pass", "pass", "fail", "fail"]
    assert (record.knee_step, record.knee_rps) == (2, 60.0)
    # Every resample keeps the same knee; the true one lies below the next step.
    assert (record.capacity.value, record.capacity.low, record.capacity.high) == (60, 60, 80)
    assert record.capacity.n == 600 and record.notes == []
    knee = record.steps[2]
    assert knee.p95_corrected_ms.value == pytest.approx(21.0, abs=0.01)
    assert knee.availability.value == 1.0 and knee.availability.low < 0.99  # n=120
    assert knee.lag.p50_ms == 1.0 and knee.lag.missing == 0
    gateway = next(c for c in knee.components if c.component == "gateway")
    assert gateway.cpu_ms_per_request == pytest.approx(5.0)  # 30 % of a core at 60 req/s
    assert record.steps[3].detail.startswith("p95 601 ms (> 250)")


def borderline(tmp_path: Path) -> tuple[RunRecord, CapacityRecord]:
    """Step 2: 6 % of requests at 400 ms: its p95 is over the bound, but resamples can
    pass it; step 1: 4 % slow: passes, but resamples can fail it."""
    run = write_run(tmp_path / "r", steps(
        healthy(0), healthy(1, slow_every=25, slow_ms=400),
        healthy(2, slow_every=16, slow_ms=400), healthy(3, latency_ms=900),
        healthy(4, latency_ms=900)), Seconds(10))
    return run, judge_sweep(run.rows, run.cpu, arch="single", t0=T0, plan=PLAN, slo=SLO,
                            judged_at=END)


def test_a_borderline_step_widens_the_interval(tmp_path: Path) -> None:
    _, record = borderline(tmp_path)
    assert [s.outcome for s in record.steps] == ["pass", "pass", "fail", "fail", "fail"]
    assert record.knee_rps == 40.0
    assert record.capacity.low == 20.0 and record.capacity.high == 80.0


def test_unanswered_arrivals_count_as_too_slow(tmp_path: Path) -> None:
    # Step 3 serves only half its arrivals, fast: the other half never got an answer.
    run = write_run(tmp_path / "r", steps(
        healthy(0), healthy(1), healthy(2), Segment(6, 8, 40), Segment(8, 10, 50)), Seconds(10))
    record = judge_sweep(run.rows, run.cpu, arch="single", t0=T0, plan=PLAN, slo=SLO,
                         judged_at=END)
    third = record.steps[3]
    assert (third.scheduled, third.sent, third.lag.missing, third.outcome) == \
        (160, 80, 80, "fail")
    assert third.p95_corrected_ms.value == pytest.approx(3000.0)  # 3 s since the step ended
    assert record.knee_rps == 60.0


def test_a_generator_bound_failure_leaves_the_capacity_open_above(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", steps(
        healthy(0), healthy(1), healthy(2), healthy(3, latency_ms=500, lag_ms=300),
        healthy(4, latency_ms=500)), Seconds(10, busy={7: (99.0, 99.0)}))
    record = judge_sweep(run.rows, run.cpu, arch="single", t0=T0, plan=PLAN, slo=SLO,
                         judged_at=END)
    assert record.knee_rps == 60.0
    assert record.steps[3].generator_bound_s == [6, 7] and record.steps[3].host_saturated_s == [7]
    assert (record.capacity.low, record.capacity.high) == (60.0, math.inf)
    assert "may be the generator's" in record.notes[0]


def test_steps_too_recent_are_cut_and_the_ceiling_leaves_it_open(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", steps(*(healthy(k) for k in range(5))), Seconds(10))
    # At T0 + 8.1, step 3 (ended at 8) is not yet 250 ms old: cut, not judged.
    live = judge_sweep(run.rows, run.cpu, arch="single", t0=T0, plan=PLAN, slo=SLO,
                       judged_at=T0 + 8.1, complete=False)
    assert [s.outcome for s in live.steps] == ["pass", "pass", "pass", "cut", "cut"]
    assert step_outcomes(run.rows, PLAN, SLO, T0 + 8.1, settle_s=0.25) == [True] * 3
    final = judge_sweep(run.rows, run.cpu, arch="single", t0=T0, plan=PLAN, slo=SLO,
                        judged_at=END)
    assert final.knee_rps == 100.0 and final.capacity.high == math.inf
    assert "raise the ceiling" in final.notes[0]


def test_no_step_passed(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", steps(healthy(0, status=503), healthy(1, status=503)),
                    Seconds(4))
    record = judge_sweep(run.rows, run.cpu, arch="dual", t0=T0, plan=PLAN, slo=SLO,
                         judged_at=T0 + 5)
    assert record.knee_step is None and record.capacity.value == 0.0
    assert record.capacity.high == 20.0 and "below 20 req/s" in record.notes[0]


def test_the_warm_up_is_not_judged_and_the_sent_window_cuts(tmp_path: Path) -> None:
    warm = SweepPlan(rates=(20.0, 40.0, 60.0), step_s=2.0, step_rps=20.0, warmup_s=1.0)
    assert [warm.scheduled(k) for k in range(3)] == [40, 80, 120]
    # The warm-up (first second) is slow: a cold stack. Steps start at T0 + 1.
    run = write_run(tmp_path / "r", steps(
        Segment(0, 1, 20, latency_ms=900), Segment(1, 3, 20), Segment(3, 5, 40),
        Segment(5, 7, 60)), Seconds(8))
    record = judge_sweep(run.rows, run.cpu, arch="single", t0=T0, plan=warm, slo=SLO,
                         judged_at=T0 + 9)
    assert [(s.outcome, s.sent) for s in record.steps] == [("pass", 40), ("pass", 80),
                                                           ("pass", 120)]
    # The load stopped sending at T0 + 7: step 3 (T0 + 6 to 8) is cut, nothing after it.
    run = write_run(tmp_path / "s", steps(*(healthy(k) for k in range(5))), Seconds(10))
    stopped = judge_sweep(run.rows, run.cpu, arch="single", t0=T0, plan=PLAN, slo=SLO,
                          judged_at=END, sent_until=T0 + 7)
    assert [s.outcome for s in stopped.steps] == ["pass", "pass", "pass", "cut"]


def test_the_capacity_again_at_another_confidence(tmp_path: Path) -> None:
    run, record = borderline(tmp_path)
    again = capacity_estimate(run.rows, record, recompute=True)
    assert (again.value, again.low, again.high) == (record.capacity.value,
                                                    record.capacity.low, record.capacity.high)
    # At the record's confidence the record is the answer: no rows needed.
    kept = capacity_estimate(run.rows.iloc[:0], record)
    assert (kept.value, kept.low, kept.high, kept.n, kept.method) == (
        again.value, again.low, again.high, again.n, again.method)
    narrow = capacity_estimate(run.rows, record, confidence=0.5)
    assert narrow.confidence == 0.5 and narrow.low >= again.low


def test_a_sweep_in_its_run_report(tmp_path: Path) -> None:
    from dashboards.report import render_run_report
    from records import RunWriter, read_run

    run = write_run(tmp_path / "r", steps(
        healthy(0), healthy(1), healthy(2), healthy(3, latency_ms=700),
        healthy(4, latency_ms=800)), Seconds(10), mode="sweep")
    RunWriter(run.path).write_capacity(judge_sweep(run.rows, run.cpu, arch="single", t0=T0,
                                                   plan=PLAN, slo=SLO, judged_at=END))
    page = render_run_report(read_run(run.path))
    assert "<h2>Capacity sweep</h2><p>Knee <b>60 req/s</b>; capacity interval [60, 80]" in page
    assert '<span class="badge fails">fail</span>' in page and "At the knee (60 req/s)" in page


def test_an_exhausted_pool_is_the_overload_not_the_generator(tmp_path: Path) -> None:
    from dashboards.saturation import SaturationBounds

    # Step 3 is overloaded: 2 s answers, and arrivals wait for one of 30 busy users.
    run = write_run(tmp_path / "r", steps(
        healthy(0), healthy(1), healthy(2), Segment(6, 6.5, 80, latency_ms=2000),
        Segment(6.5, 8, 80, latency_ms=2000, lag_ms=400), healthy(4, latency_ms=2000)),
        Seconds(10))
    record = judge_sweep(run.rows, run.cpu, arch="single", t0=T0, plan=PLAN, slo=SLO,
                         judged_at=END, bounds=SaturationBounds(pool=30))
    assert record.steps[3].generator_bound_s == []
    assert (record.capacity.low, record.capacity.high) == (60.0, 80.0)
    blamed = judge_sweep(run.rows, run.cpu, arch="single", t0=T0, plan=PLAN, slo=SLO,
                         judged_at=END, bounds=SaturationBounds(pool=1000))
    assert blamed.steps[3].generator_bound_s == [6, 7] and blamed.capacity.high == math.inf


def test_the_resampled_p95_is_numpys() -> None:
    import numpy as np

    from dashboards.sweep import _row_p95

    values = np.random.default_rng(7).lognormal(3, 1, size=(200, 57))
    values[values < 8] = np.nan  # the unavailable answers of a step
    assert np.allclose(_row_p95(values), np.nanquantile(values, 0.95, axis=-1))
    assert np.isnan(_row_p95(np.full((1, 4), np.nan))).all()


def test_a_host_saturated_by_others_proves_nothing(tmp_path: Path) -> None:
    # Steps 0-1 fail while the host is at 100 % and the run's own processes use a
    # fraction of it: the neighbours' doing, not the architecture's.
    busy = {s: (100.0, 20.0) for s in range(4)}
    run = write_run(tmp_path / "r", steps(healthy(0, latency_ms=900), healthy(1, latency_ms=900)),
                    Seconds(4, busy=busy))
    record = judge_sweep(run.rows, run.cpu, arch="single", t0=T0, plan=PLAN, slo=SLO,
                         judged_at=T0 + 5)
    assert record.steps[0].contended_s == [0, 1] and record.knee_step is None
    assert (record.capacity.low, record.capacity.high) == (0.0, math.inf)
    assert "saturated by processes outside the run" in record.notes[0]
    assert not any("start the sweep lower" in n for n in record.notes)
    # The same failure with the run's own processes filling the host: a real knee.
    own = Seconds(4, busy=busy, instances={"gateway-1": 150.0, "auth-1": 30.0})
    run = write_run(tmp_path / "s", steps(healthy(0, latency_ms=900),
                                          healthy(1, latency_ms=900)), own)
    record = judge_sweep(run.rows, run.cpu, arch="single", t0=T0, plan=PLAN, slo=SLO,
                         judged_at=T0 + 5)
    assert record.steps[0].contended_s == [] and record.capacity.high == 20.0
