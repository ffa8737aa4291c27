"""The CI entry points end to end, on real stacks: the pytest plugin, `gatecrash
gate` and `gatecrash evidence` (tiny experiments, see tiny.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from .test_runs import stack_processes
from .tiny import FAILS, HOLDS, INCONCLUSIVE, write_experiment

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow

CLI_TIMEOUT_S = 240
JUNIT_OUTCOME = {HOLDS: "passed", INCONCLUSIVE: "skipped", FAILS: "failure"}


def gatecrash(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gatecrash.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


def junit_cases(path: Path) -> dict[str, str]:
    """testcase name -> passed | failure | skipped | error."""
    cases = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome = next((c.tag for c in case if c.tag in ("failure", "skipped", "error")),
                       "passed")
        cases[case.get("name", "")] = outcome
    return cases


def expected_cases(hypotheses: list[str]) -> dict[str, str]:
    return {f"[single] {h}": JUNIT_OUTCOME[h] for h in hypotheses}


def no_stack_left() -> None:
    assert stack_processes(Path(os.environ["GATECRASH_HOME"])) == []


def test_pytest_plugin_runs_experiment_files_as_items(pytester: pytest.Pytester,
                                                      tmp_path: Path) -> None:
    write_experiment(pytester.path, "holds", [HOLDS])
    write_experiment(pytester.path, "fails", [HOLDS, FAILS])
    junit = tmp_path / "pytest.xml"
    result = pytester.runpytest("--gatecrash-runs", str(tmp_path / "runs"),
                                f"--junitxml={junit}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*a hypothesis failed*", "*FAILS*count@baseline < 0*"])
    assert junit_cases(junit) == {"holds[single]": "passed", "fails[single]": "failure"}
    assert sorted(p.name.split("-", 2)[2] for p in (tmp_path / "runs").iterdir()) == \
        ["fails-single", "holds-single"]
    no_stack_left()


# One run per file; files of one gate share a stack.
@pytest.mark.parametrize(("files", "code"), [
    ({"all-hold": [HOLDS]}, 0),
    ({"one-inconclusive": [HOLDS, INCONCLUSIVE]}, 3),
    ({"one-inconclusive": [HOLDS, INCONCLUSIVE], "one-fails": [FAILS]}, 1),
], ids=["holds-0", "inconclusive-3", "fails-1"])
def test_gate_exit_code_and_junit(tmp_path: Path, files: dict[str, list[str]],
                                  code: int) -> None:
    paths = [write_experiment(tmp_path, name, hyps) for name, hyps in files.items()]
    junit = tmp_path / "gate.xml"
    done = gatecrash("gate", *paths, "--out", tmp_path / "runs", "--junit", junit)
    assert done.returncode == code, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"junit: {junit}" in done.stdout
    assert junit_cases(junit) == expected_cases([h for hs in files.values() for h in hs])
    # One testsuite per run, named after its run folder.
    suites = [s.get("name", "") for s in ET.parse(junit).getroot().iter("testsuite")]
    assert sorted(s.split("-", 2)[2] for s in suites) == sorted(f"{n}-single" for n in files)
    no_stack_left()


def test_evidence_writes_report_and_junit(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    write_experiment(suite, "c1-tiny", [HOLDS, INCONCLUSIVE], claim_id="C1")
    write_experiment(suite, "other", [FAILS])  # not c*.yaml: not part of the suite
    out = tmp_path / "runs"
    done = gatecrash("evidence", "--quick", "--suite", suite, "--out", out)
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr[-2000:]
    [report] = out.glob("evidence-*.html")
    [junit] = out.glob("evidence-*.junit.xml")
    assert f"evidence report: {report}" in done.stdout
    assert "c1-tiny" in report.read_text()
    assert junit_cases(junit) == expected_cases([HOLDS, INCONCLUSIVE])
    assert [p.name.split("-", 2)[2] for p in out.glob("*-single")] == ["c1-tiny-single"]
    no_stack_left()


def test_evidence_without_a_suite_is_a_one_line_error(tmp_path: Path) -> None:
    done = gatecrash("evidence", "--quick", "--suite", tmp_path, "--out", tmp_path / "runs")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == \
        [f"gatecrash: error: no claims suite (c*.yaml) in {tmp_path}; pass --suite DIR"]
