"""C11 end to end on local stacks: a tenant floods business past its quota while its
identity traffic goes on; single's one counter refuses identity too, dual's domain
gateways do not (seed 000 §3, "règles spécifiques par domaine")."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatecrash.experiment import load_experiment
from gatecrash.suite import run_suite
from records import read_run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

C11 = Path(__file__).resolve().parents[2] / "experiments" / "c11-domain-quotas.yaml"
IDENTITY_KEPT = "identity keeps its quota in dual (its own rule, its own counter)"


def test_the_flood_spends_identity_quota_in_single_only(tmp_path: Path) -> None:
    # Facts of the rows are under test here, not this shared machine's CPU.
    experiment = load_experiment(C11).model_copy(update={"require_unsaturated": False})
    result = run_suite([experiment], tmp_path / "runs")
    assert result.errors == []
    refused: dict[str, dict[str, int]] = {}
    for run in result.runs:
        record = read_run(run.run_dir)
        rows = record.rows
        start, end = record.trials[0]["fault"]
        fault = rows[(rows["ts_send"] >= start) & (rows["ts_send"] < end)]
        refused[run.arch] = {domain: int(((fault["domain"] == domain)
                                          & (fault["status"] == 429)).sum())
                             for domain in ("identity", "business")}
        assert (fault["domain"] == "identity").sum() > 0
    assert refused["single"]["business"] > 0 and refused["dual"]["business"] > 0
    assert refused["single"]["identity"] > 0
    assert refused["dual"]["identity"] == 0
    kept = next(v for v in result.verdicts if v.arch == "dual" and v.hypothesis == IDENTITY_KEPT)
    assert kept.verdict == "holds", kept
