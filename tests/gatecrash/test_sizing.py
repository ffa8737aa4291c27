"""Sample planning: expected samples before anything is deployed, the strongest form
each hypothesis can decide, and the warning `gatecrash run` prints at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatecrash import cli
from gatecrash.experiment import Experiment, load_experiment
from gatecrash.sizing import ASSUMED_SERVICE_MS, RequestRates, plan_samples
from gatecrash.suite import SuiteResult
from records import RunWindows
from tests.gatecrash.recorded import T0, recorded, spaced

SUITE = Path(__file__).resolve().parents[2] / "experiments"


def experiment(load: dict[str, object], *hypotheses: str, **extra: object) -> Experiment:
    return Experiment.model_validate({
        "name": "p", "claim": "c", "architectures": ["dual"], "load": load,
        "warmup_s": 2, "recovery_s": 2,
        "faults": [{"at_s": 3, "for_s": 4, "fault": "kill", "target": {"service": "auth"}}],
        "hypotheses": list(hypotheses), **extra})


OPEN = {"mode": "open", "rate": 20, "duration_s": 10, "mix": {"identity": 1, "business": 1,
                                                              "chat": 0}}


def test_open_loop_counts_the_arrivals_of_the_window_and_the_mix_share() -> None:
    plan = plan_samples(experiment(OPEN, "availability{domain=identity}@fault >= 0.9"),
                        ["dual"])
    (window,) = plan.windows
    # 20 req/s x 4 s, half of them identity.
    assert (window.window, window.selector) == ("fault", "domain=identity")
    assert window.n == pytest.approx(40.0)
    # Endpoints weigh inside their domain: orders.list is 3 of the 11 business weights.
    endpoint = plan_samples(experiment(OPEN, "availability{endpoint=orders.list}@fault >= 0.5"),
                            ["dual"]).windows[0]
    assert endpoint.n == pytest.approx(80 * 0.5 * 3 / 11)


def test_a_stage_with_its_own_mix_counts_with_its_share() -> None:
    flood = {"mode": "open", "duration_s": 10, "mix": {"identity": 1, "business": 1, "chat": 0},
             "stages": [{"duration_s": 3, "rate_start": 4},
                        {"duration_s": 4, "rate_start": 22,
                         "mix": {"identity": 2, "business": 20, "chat": 0}},
                        {"duration_s": 3, "rate_start": 4}]}
    exp = Experiment.model_validate({
        "name": "p", "claim": "c", "architectures": ["dual"], "load": flood, "warmup_s": 1,
        "recovery_s": 2, "load_fault": {"at_s": 3, "for_s": 4},
        "hypotheses": ["rejected_ratio{domain=identity}@fault <= 0.5",
                       "rejected_ratio{domain=business}@baseline <= 0.5"]})
    n = {(w.window, w.selector): w.n for w in plan_samples(exp, ["dual"]).windows}
    # Fault: 4 s x 22 req/s, 2 of 22 identity; baseline: 2 s x 4 req/s, half business.
    assert n[("fault", "domain=identity")] == pytest.approx(8.0)
    assert n[("baseline", "domain=business")] == pytest.approx(4.0)


def test_closed_loop_states_its_service_time_assumption_and_trials_add_up() -> None:
    closed = {"mode": "closed", "users": 4, "wait_min_s": 0.05, "wait_max_s": 0.1,
              "duration_s": 10, "mix": {"identity": 1, "business": 1, "chat": 0.5}}
    plan = plan_samples(experiment(closed, "availability@fault >= 0.9", trials=3), ["dual"])
    rate = 4 / (0.075 + ASSUMED_SERVICE_MS / 1000)
    assert plan.windows[0].n == pytest.approx(rate * 4 * 3)
    assert f"an assumed {ASSUMED_SERVICE_MS:g} ms per request" in plan.assumption


def test_the_strongest_decidable_form_and_the_warning() -> None:
    plan = plan_samples(load_experiment(SUITE / "c2-isolation.yaml"), ["dual"])
    strict = plan.hypotheses[0]
    assert not strict.decidable
    assert "with 0 failures in ~101, availability >= 0.9634 is the strongest form decidable " \
        "(Wilson 95 %); >= 0.999 cannot hold at this size (needs >= 3,838 samples)" \
        in strict.verdict
    assert plan.warnings[0].startswith("[dual] availability{domain=identity}@fault >= 0.999")
    # p95 of the ~17 baseline requests: in effect their maximum.
    assert "in effect their maximum" in plan.hypotheses[2].verdict


def test_a_percentile_without_enough_samples_for_a_bound_is_flagged() -> None:
    plan = plan_samples(experiment(OPEN, "p95_ms@baseline <= 100", "p95_ms@fault <= 100"),
                        ["dual"])
    baseline, fault = plan.hypotheses
    assert not baseline.decidable and "no upper bound below 72 samples" in baseline.verdict
    assert fault.decidable  # 80 requests in the fault window


def test_rates_measured_in_a_previous_run_replace_the_assumption(tmp_path: Path) -> None:
    windows = RunWindows(baseline=(T0 + 2, T0 + 3), fault=(T0 + 3, T0 + 7),
                         recovery=(T0 + 7, T0 + 9))
    data = recorded(tmp_path, spaced(T0, T0 + 10, 100, domain="identity"), [windows])
    rates = {"dual": RequestRates.from_run(data, "an earlier run")}
    plan = plan_samples(experiment(OPEN, "availability{domain=identity}@fault >= 0.9"),
                        ["dual"], rates)
    assert plan.windows[0].n == pytest.approx(10 * 4)  # 10 req/s measured in its baseline
    assert "measured in an earlier run" in plan.assumption


def test_plan_command_prints_samples_and_forms(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plan", str(SUITE / "c2-isolation.yaml"), "--trials", "2"]) == 0
    out = capsys.readouterr().out
    assert "plan of c2-isolation: 2 trial(s)" in out
    assert "dual  fault     domain=identity" in out and "~202" in out
    assert "<- cannot be decided at this size" in out


def test_run_warns_at_start_about_what_it_cannot_decide(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # A fake suite: the warning is printed before anything is deployed.
    monkeypatch.setattr(cli, "run_suite", lambda *a, **k: SuiteResult())
    cli.main(["run", str(SUITE / "c2-isolation.yaml")])
    err = capsys.readouterr().err
    assert "warning: c2-isolation [dual] availability{domain=identity}@fault >= 0.999: " \
        "with 0 failures in ~101" in err
    assert "ratio{domain=identity,route=primary|retry}@fault >= 0.999" in err
