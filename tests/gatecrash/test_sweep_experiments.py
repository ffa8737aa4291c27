"""Experiments whose load is a capacity sweep: validated at the edge, scaled by their steps."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gatecrash.capacity import capacity_experiment
from gatecrash.experiment import Experiment
from gatecrash.sweep import SweepRun, pool_size, sweep_plan
from loadtests.spec import SweepSteps
from records import Slo
from tests.dashboards.sweeprows import T0, Segment, write_run

SWEEP = {"mode": "sweep", "sweep": {"rate_start": 20, "step_rps": 20, "step_s": 3,
                                    "rate_max": 100, "warmup_s": 2}}


def sweep_experiment(**extra: object) -> Experiment:
    return Experiment.model_validate({"name": "c5", "claim": "c", "architectures": "both",
                                      "load": SWEEP, "hypotheses": ["count@baseline >= 1"],
                                      **extra})


def test_a_sweep_experiment_and_its_plan(tmp_path: Path) -> None:
    experiment = sweep_experiment(slo={"p95_ms": 100})
    assert experiment.slo == Slo(p95_ms=100, availability=0.99)
    assert experiment.load.duration_s == 2 + 5 * 3
    plan = sweep_plan(experiment.load)
    assert (plan.rates, plan.step_s, plan.step_rps, plan.warmup_s) == \
        ((20, 40, 60, 80, 100), 3, 20, 2)
    run = SweepRun.of(experiment.load, experiment.slo, tmp_path)
    assert run is not None and run.settle_s == pytest.approx(0.1 + 1.5)
    assert SweepRun.of(experiment.model_copy(update={"load": experiment.load.model_copy(
        update={"mode": "open"})}).load, experiment.slo, tmp_path) is None


def test_a_sweep_runs_no_fault() -> None:
    with pytest.raises(ValidationError, match=r"a capacity sweep .* runs no fault"):
        sweep_experiment(faults=[{"at_s": 4, "for_s": 2, "fault": "kill",
                                  "target": {"service": "auth"}}])


def test_the_full_suite_lengthens_the_steps_not_the_warm_up() -> None:
    longer = sweep_experiment().scaled(3)
    assert longer.load.sweep is not None and longer.load.sweep.step_s == 9
    assert longer.load.sweep.warmup_s == 2 and longer.load.duration_s == 2 + 5 * 9


def test_the_capacity_command_builds_a_sweep_experiment() -> None:
    sweep = SweepSteps(rate_start=10, step_rps=10, step_s=2, rate_max=500)
    experiment = capacity_experiment("dual", sweep=sweep, slo=Slo(availability=0.95))
    assert experiment.load.mode == "sweep" and experiment.load.max_users == pool_size(sweep)
    assert pool_size(sweep) == 250 and [a.value for a in experiment.architectures] == ["dual"]
    assert [h.expr for h in experiment.hypotheses] == ["availability@baseline >= 0.95"]


def test_a_running_sweep_reads_its_rows_only_when_a_step_can_be_judged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Warm-up [0, 2) s, then steps of 3 s at 20, 40, 60 req/s: the first passes, the
    # next two are too slow (800 ms), and two failures in a row decide the knee.
    experiment = sweep_experiment()
    write_run(tmp_path / "r", [Segment(0, 2, 20), Segment(2, 5, 20),
                               Segment(5, 8, 40, latency_ms=800),
                               Segment(8, 11, 60, latency_ms=800)])
    run = SweepRun.of(experiment.load, experiment.slo, tmp_path / "r")
    assert run is not None
    reads: list[float] = []
    real = run._rows.read
    monkeypatch.setattr(run._rows, "read", lambda: reads.append(now) or real())
    settle = run.settle_s  # 0.25 s of the SLO's p95 + 1.5 s for the rows to land
    for now in [T0 + 1, T0 + 3, T0 + 5 + settle - 0.1, T0 + 5 + settle + 0.1,
                T0 + 7, T0 + 8 + settle + 0.1, T0 + 10, T0 + 11 + settle + 0.1]:
        stopped = run.check(now)
    # The first read places the schedule; later ones come only as each step ends + settles.
    assert reads == [T0 + 1, T0 + 5 + settle + 0.1, T0 + 8 + settle + 0.1,
                     T0 + 11 + settle + 0.1]
    assert stopped is not None and stopped.startswith("knee found")
    assert run.stopped_at == T0 + 11 + settle + 0.1
