from pathlib import Path

import pytest

from dashboards.claims import claim_of
from dashboards.errors import RunFolderError
from dashboards.runs import list_runs, load_run
from records import RECORD_VERSION, RunMeta
from tests.dashboards.runfolders import FAULT_LABEL, T0, RunSpec, make_run


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    make_run(root, RunSpec(run_id="dual-1", arch="dual"))
    make_run(root, RunSpec(run_id="single-1", arch="single", parts=3))
    return root


def test_load_run_reads_meta(runs_root: Path) -> None:
    assert load_run(runs_root / "dual-1").arch == "dual"


def test_load_run_rows_are_classified(runs_root: Path) -> None:
    assert {"available", "failed", "degraded"} <= set(load_run(runs_root / "dual-1").rows.columns)


def test_rows_from_parts(runs_root: Path) -> None:
    assert len(load_run(runs_root / "single-1").rows) == 30 * 60


def test_windows_from_meta(runs_root: Path) -> None:
    assert load_run(runs_root / "dual-1").windows["fault"] == (T0 + 10, T0 + 20)


def test_fault_events(runs_root: Path) -> None:
    assert [f.label for f in load_run(runs_root / "dual-1").faults] == [FAULT_LABEL]


def test_cpu_samples(runs_root: Path) -> None:
    assert load_run(runs_root / "dual-1").cpu["host_pct"].max() == 95.0


def test_verdicts(runs_root: Path) -> None:
    assert [v.verdict for v in load_run(runs_root / "dual-1").verdicts] == ["holds", "inconclusive"]


def test_list_runs_newest_first(tmp_path: Path) -> None:
    make_run(tmp_path, RunSpec(run_id="old"))
    make_run(tmp_path / "group", RunSpec(run_id="new", started=T0 + 100))
    assert [r.run_id for r in list_runs(tmp_path)] == ["group/new", "old"]


def test_list_runs_overall_verdict(runs_root: Path) -> None:
    assert {r.run_id: r.verdict for r in list_runs(runs_root)} == {
        "dual-1": "inconclusive",
        "single-1": "fails",
    }


def test_list_runs_of_missing_root(tmp_path: Path) -> None:
    assert list_runs(tmp_path / "nope") == []


def test_truncated_event_line_is_skipped(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec())
    with (run_dir / "events.jsonl").open("a") as events:
        events.write('{"kind": "fau')
    assert "events.jsonl:3" in load_run(run_dir).problems[0]


def test_unreadable_rows_part_is_skipped(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec(parts=2))
    (run_dir / "rows" / "part-w1-99999.parquet").write_bytes(b"PAR1 half written")
    run = load_run(run_dir)
    assert (len(run.rows), "part-w1-99999" in run.problems[0]) == (1800, True)


def test_run_without_rows_loads_empty(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec())
    for part in (run_dir / "rows").iterdir():
        part.unlink()
    assert load_run(run_dir).rows.empty


def test_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match=r"no meta\.json"):
        load_run(tmp_path)


def test_other_record_version_is_refused_and_listed_as_unreadable(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec())
    meta = run_dir / "meta.json"
    meta.write_text(meta.read_text().replace(
        f'"record_version": {RECORD_VERSION}', '"record_version": 99'))
    with pytest.raises(RunFolderError, match="record version 99"):
        load_run(run_dir)
    (summary,) = list_runs(tmp_path)
    assert (summary.status, "re-run" in (summary.problem or "")) == ("unreadable", True)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="not a directory"):
        load_run(tmp_path / "nope")


def test_verdicts_not_written_by_the_writer_are_refused(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec())
    other = '[{"expression": "requests_lost <= 0", "outcome": "pass", "value": 0}]'
    (run_dir / "verdicts.json").write_text(other)
    with pytest.raises(RunFolderError, match=r"verdicts\.json: not a run record"):
        load_run(run_dir)


def _meta(experiment: str, claim_id: str | None = None) -> RunMeta:
    return RunMeta(run_id="r", experiment=experiment, claim="une panne...", claim_id=claim_id,
                   arch="dual", seed=1, load_mode="closed", started=T0)


def test_claim_from_experiment_name() -> None:
    assert claim_of(_meta("c4-replica-kill")) == "C4"


def test_claim_from_claim_id() -> None:
    assert claim_of(_meta("router", claim_id="c9")) == "C9"


def test_claim_text_is_not_an_id() -> None:
    assert claim_of(_meta("smoke")) is None
