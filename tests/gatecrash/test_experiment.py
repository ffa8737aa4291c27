"""Experiment files are validated before anything starts, with file:line: field errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatecrash.errors import InputError
from gatecrash.experiment import load_experiment

SUITE = Path(__file__).resolve().parents[2] / "experiments"

GOOD = """\
name: demo
claim: "Isolation des pannes"
architectures: [dual]
load: {mode: closed, users: 2, duration_s: 12}
warmup_s: 2
recovery_s: 3
faults:
  - {at_s: 3, for_s: 4, fault: kill, target: {service: orders, count: 1}}
hypotheses:
  - requests_lost <= 0
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", sorted(SUITE.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_claims_suite_is_valid(path: Path) -> None:
    experiment = load_experiment(path)
    assert experiment.claim_id and experiment.hypotheses


def test_windows_follow_the_timeline(tmp_path: Path) -> None:
    experiment = load_experiment(write(tmp_path, GOOD))
    assert experiment.windows(100.0).spans() == {"baseline": (102.0, 103.0),
                                                 "fault": (103.0, 107.0),
                                                 "recovery": (107.0, 110.0)}
    assert experiment.scaled(2).windows(0.0).fault == (6.0, 14.0)


def test_unknown_fault_names_the_line_and_the_allowed_values(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("fault: kill", "fault: explode"))
    with pytest.raises(InputError) as err:
        load_experiment(path)
    message = str(err.value)
    assert f"{path}:8: faults.0" in message and "explode" in message
    assert "allowed:" in message and "latency" in message and "kill" in message


def test_unknown_metric_lists_the_metrics(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("requests_lost <= 0", "happiness@fault >= 1"))
    with pytest.raises(InputError, match=r":10: hypotheses\.0.*unknown metric 'happiness'.*"
                       r"allowed: .*availability"):
        load_experiment(path)


def test_unknown_window_and_bad_expression(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"unknown window 'later'.*baseline, fault, recovery"):
        load_experiment(write(tmp_path, GOOD.replace("requests_lost <= 0",
                                                     "availability@later >= 1")))
    with pytest.raises(InputError, match="column"):
        load_experiment(write(tmp_path, GOOD.replace("requests_lost <= 0", "availability >=")))


def test_fault_after_the_load_ends(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"faults\[0\] ends at 16s, after the load"):
        load_experiment(write(tmp_path, GOOD.replace("for_s: 4", "for_s: 13")))


def test_typo_in_a_field_is_not_ignored(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"recovry_s.*Extra inputs are not permitted"):
        load_experiment(write(tmp_path, GOOD.replace("recovery_s", "recovry_s")))


def test_unknown_architecture(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r":3: architectures.0.*'single' or 'dual'"):
        load_experiment(write(tmp_path, GOOD.replace("[dual]", "[triple]")))


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_experiment(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="not valid YAML"):
        load_experiment(write(tmp_path, "name: [unclosed"))


@pytest.mark.parametrize("params", ["{latency_ms: 80, jitter_ms: 5}", "{latency: 80, jitter: 5}"],
                         ids=["unit-names", "toxiproxy-names"])
def test_toxic_parameters_load_under_both_names(tmp_path: Path, params: str) -> None:
    fault = (f"  - {{at_s: 3, for_s: 4, fault: latency, params: {params}, "
             "target: {service: orders}}")
    text = GOOD.replace("  - {at_s: 3, for_s: 4, fault: kill, target: {service: orders, count: 1}}",
                        fault)
    step = load_experiment(write(tmp_path, text)).faults[0]
    assert step.spec("dual").value.params() == {"latency_ms": 80, "jitter_ms": 5}


def test_an_unknown_toxic_parameter_names_both_spellings(tmp_path: Path) -> None:
    text = GOOD.replace("fault: kill, target: {service: orders, count: 1}",
                        "fault: latency, params: {latncy: 80}, target: {service: orders}")
    with pytest.raises(InputError, match=r"exp.yaml:\d+: .*latncy.*allowed: jitter_ms, latency_ms"):
        load_experiment(write(tmp_path, text))


def test_confidence_is_a_fraction(tmp_path: Path) -> None:
    assert load_experiment(write(tmp_path, GOOD + "confidence: 0.99\n")).confidence == 0.99
    with pytest.raises(InputError, match=r"exp.yaml:\d+: confidence: confidence 95: give the "
                       r"level as a fraction between 0.5 and 1 \(0.95 for 95 %"):
        load_experiment(write(tmp_path, GOOD + "confidence: 95\n"))
    with pytest.raises(InputError, match=r"proportion_method.*'wilson' or 'clopper-pearson'"):
        load_experiment(write(tmp_path, GOOD + "proportion_method: exact\n"))


@pytest.mark.parametrize(("expr", "archs", "message"), [
    ("p95_ms@fault[dual] <= p95_ms@fault", "[single, dual]",
     r"every metric names its run, e.g. p95_ms@fault\[single\]"),
    ("p95_ms@fault[triple] <= 1", "[dual]", r"unknown architecture \[triple\].*single, dual"),
    ("p95_ms@fault[dual] <= p95_ms@fault[single]", "[dual]",
     r"compares dual and single but the experiment runs on dual only: add single"),
    ("1 <= 2", "[dual]", "compares no metric"),
])
def test_hypotheses_across_architectures_are_validated(tmp_path: Path, expr: str, archs: str,
                                                      message: str) -> None:
    text = GOOD.replace("requests_lost <= 0", f"'{expr}'").replace("[dual]", archs, 1)
    with pytest.raises(InputError, match=message):
        load_experiment(write(tmp_path, text))


def test_a_hypothesis_across_architectures_takes_no_arch_field(tmp_path: Path) -> None:
    text = GOOD.replace("[dual]", "[single, dual]", 1).replace(
        "  - requests_lost <= 0", "  - {expr: 'p95_ms@fault[dual] <= p95_ms@fault[single]', "
        "arch: [dual]}")
    with pytest.raises(InputError, match="drop 'arch:'"):
        load_experiment(write(tmp_path, text))
    across = load_experiment(write(tmp_path, text.replace(", arch: [dual]", "")))
    assert across.hypotheses[0].across == ["dual", "single"]
    assert not across.hypotheses[0].applies_to("dual")  # judged on both runs, not one


def test_trials_repeat_the_schedule_after_a_gap(tmp_path: Path) -> None:
    experiment = load_experiment(write(tmp_path, GOOD)).with_trials(3)
    # One trial is 12 s of load; the gap defaults to recovery_s (3 s): a period of 15 s.
    assert (experiment.gap_s, experiment.trial_period_s) == (3, 15)
    assert experiment.trials_load().duration_s == 3 * 12 + 2 * 3
    assert [(t, s.at_s) for t, s in experiment.schedule()] == [(0, 3), (1, 18), (2, 33)]
    assert [w.fault for w in experiment.all_windows(100.0)] == \
        [(103.0, 107.0), (118.0, 122.0), (133.0, 137.0)]


def test_open_loop_trials_repeat_the_rate_stages(tmp_path: Path) -> None:
    text = GOOD.replace("{mode: closed, users: 2, duration_s: 12}",
                        "{mode: open, rate_start: 10, rate_end: 30, duration_s: 12}")
    load = load_experiment(write(tmp_path, text + "trials: 2\ntrial_gap_s: 2\n")).trials_load()
    assert [(s.duration_s, s.rate_start, s.end) for s in load.rate_stages()] == \
        [(12, 10, 30), (2, 10, 10), (12, 10, 30)]
    assert load.duration_s == 26


FLOOD = """\
name: flood
claim: "Sécurité : règles spécifiques par domaine"
architectures: [single, dual]
tenant: free
load:
  mode: open
  duration_s: 12
  mix: {identity: 1, business: 1, chat: 0}
  stages:
    - {duration_s: 4, rate_start: 2}
    - {duration_s: 5, rate_start: 11, mix: {identity: 1, business: 10, chat: 0}}
    - {duration_s: 3, rate_start: 2}
warmup_s: 2
recovery_s: 3
load_fault: {at_s: 4, for_s: 5}
hypotheses:
  - rejected_ratio{domain=identity}@fault <= 0.5
"""


def test_a_load_stage_can_be_the_fault_window(tmp_path: Path) -> None:
    experiment = load_experiment(write(tmp_path, FLOOD))
    assert experiment.tenant == "free"
    assert experiment.windows(100.0).spans() == {"baseline": (102.0, 104.0),
                                                 "fault": (104.0, 109.0),
                                                 "recovery": (109.0, 112.0)}
    # Trials repeat the flood stage, and its gap keeps the first stage's mix.
    load = experiment.with_trials(2).trials_load()
    assert [m.business for m in load.stage_mixes()] == [1, 10, 1, 1, 1, 10, 1]
    assert [w.fault for w in experiment.with_trials(2).all_windows(0.0)] == \
        [(4.0, 9.0), (19.0, 24.0)]
    # The abort bound spares the flood and its recovery, in every trial.
    twice = experiment.with_trials(2)
    assert [twice.load_disturbed(t) for t in (3.9, 4.0, 11.9, 12.0, 19.5, 26.9, 27.0)] == \
        [False, True, True, False, True, True, False]


@pytest.mark.parametrize(("change", "says"), [
    (("load_fault: {at_s: 4, for_s: 5}", "load_fault: {at_s: 5, for_s: 4}"),
     "load_fault at_s 5s is not where a load stage starts or ends"),
    (("load_fault: {at_s: 4, for_s: 5}", "load_fault: {at_s: 1, for_s: 3}"),
     "must be >= warmup_s"),
    (("tenant: free", "tenant: nobody"), "unknown tenant 'nobody'; allowed: demo, limited, free"),
    (("hypotheses:", "faults:\n  - {at_s: 4, for_s: 1, fault: kill, target: {service: auth}}\n"
                     "hypotheses:"), "give faults or load_fault, not both"),
])
def test_a_load_fault_is_validated(tmp_path: Path, change: tuple[str, str], says: str) -> None:
    with pytest.raises(InputError, match=says):
        load_experiment(write(tmp_path, FLOOD.replace(*change)))
