"""The claims suite's sizes: quick forms claim less, never more; the full suite grows
each experiment until its hypotheses can be decided, and says how long that takes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gatecrash.claims import FULL_SCALE, MAX_FULL_SCALE, full_suite, quick_suite
from gatecrash.console import suite_plan_table
from gatecrash.errors import InputError
from gatecrash.experiment import Experiment, load_experiment
from gatecrash.sizing import plan_samples

SUITE = Path(__file__).resolve().parents[2] / "experiments"
LOAD = {"mode": "closed", "users": 4, "wait_min_s": 0.05, "wait_max_s": 0.1, "duration_s": 9,
        "mix": {"identity": 1, "business": 1, "chat": 0}}


def experiment(*hypotheses: object, claim_id: str = "C2") -> Experiment:
    return Experiment.model_validate({
        "name": "e", "claim": "c", "claim_id": claim_id, "architectures": ["dual"],
        "load": LOAD, "warmup_s": 2, "recovery_s": 2,
        "faults": [{"at_s": 3, "for_s": 4, "fault": "kill", "target": {"service": "auth"}}],
        "hypotheses": list(hypotheses)})


STRONG = {"expr": "availability{domain=identity}@fault >= 0.999",
          "quick": "availability{domain=identity}@fault >= 0.9"}


def test_the_quick_suite_judges_the_quick_form_and_leaves_claims_beyond_the_seeds() -> None:
    seeds, beyond = experiment(STRONG), experiment(STRONG, claim_id="C9")
    [quick] = quick_suite([seeds, beyond])
    assert [h.expr for h in quick.hypotheses] == [STRONG["quick"]]
    assert seeds.hypotheses[0].expr == STRONG["expr"]  # the filed experiment is untouched


def test_a_named_hypothesis_says_it_is_judged_in_its_quick_form() -> None:
    [quick] = quick_suite([experiment({**STRONG, "name": "identity stays up"})])
    assert quick.hypotheses[0].name == ("identity stays up (quick form of "
                                        f"{STRONG['expr']})")


@pytest.mark.parametrize("quick, why", [
    ("availability{domain=identity}@fault >= 0.9999", "not looser"),
    ("availability{domain=business}@fault >= 0.9", "same metrics"),
    ("availability{domain=identity}@fault <= 0.9", "same operator"),
])
def test_a_quick_form_may_only_claim_less(quick: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        experiment({"expr": STRONG["expr"], "quick": quick})


def test_a_looser_upper_bound_is_a_larger_one() -> None:
    experiment({"expr": "availability@fault <= 0.05", "quick": "availability@fault <= 0.1"})
    with pytest.raises(ValidationError, match="not looser"):
        experiment({"expr": "availability@fault <= 0.05", "quick": "availability@fault <= 0.01"})


def test_the_full_suite_grows_an_experiment_until_its_hypotheses_can_be_decided() -> None:
    strong = experiment({"expr": "availability{domain=identity}@fault >= 0.99"})
    assert plan_samples(strong.scaled(FULL_SCALE), ["dual"]).warnings  # 3x is not enough
    [sized] = full_suite([strong]).experiments
    assert FULL_SCALE < sized.factor < MAX_FULL_SCALE
    assert sized.undecided == []
    assert plan_samples(sized.experiment, ["dual"]).warnings == []


def test_what_no_allowed_length_decides_is_said_not_hidden() -> None:
    hopeless = experiment({"expr": "availability{domain=identity}@fault >= 0.99999"})
    plan = full_suite([hopeless])
    [sized] = plan.experiments
    assert sized.factor == MAX_FULL_SCALE and len(sized.undecided) == 1
    table = suite_plan_table(plan)
    assert "still undecidable" in table and "expected wall time" in table


def test_the_expected_wall_time_counts_every_run_and_stack() -> None:
    plan = full_suite([experiment("count >= 1")])
    [sized] = plan.experiments
    assert sized.factor == FULL_SCALE and sized.runs == 1
    assert sized.load_s == pytest.approx(9 * FULL_SCALE, abs=1)
    assert plan.stacks == 1 and plan.wall_s > sized.load_s


def test_every_quick_form_of_the_filed_suite_is_decidable_at_its_planned_size() -> None:
    experiments = [load_experiment(f) for f in sorted(SUITE.glob("c[0-9]*.yaml"))]
    for quick in quick_suite(experiments):
        try:
            plan = plan_samples(quick, [a.value for a in quick.architectures])
        except InputError:  # rates as a share of a capacity not measured here
            continue
        assert plan.warnings == [], quick.name
