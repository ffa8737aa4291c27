"""capacity_rps, cpu_ms_per_request and rss_mb through the verdict engine's entry points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dashboards.analysis import METRICS, RunData, estimate, evaluate
from dashboards.errors import DashboardsError, SelectorError
from dashboards.intervals import Decision, IntervalOptions, bootstrap_estimate
from dashboards.resources import ResourceSeconds
from dashboards.sweep import judge_sweep
from gatecrash.hypothesis import parse
from gatecrash.judgement import judge_comparison
from tests.dashboards.sweeprows import T0, Seconds, write_run
from tests.dashboards.test_sweep import END, PLAN, SLO, healthy, steps

BASELINE = {"baseline": (T0, T0 + 6)}


def sweep_data(tmp_path: Path, name: str, knee_step: int, ms_per_request: float) -> RunData:
    """A sweep whose gateway spends `ms_per_request` of CPU on each request."""
    segments = [healthy(k) if k <= knee_step else healthy(k, latency_ms=900) for k in range(5)]
    load = {s: {"gateway-1": ms_per_request * PLAN.rates[s // 2] / 10, "auth-1": 10.0}
            for s in range(10)}
    run = write_run(tmp_path / name, steps(*segments), Seconds(10, load=load))
    record = judge_sweep(run.rows, run.cpu, arch=name, t0=T0, plan=PLAN, slo=SLO, judged_at=END)
    return RunData.of(run.rows, BASELINE, run.cpu, record)


def test_the_metrics_are_registered() -> None:
    assert {"capacity_rps", "cpu_ms_per_request", "rss_mb"} <= set(METRICS)
    assert METRICS["capacity_rps"].unit == "req/s" and METRICS["cpu_ms_per_request"].unit == "ms"


def test_capacity_and_cpu_per_request_of_a_sweep(tmp_path: Path) -> None:
    data = sweep_data(tmp_path, "single", knee_step=2, ms_per_request=5.0)
    knee = estimate(data, data.trials, "capacity_rps")
    # [60, 80] within the sweep, one 20 req/s step wider on both sides between sweeps.
    assert (knee.estimate.value, knee.estimate.low, knee.estimate.high) == (60.0, 40.0, 100.0)
    assert "[60, 80] within its sweep, ± 20 req/s for the spread between sweeps" in knee.note
    cpu = estimate(data, data.trials, "cpu_ms_per_request", {"component": "gateway"},
                   "baseline").estimate
    assert (cpu.value, cpu.low, cpu.high, cpu.n) == (pytest.approx(5.0), pytest.approx(5.0),
                                                     pytest.approx(5.0), 6)
    assert evaluate(data, data.trials, "rss_mb", {"component": "gateway"}, "baseline") == \
        pytest.approx(80.0)


def test_wrong_uses_are_refused_clearly(tmp_path: Path) -> None:
    data = sweep_data(tmp_path, "single", knee_step=2, ms_per_request=5.0)
    with pytest.raises(SelectorError, match="capacity_rps takes no selector"):
        estimate(data, data.trials, "capacity_rps", {"domain": "identity"})
    with pytest.raises(SelectorError, match=r"takes \{component=...\} only, not 'domain'"):
        estimate(data, data.trials, "cpu_ms_per_request", {"domain": "identity"}, "baseline")
    no_sweep = RunData.of(data.rows, BASELINE, data.cpu)
    with pytest.raises(DashboardsError, match="not a capacity sweep"):
        estimate(no_sweep, no_sweep.trials, "capacity_rps")


def test_across_architectures(tmp_path: Path) -> None:
    runs = {"single": sweep_data(tmp_path, "single", knee_step=4, ms_per_request=6.0),
            "dual": sweep_data(tmp_path, "dual", knee_step=0, ms_per_request=2.5)}
    options = IntervalOptions()
    knees = judge_comparison(parse("capacity_rps[dual] >= capacity_rps[single]"), runs,
                             "dual", options)
    # 20 [0, 60] against 100 [80, inf) (no step failed): apart by more than the
    # spread between sweeps.
    assert knees.decision is Decision.FAILS
    near = {"single": sweep_data(tmp_path, "single-b", knee_step=3, ms_per_request=6.0),
            "dual": sweep_data(tmp_path, "dual-b", knee_step=1, ms_per_request=2.5)}
    close = judge_comparison(parse("capacity_rps[dual] >= capacity_rps[single]"), near,
                             "dual", options)
    # 40 [20, 80] against 80 [60, 120]: two steps apart, within that spread.
    assert close.decision is Decision.INCONCLUSIVE
    load = judge_comparison(parse(
        "cpu_ms_per_request{component=gateway}@baseline[dual] <= "
        "cpu_ms_per_request{component=gateway}@baseline[single]"), runs, "dual", options)
    assert load.decision is Decision.HOLDS


NOISE = (1.1, 0.9, 1.08, 0.92, 1.1, 0.9)  # per second of the baseline, around the mean


def noisy_run(tmp_path: Path, name: str, ms_per_request: float) -> RunData:
    """Six baseline seconds whose gateway CPU wanders around `ms_per_request`."""
    segments = [healthy(k) for k in range(3)]
    load = {s: {"gateway-1": NOISE[s] * ms_per_request * PLAN.rates[s // 2] / 10,
                "auth-1": 10.0} for s in range(6)}
    run = write_run(tmp_path / name, steps(*segments), Seconds(6, load=load))
    return RunData.of(run.rows, BASELINE, run.cpu)


def test_resource_costs_across_runs_are_bootstrapped_on_their_difference(
        tmp_path: Path) -> None:
    runs = {"single": noisy_run(tmp_path, "single", 3.0),
            "dual": noisy_run(tmp_path, "dual", 2.6)}
    expr = ("cpu_ms_per_request{component=gateway}@baseline[dual] <= "
            "cpu_ms_per_request{component=gateway}@baseline[single]")
    got = judge_comparison(parse(expr), runs, "dual", IntervalOptions())
    assert (got.estimate.method, got.estimate.n, got.units) == ("bootstrap", 12, "1-s samples")
    assert got.estimate.value == pytest.approx(2.6 - 3.0, abs=0.05)
    # The same interval from scipy directly: each run's seconds drawn on their own.
    per_run = [ResourceSeconds.of(runs[a].cpu, runs[a].rows, [BASELINE["baseline"]], "gateway")
               for a in ("dual", "single")]
    direct = bootstrap_estimate(
        [np.arange(6), np.arange(6)],
        lambda d, s: per_run[0].per_request(d) - per_run[1].per_request(s))
    assert (got.estimate.low, got.estimate.high) == (pytest.approx(direct.low),
                                                    pytest.approx(direct.high))
    # Each side's interval combined by interval arithmetic would not decide it.
    sides = [estimate(runs[a], runs[a].trials, "cpu_ms_per_request", {"component": "gateway"},
                      "baseline", IntervalOptions(0.975)).estimate for a in ("dual", "single")]
    assert sides[0].high - sides[1].low > 0 > got.estimate.high
    assert got.decision is Decision.HOLDS
