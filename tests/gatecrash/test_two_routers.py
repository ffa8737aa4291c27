"""C9 end to end: two routers, the load generator failing over between them (local runtime)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gatecrash.experiment import load_experiment
from gatecrash.suite import run_suite
from records import read_run
from tests.gatecrash.test_runs import stack_processes

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

EXPERIMENT = Path(__file__).resolve().parents[2] / "experiments" / "c9-two-routers.yaml"


def test_killing_one_of_two_routers_fails_the_client_over_to_the_other(tmp_path: Path) -> None:
    # The failover is under test, not this shared machine: a saturated second would
    # leave the verdicts "not judged" (the check itself is tested in test_verdicts).
    experiment = load_experiment(EXPERIMENT).model_copy(update={"require_unsaturated": False})
    result = run_suite([experiment], tmp_path / "runs")
    assert result.errors == []
    (run,) = result.runs
    record = read_run(run.run_dir)
    assert record.meta.status == "completed" and record.problems == []
    (fault,) = record.faults
    assert fault.targets == ["router-1"] and fault.proof and fault.proof.ok
    rows = record.rows
    # Both routers served before the kill: the users are spread over the entry points.
    before = rows[rows["ts_send"] < fault.start]
    assert set(before["entry"]) == {"router-1", "router-2"}
    # While router-1 is down every request ends at router-2, some after a failover.
    start = fault.effective or fault.start
    during = rows[(rows["ts_send"] >= start) & (rows["ts_send"] < fault.end)]
    assert len(during) > 20 and set(during["entry"]) == {"router-2"}
    assert rows["failover"].sum() >= 1
    assert set(rows.loc[rows["failover"], "entry"]) == {"router-2"}
    # Every hypothesis was computed, with its interval and n.
    assert len(run.verdicts) == len(experiment.hypotheses)
    for verdict in run.verdicts:
        assert verdict.verdict in ("holds", "fails", "inconclusive"), verdict
        assert verdict.value is not None and verdict.n, verdict
    availability = run.verdicts[0]
    assert availability.hypothesis.startswith("with a second router")
    # The failover at work: (almost) everything answered, where one router gives ~0.
    assert availability.value is not None and availability.value >= 0.9, availability
    assert stack_processes(Path(os.environ["GATECRASH_HOME"])) == []
