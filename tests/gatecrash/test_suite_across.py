"""Hypotheses across architectures, judged by the suite once both runs are recorded:
their verdict goes into both run folders (verdicts, JUnit, report)."""

from __future__ import annotations

from pathlib import Path

from dashboards.run_reports import write_run_reports
from gatecrash.experiment import Experiment
from gatecrash.runner import RunResult
from gatecrash.suite import SuiteResult, _judge_across
from records import RunWindows, read_run
from tests.gatecrash.recorded import T0, recorded, spaced

WINDOWS = [RunWindows(baseline=(T0, T0 + 2), fault=(T0 + 2, T0 + 6), recovery=(T0 + 6, T0 + 8))]
EXPERIMENT = Experiment.model_validate({
    "name": "x", "claim": "c", "architectures": ["single", "dual"],
    "load": {"mode": "closed", "users": 1, "duration_s": 10},
    "faults": [{"at_s": 3, "for_s": 2, "fault": "kill", "target": {"service": "auth"}}],
    "hypotheses": ["availability@fault[dual] >= availability@fault[single]",
                   "availability@fault >= 0.5"]})


def run(tmp_path: Path, arch: str, failures: int) -> RunResult:
    rows = spaced(T0, T0 + 8, 160) + spaced(T0 + 2.01, T0 + 6, failures, status=0,
                                            error_kind="connect")
    data = recorded(tmp_path, rows, WINDOWS, arch, arch)
    return RunResult(tmp_path / arch, arch, "completed", data=data)


def test_the_verdict_across_goes_into_both_runs(tmp_path: Path) -> None:
    runs = {"single": run(tmp_path, "single", 60), "dual": run(tmp_path, "dual", 0)}
    (verdict,) = _judge_across(EXPERIMENT, runs, ["single", "dual"])
    # As run_suite does once every verdict is in.
    write_run_reports([r.run_dir for r in runs.values()])
    assert (verdict.arch, verdict.verdict, verdict.method) == ("dual vs single", "holds",
                                                               "bootstrap")
    for arch in runs:
        record = read_run(tmp_path / arch)
        assert record.verdicts == [verdict]
        assert "dual vs single" in (tmp_path / arch / "junit.xml").read_text()
        assert "availability@fault[dual]" in (tmp_path / arch / "report.html").read_text()
    suite = SuiteResult(runs=list(runs.values()), across=[verdict])
    assert suite.verdicts == [verdict] and suite.exit_code == 0


def test_nothing_is_judged_across_when_one_architecture_was_not_asked_for(
        tmp_path: Path) -> None:
    assert _judge_across(EXPERIMENT, {"dual": run(tmp_path, "dual", 0)}, ["dual"]) == []
