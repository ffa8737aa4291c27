"""Validity rules and exit codes: pure functions, one line each."""

from __future__ import annotations

import pandas as pd

from gatecrash.experiment import Experiment
from gatecrash.verdicts import exit_code, validity_problems
from records import FaultEvent, HopTraffic, Proof, Verdict, VerdictWord

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
    assert validity_problems(EXP, WINDOWS, [GOOD_FAULT], cpu(50, 40), None) == []


def test_saturated_host_or_generator() -> None:
    assert "host CPU saturated" in validity_problems(EXP, WINDOWS, [GOOD_FAULT], cpu(97, 40),
                                                     None)[0]
    assert "generator saturated" in validity_problems(EXP, WINDOWS, [GOOD_FAULT],
                                                      cpu(50, 99), None)[0]


def test_missing_proof_no_traffic_never_applied_aborted() -> None:
    unproven = GOOD_FAULT.model_copy(update={"proof": Proof(ok=False, detail="absent")})
    assert "no proof" in validity_problems(EXP, WINDOWS, [unproven], cpu(5, 5), None)[0]
    quiet = GOOD_FAULT.model_copy(update={"traffic": {"auth-1": HopTraffic()}})
    assert "no traffic" in validity_problems(EXP, WINDOWS, [quiet], cpu(5, 5), None)[0]
    assert "never applied" in validity_problems(EXP, WINDOWS, [], cpu(5, 5), None)[0]
    assert "aborted" in validity_problems(EXP, WINDOWS, [GOOD_FAULT], cpu(5, 5), "x")[0]


def test_exit_codes() -> None:
    assert exit_code([verdict("holds")]) == 0
    assert exit_code([verdict("holds"), verdict("fails"), verdict("inconclusive")]) == 1
    assert exit_code([verdict("holds"), verdict("inconclusive")]) == 3
    assert exit_code([]) == 3
