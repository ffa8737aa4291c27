import json
from pathlib import Path

import pytest

from dashboards.claims import claim_of
from dashboards.errors import RunFolderError
from dashboards.runs import Verdict, list_runs, load_run, overall_verdict
from tests.dashboards.runfolders import T0, RunSpec, make_run


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
    assert [f.label for f in load_run(runs_root / "dual-1").faults] == ["kill gateway-business"]


def test_cpu_samples(runs_root: Path) -> None:
    assert load_run(runs_root / "dual-1").cpu["host_pct"].max() == 95.0


def test_verdicts(runs_root: Path) -> None:
    assert [v.verdict for v in load_run(runs_root / "dual-1").verdicts] == ["holds", "inconclusive"]


def test_list_runs_newest_first(tmp_path: Path) -> None:
    make_run(tmp_path, RunSpec(run_id="old"))
    newer = make_run(tmp_path / "group", RunSpec(run_id="new"))
    meta = json.loads((newer / "meta.json").read_text())
    (newer / "meta.json").write_text(json.dumps({**meta, "started": T0 + 100}))
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
    (run_dir / "rows" / "part-99999.parquet").write_bytes(b"PAR1 half written")
    run = load_run(run_dir)
    assert (len(run.rows), "part-99999" in run.problems[0]) == (1800, True)


def test_run_without_rows_loads_empty(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec())
    (run_dir / "rows.parquet").unlink()
    assert load_run(run_dir).rows.empty


def test_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match=r"neither meta\.json nor rows"):
        load_run(tmp_path)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="not a directory"):
        load_run(tmp_path / "nope")


def test_verdict_field_aliases(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec())
    aliased = [{"expression": "requests_lost <= 0", "outcome": "pass", "value": 0, "expected": 0}]
    (run_dir / "verdicts.json").write_text(json.dumps({"verdicts": aliased}))
    verdict = load_run(run_dir).verdicts[0]
    assert (verdict.hypothesis, verdict.verdict, verdict.measured) == (
        "requests_lost <= 0",
        "holds",
        0.0,
    )


def _v(word: str) -> Verdict:
    return Verdict("h", word, None, None, "", "", "")


def test_overall_verdict_fails_wins() -> None:
    assert overall_verdict([_v("holds"), _v("fails"), _v("inconclusive")]) == "fails"


def test_overall_verdict_inconclusive_over_holds() -> None:
    assert overall_verdict([_v("holds"), _v("inconclusive")]) == "inconclusive"


def test_overall_verdict_none() -> None:
    assert overall_verdict([]) == "none"


def test_claim_from_experiment_name() -> None:
    assert claim_of({"experiment": "c4-replica-kill"}) == "C4"


def test_claim_from_claim_id() -> None:
    assert claim_of({"claim_id": "c9", "experiment": "router"}) == "C9"


def test_claim_text_is_not_an_id() -> None:
    assert claim_of({"claim": "une panne...", "experiment": "smoke"}) is None
