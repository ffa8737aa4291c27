"""Reports written from synthetic run folders of a gateway kill."""

import re
from pathlib import Path

import pytest

from dashboards.evidence import write_evidence_report
from dashboards.figures import comparison_figure
from dashboards.panels import run_panels
from dashboards.report import write_comparison, write_run_report
from dashboards.runs import load_run
from tests.dashboards.runfolders import FAULT_LABEL, RunSpec, make_run

SMALL_REPORT_BYTES = 6_000_000
BIG_REPORT_BYTES = 15_000_000
# The banner at the top of the inlined bundle (full or basic build).
PLOTLY_JS_MARKER = "* plotly.js ("


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("runs")
    make_run(base, RunSpec(run_id="dual-1", arch="dual", open_loop=True))
    make_run(base, RunSpec(run_id="single-1", arch="single", parts=3))
    return base


@pytest.fixture(scope="module")
def run_report(root: Path) -> str:
    return write_run_report(root / "dual-1").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def comparison(root: Path) -> str:
    return write_comparison(root / "single-1", root / "dual-1", root).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def evidence(root: Path) -> str:
    out = root / "suite" / "evidence.html"
    return write_evidence_report([root / "single-1", root / "dual-1"], out).read_text("utf-8")


def self_contained(page: str) -> bool:
    return PLOTLY_JS_MARKER in page and not re.search(r"<script[^>]+src=", page)


def test_run_report_written_in_run_folder(root: Path, run_report: str) -> None:
    assert (root / "dual-1" / "report.html").is_file()


def test_run_report_self_contained(run_report: str) -> None:
    assert self_contained(run_report)


def test_run_report_plotly_js_once(run_report: str) -> None:
    assert run_report.count(PLOTLY_JS_MARKER) == 1


def test_run_report_labels_the_fault(run_report: str) -> None:
    assert FAULT_LABEL in run_report


def test_run_report_scorecard(run_report: str) -> None:
    assert '<span class="badge inconclusive">inconclusive</span>' in run_report
    # Each hypothesis: its estimate with the interval, n, verdict and reason.
    header = "<th>estimate [interval]</th><th>n</th><th>verdict</th><th>reason</th>"
    assert header in run_report
    assert ("availability{domain=identity}@fault = 100.00 % [94.50 %, 100.00 %] &gt;= "
            "99.90 % (Wilson 95 %)") in run_report
    assert "<td class='n'>66</td>" in run_report


def test_run_report_window_tables_show_intervals(run_report: str) -> None:
    assert re.search(r"<br><small>\[\d+\.\d\d %, \d+\.\d\d %\]</small>", run_report)


def test_run_report_fault_metrics(run_report: str) -> None:
    assert "time to failover" in run_report and "requests lost" in run_report


def test_run_report_corrected_latency_in_open_loop(run_report: str) -> None:
    assert "p99_corrected_ms" in run_report


def test_run_report_cpu_saturation_marked(run_report: str) -> None:
    assert "host_pct saturated" in run_report


def test_run_report_chat_panels(run_report: str) -> None:
    assert "time to first token" in run_report


def test_run_report_size_bounded(run_report: str) -> None:
    assert len(run_report.encode()) < SMALL_REPORT_BYTES


def test_report_of_run_without_rows(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec(status="aborted"))
    for part in (run_dir / "rows").iterdir():
        part.unlink()
    assert "No requests were recorded" in write_run_report(run_dir).read_text("utf-8")


def test_comparison_self_contained(comparison: str) -> None:
    assert self_contained(comparison)


def test_comparison_spells_out_differences(comparison: str) -> None:
    assert "availability{domain=identity}@fault" in comparison and "dual better" in comparison


def test_comparison_names_both_architectures(comparison: str) -> None:
    assert "single vs dual" in comparison


def test_comparison_shares_y_scales(root: Path) -> None:
    runs = [load_run(root / "single-1"), load_run(root / "dual-1")]
    fig = comparison_figure(runs, [run_panels(r) for r in runs], ["single", "dual"])
    assert fig.layout.yaxis2.matches == "y"


def test_evidence_self_contained(evidence: str) -> None:
    assert self_contained(evidence)


def test_evidence_links_run_reports(evidence: str) -> None:
    assert "href='../dual-1/report.html'" in evidence


def test_evidence_lists_every_claim(evidence: str) -> None:
    assert all(f"<td>C{i}</td>" in evidence for i in range(1, 10))


def test_evidence_shows_each_hypothesis_with_its_interval(evidence: str) -> None:
    assert "availability{domain=identity}@fault = 0.00 % [0.00 %, 5.50 %]" in evidence
    assert "n=66" in evidence


def test_evidence_marks_claims_not_run(evidence: str) -> None:
    assert "not run" in evidence


def test_evidence_creates_missing_run_reports(root: Path, evidence: str) -> None:
    assert (root / "single-1" / "report.html").is_file()


@pytest.mark.slow
def test_ten_minute_run_report_under_15_mb(tmp_path: Path) -> None:
    spec = RunSpec(run_id="big", seconds=600, rps=840, open_loop=True, parts=10)
    report = write_run_report(make_run(tmp_path, spec))
    assert report.stat().st_size < BIG_REPORT_BYTES
