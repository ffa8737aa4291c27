"""Validity rules, exit codes, and the verdict engine on runs recorded by the real writer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dashboards.analysis import RunData, estimate
from gatecrash.experiment import Experiment
from gatecrash.verdicts import (
    exit_code,
    judge,
    judge_across,
    saturation_by_window,
    validity_problems,
)
from records import FaultEvent, HopTraffic, Proof, RunWindows, Verdict, VerdictWord
from tests.gatecrash.recorded import T0, recorded, spaced

EXP = Experiment.model_validate({
    "name": "v", "claim": "c", "architectures": ["dual"],
    "load": {"mode": "closed", "users": 1, "duration_s": 10},
    "faults": [{"at_s": 3, "for_s": 2, "fault": "latency", "target": {"service": "auth"}}],
    "hypotheses": ["requests_lost <= 0"]})
WINDOWS = {"baseline": (0.0, 3.0), "fault": (3.0, 5.0), "recovery": (5.0, 10.0)}
GOOD_FAULT = FaultEvent(id="f1", fault="latency", targets=["auth-1"], label="latency auth-1",
                        start=3.0, end=5.0, proof=Proof(ok=True, detail="present"),
                        traffic={"auth-1": HopTraffic(connections=3, bytes_downstream=100)})


def cpu(host: float, gen: float) -> pd.DataFrame:
    """One sample a second over the run; the figures in second 6 only (per-second rule)."""
    ts = [float(s) for s in range(1, 11)]
    return pd.DataFrame({"ts": ts, "span_s": [1.0] * 10,
                         "host_pct": [host if t == 7 else 5.0 for t in ts],
                         "generator_max_pct": [gen if t == 7 else 5.0 for t in ts]})


def verdict(word: VerdictWord) -> Verdict:
    return Verdict(experiment="e", claim="c", arch="dual", hypothesis="h", verdict=word,
                   measured=1.0, threshold=1.0)


def test_a_clean_run_has_no_problem() -> None:
    assert validity_problems(EXP, [GOOD_FAULT], None) == []
    assert saturation_by_window(EXP, WINDOWS, cpu(50, 40), None, None) == ({}, {})


def test_saturation_is_the_problem_of_the_window_it_happened_in() -> None:
    no_problem, host = saturation_by_window(EXP, WINDOWS, cpu(97, 40), None, None)
    generator, not_starved = saturation_by_window(EXP, WINDOWS, cpu(50, 99), None, None)
    both, only_host = saturation_by_window(EXP, WINDOWS, cpu(97, 99), None, None)
    # The saturated second (ts 7) lies in one window only: the others stay judged.
    inside = [name for name, (a, b) in WINDOWS.items() if a <= 7 < b]
    # The host alone: the system was starved; a generator saturated too: nothing stands.
    assert (no_problem, not_starved, only_host) == ({}, {}, {})
    assert list(host) == inside and "host CPU saturated" in host[inside[0]][0]
    assert list(generator) == inside and "generator saturated" in generator[inside[0]][0]
    assert len(both[inside[0]]) == 2


def test_missing_proof_no_traffic_never_applied_aborted() -> None:
    unproven = GOOD_FAULT.model_copy(update={"proof": Proof(ok=False, detail="absent")})
    assert "no proof" in validity_problems(EXP, [unproven], None)[0]
    quiet = GOOD_FAULT.model_copy(update={"traffic": {"auth-1": HopTraffic()}})
    assert "no traffic" in validity_problems(EXP, [quiet], None)[0]
    assert "never applied" in validity_problems(EXP, [], None)[0]
    assert "aborted" in validity_problems(EXP, [GOOD_FAULT], "x")[0]


def test_exit_codes() -> None:
    assert exit_code([verdict("holds")]) == 0
    assert exit_code([verdict("holds"), verdict("fails"), verdict("inconclusive")]) == 1
    assert exit_code([verdict("holds"), verdict("inconclusive")]) == 3
    assert exit_code([]) == 3


# --- the verdict engine on recorded runs ---------------------------------------------------
def experiment(*hypotheses: str, archs: tuple[str, ...] = ("dual",), **extra: object) -> Experiment:
    return Experiment.model_validate({
        "name": "v", "claim": "c", "architectures": list(archs),
        "load": {"mode": "closed", "users": 1, "duration_s": 10},
        "faults": [{"at_s": 3, "for_s": 2, "fault": "kill", "target": {"service": "auth"}}],
        "hypotheses": list(hypotheses), **extra})


ONE_TRIAL = [RunWindows(baseline=(T0, T0 + 2), fault=(T0 + 2, T0 + 6),
                        recovery=(T0 + 6, T0 + 8))]


def quiet_run(tmp_path: Path, fault_rows: list[tuple[object, ...]], arch: str = "dual",
              name: str = "run") -> RunData:
    rows = spaced(T0, T0 + 2, 20) + fault_rows + spaced(T0 + 6, T0 + 8, 20)
    return recorded(tmp_path, rows, ONE_TRIAL, arch, name)


def test_zero_failures_in_66_holds_only_what_66_can_show(tmp_path: Path) -> None:
    data = quiet_run(tmp_path, spaced(T0 + 2, T0 + 6, 66))
    strict, loose = judge(experiment("availability{domain=identity}@fault >= 0.999",
                                     "availability{domain=identity}@fault >= 0.9"),
                          "dual", data, [])
    assert (strict.verdict, loose.verdict) == ("inconclusive", "holds")
    assert (strict.n, strict.method, strict.confidence, strict.samples_needed) == \
        (66, "wilson", 0.95, 3838)
    assert strict.low == pytest.approx(0.9450, abs=1e-4) and strict.high == 1.0
    assert ("0 failures in 66: shows >= 94.5 %; >= 3,838 requests with 0 failures are "
            "needed for >= 99.9 % (Wilson 95 %)") in strict.detail
    assert loose.samples_needed is None and "the whole interval is >= 90 %" in loose.detail


def test_a_dead_window_says_so_in_its_own_words(tmp_path: Path) -> None:
    data = quiet_run(tmp_path, spaced(T0 + 2, T0 + 6, 66, status=0, error_kind="connect"))
    (verdict,) = judge(experiment("availability@fault <= 0.01"), "dual", data, [])
    assert verdict.verdict == "inconclusive"
    assert ("66 failures in 66: shows <= 5.5 %; >= 381 requests with every one failing are "
            "needed for <= 1 %") in verdict.detail


def test_a_clear_shortfall_fails_and_clopper_pearson_is_selectable(tmp_path: Path) -> None:
    half = spaced(T0 + 2, T0 + 6, 30) + spaced(T0 + 2.01, T0 + 6, 30, status=0,
                                               error_kind="connect")
    data = quiet_run(tmp_path, half)
    exact = experiment("availability@fault >= 0.99", proportion_method="clopper-pearson")
    (verdict,) = judge(exact, "dual", data, [])
    assert (verdict.verdict, verdict.method, verdict.value) == ("fails", "clopper-pearson", 0.5)


def test_a_higher_confidence_widens_the_interval(tmp_path: Path) -> None:
    data = quiet_run(tmp_path, spaced(T0 + 2, T0 + 6, 66))
    (at95,) = judge(experiment("availability@fault >= 0.9"), "dual", data, [])
    (at99,) = judge(experiment("availability@fault >= 0.9", confidence=0.99), "dual", data, [])
    assert at99.low is not None and at95.low is not None and at99.low < at95.low
    assert at99.confidence == 0.99


def test_constants_scale_the_metric_interval(tmp_path: Path) -> None:
    data = quiet_run(tmp_path, spaced(T0 + 2, T0 + 6, 66))
    plain = estimate(data, data.trials, "availability", {}, "fault").estimate
    (verdict,) = judge(experiment("2 * availability@fault + 1 >= 2.8"), "dual", data, [])
    assert (verdict.value, verdict.low, verdict.high) == \
        (plain.scaled(2, 1).value, plain.scaled(2, 1).low, plain.scaled(2, 1).high)
    assert (verdict.verdict, verdict.quantity, verdict.bound) == \
        ("holds", "2 * availability@fault + 1", 2.8)


def test_requests_lost_is_exact_and_says_its_loss_rate_bound(tmp_path: Path) -> None:
    data = quiet_run(tmp_path, spaced(T0 + 2, T0 + 6, 66))
    lost, rate = judge(experiment("requests_lost <= 0", "loss_rate <= 0.001"), "dual", data, [])
    assert (lost.verdict, lost.method, lost.n) == ("holds", "observed", 86)
    assert "0 lost of 86 requests: loss rate <= 4.276 % (Wilson 95 % upper bound)" in lost.detail
    assert (rate.verdict, rate.method) == ("inconclusive", "wilson")


def test_two_windows_are_compared_by_a_repeatable_bootstrap(tmp_path: Path) -> None:
    slow = spaced(T0 + 2, T0 + 6, 66, latency_ms=80.0)
    data = quiet_run(tmp_path, slow)
    exp = experiment("p50_ms@fault >= p50_ms@baseline + 50",
                     "p50_ms@fault <= p50_ms@baseline + 50")
    first = judge(exp, "dual", data, [])
    assert [v.verdict for v in first] == ["holds", "fails"]
    assert (first[0].quantity, first[0].method, first[0].bound) == ("left - right", "bootstrap",
                                                                     0.0)
    assert first[0].samples == {"p50_ms@fault": 66, "p50_ms@baseline": 20}
    assert "Mann-Whitney" in first[0].detail
    assert judge(exp, "dual", data, []) == first  # same rows, same verdict


def test_trials_are_pooled_and_their_spread_reported(tmp_path: Path) -> None:
    trials = [RunWindows(baseline=(T0 + 10 * i, T0 + 10 * i + 2),
                         fault=(T0 + 10 * i + 2, T0 + 10 * i + 6),
                         recovery=(T0 + 10 * i + 6, T0 + 10 * i + 8)) for i in range(2)]
    rows = [r for i in range(2) for r in spaced(T0 + 10 * i, T0 + 10 * i + 8, 80)]
    rows += spaced(T0 + 12.01, T0 + 16, 8, status=503, error_kind="http_5xx")  # trial 2 only
    data = recorded(tmp_path, rows, trials)
    (verdict,) = judge(experiment("availability@fault >= 0.5", trials=2), "dual", data, [])
    assert verdict.n == 40 + 48 and verdict.value == pytest.approx(80 / 88)
    assert verdict.trials == [1.0, pytest.approx(40 / 48)]
    assert "per trial: 1, 0.8333 (min..max 0.8333..1)" in verdict.detail


def test_an_invalid_run_is_inconclusive_but_keeps_its_numbers(tmp_path: Path) -> None:
    data = quiet_run(tmp_path, spaced(T0 + 2, T0 + 6, 66))
    (verdict,) = judge(experiment("availability@fault >= 0.9"), "dual", data,
                       ["host saturated: mean CPU 99% >= 95%"])
    assert (verdict.verdict, verdict.value, verdict.samples_needed) == ("inconclusive", 1.0, None)
    assert verdict.detail.startswith("not judged (host saturated")


def test_hypotheses_across_architectures_name_both(tmp_path: Path) -> None:
    dual = quiet_run(tmp_path, spaced(T0 + 2, T0 + 6, 66, latency_ms=10.0), "dual", "d")
    single = quiet_run(tmp_path, spaced(T0 + 2, T0 + 6, 66, latency_ms=40.0), "single", "s")
    exp = experiment("p95_ms@fault[dual] <= p95_ms@fault[single]",
                     "requests_lost[dual] <= requests_lost[single]",
                     "availability@fault >= 0.9", archs=("single", "dual"))
    assert judge(exp, "dual", dual, [])[0].hypothesis == "availability@fault >= 0.9"
    latency, lost = judge_across(exp, {"dual": dual, "single": single}, {})
    assert (latency.arch, latency.verdict, latency.quantity) == ("dual vs single", "holds",
                                                                 "left - right")
    assert latency.samples == {"p95_ms@fault[dual]": 66, "p95_ms@fault[single]": 66}
    assert (lost.verdict, lost.value) == ("holds", 0.0)
    (missing, _) = judge_across(exp, {"dual": dual}, {})[:2]
    assert missing.verdict == "inconclusive" and "no completed single run" in missing.detail


def test_durations_compared_across_runs_combine_their_intervals(tmp_path: Path) -> None:
    failing = spaced(T0 + 2, T0 + 3, 10, status=0, error_kind="connect") + \
        spaced(T0 + 3.05, T0 + 6, 56)
    dual = quiet_run(tmp_path, spaced(T0 + 2, T0 + 6, 66), "dual", "d")
    single = quiet_run(tmp_path, failing, "single", "s")
    exp = experiment("time_to_failover_s[dual] <= time_to_failover_s[single]",
                     archs=("single", "dual"))
    (verdict,) = judge_across(exp, {"dual": dual, "single": single}, {})
    assert (verdict.verdict, verdict.method) == ("holds", "interval arithmetic")
    assert verdict.high is not None and verdict.high < 0


STARVED = {"fault": ["fault: host CPU saturated (>= 95% of all cores) in 1 of 4 judged "
                     "second(s): 3 s after load start"]}


@pytest.mark.parametrize(("expr", "dead", "stands"), [
    ("availability@fault >= 0.9", False, True),  # held although starvation lowers it
    ("availability@fault <= 0.1", True, False),  # an outage starvation may have made
    ("p50_ms@fault <= 500", False, True),
    ("p50_ms@fault >= 1", False, False),
    ("requests_lost <= 0", False, True),
    ("ratio{route=primary}@fault >= 0.5", False, False),  # no one direction: never stands
    ("p50_ms@fault <= 2 * p50_ms@baseline + 50", False, False),  # two metrics: never
])
def test_a_starved_host_voids_only_what_starvation_could_have_decided(
        tmp_path: Path, expr: str, dead: bool, stands: bool) -> None:
    failed = {"status": 0, "error_kind": "connect"} if dead else {}
    data = quiet_run(tmp_path, spaced(T0 + 2, T0 + 6, 66, **failed))
    (clean,) = judge(experiment(expr), "dual", data, [])
    (starved,) = judge(experiment(expr), "dual", data, [], starved=STARVED)
    assert clean.verdict == "holds"
    assert starved.value == clean.value
    if stands:
        assert starved.verdict == "holds" and "stands on a starved host (fault: host" in \
            starved.detail
    else:
        assert starved.verdict == "inconclusive" and starved.detail.startswith(
            "not judged (fault: host CPU saturated")


def test_a_failure_stands_starved_only_where_starvation_would_have_held_it(
        tmp_path: Path) -> None:
    data = quiet_run(tmp_path, spaced(T0 + 2, T0 + 6, 66))  # all available
    outage, floor = judge(experiment("availability@fault <= 0.05", "availability@fault >= 0.99"),
                          "dual", data, [], starved=STARVED)
    # Fully available though starved: the outage claim fails for good.
    assert outage.verdict == "fails" and "stands on a starved host" in outage.detail
    dead = quiet_run(tmp_path, spaced(T0 + 2, T0 + 6, 66, status=0, error_kind="connect"),
                     name="dead")
    (floor,) = judge(experiment("availability@fault >= 0.99"), "dual", dead, [],
                     starved=STARVED)
    # Unavailable on a starved host: starvation may be why, so it is not a failure.
    assert floor.verdict == "inconclusive"
    # Any other problem in the window voids even a verdict that would stand starved.
    (voided,) = judge(experiment("availability@fault >= 0.9"), "dual", data, [],
                      window_problems={"fault": ["fault: load generator saturated"]},
                      starved=STARVED)
    assert voided.verdict == "inconclusive"
