"""A lost load worker makes the verdicts of the windows it took part in inconclusive,
and only those (pure functions over hand-made records)."""

from __future__ import annotations

import pandas as pd

from dashboards.estimates import RunData
from gatecrash.experiment import Experiment
from gatecrash.loadcheck import load_problems
from gatecrash.verdicts import judge
from records import LoadEvent, WorkerTally

WINDOWS = {"baseline": (100.0, 110.0), "fault": (110.0, 115.0), "recovery": (115.0, 125.0)}
FINE = WorkerTally(worker="gen-a", remote=True, requests=500, rows=500, joined=99.0)
# Killed at about 107 s; its master noticed at 109 s.
LOST = WorkerTally(worker="gen-b", remote=True, state="lost", joined=99.0, lost_at=109.0,
                   lost_why="no heartbeat since 00:00:07", requests=300, rows=260, missing=40)


def note(*workers: WorkerTally) -> LoadEvent:
    requests = sum(w.requests for w in workers)
    rows = sum(w.rows for w in workers)
    return LoadEvent(ts=130.0, workers=list(workers), requests=requests, rows=rows,
                     missing=requests - rows, note="")


def test_a_complete_load_spoils_no_window() -> None:
    assert load_problems(note(FINE), WINDOWS) == {}
    assert load_problems(None, WINDOWS) == {}


def test_a_lost_worker_spoils_the_windows_it_took_part_in() -> None:
    found = load_problems(note(FINE, LOST), WINDOWS)
    assert set(found) == {"baseline"}
    [why] = found["baseline"]
    assert "gen-b" in why and "lost" in why and "40" in why


def test_missing_rows_of_a_finished_worker_spoil_every_window_it_ran_in() -> None:
    short = FINE.model_copy(update={"rows": 490, "missing": 10})
    assert set(load_problems(note(short), WINDOWS)) == set(WINDOWS)


def test_only_hypotheses_reading_a_spoiled_window_become_inconclusive() -> None:
    exp = Experiment.model_validate({
        "name": "w", "claim": "c", "architectures": ["single"],
        "load": {"mode": "closed", "users": 1, "duration_s": 30},
        "faults": [{"at_s": 10, "for_s": 5, "fault": "kill", "target": {"service": "auth"}}],
        "hypotheses": ["count@baseline >= 1", "count@recovery >= 1", "count >= 1"]})
    rows = pd.DataFrame({
        "ts_send": [101.0, 116.0], "ts_intended": [None, None], "ts_end": [101.1, 116.1],
        "latency_ms": [100.0, 100.0], "latency_corrected_ms": [None, None],
        "status": [200, 200], "error_kind": [None, None], "domain": ["identity"] * 2,
        "endpoint": ["identity.profile"] * 2, "method": ["GET"] * 2,
        "route": ["primary"] * 2, "instance": ["auth-1"] * 2, "gateway": ["gw"] * 2,
        "entry": [None] * 2, "failover": [False] * 2,
        "stream": [False] * 2, "ttft_ms": [None] * 2, "tpot_ms": [None] * 2,
        "itl_mean_ms": [None] * 2, "itl_max_ms": [None] * 2, "e2e_ms": [None] * 2,
        "tokens_out": [None] * 2, "response_bytes": [10, 10], "worker": ["gen-a", "gen-b"]})
    verdicts = judge(exp, "single", RunData.of(rows, WINDOWS), [],
                     window_problems=load_problems(note(FINE, LOST), WINDOWS))
    words = {v.hypothesis: (v.verdict, v.detail) for v in verdicts}
    assert words["count@recovery >= 1"][0] == "holds"
    for spoiled in ("count@baseline >= 1", "count >= 1"):  # no window: the whole run
        word, detail = words[spoiled]
        assert word == "inconclusive" and "gen-b" in detail


def test_a_run_level_metric_reads_the_windows_it_rests_on() -> None:
    exp = Experiment.model_validate({
        "name": "w", "claim": "c", "architectures": ["single"],
        "load": {"mode": "closed", "users": 1, "duration_s": 30},
        "faults": [{"at_s": 10, "for_s": 5, "fault": "kill", "target": {"service": "auth"}}],
        "hypotheses": ["time_to_failover_s <= 1", "time_to_recover_s <= 1",
                       "requests_lost <= 0"]})
    spoiled = {"recovery": ["recovery: host CPU saturated in second 16"]}
    rows = pd.DataFrame({"ts_send": [101.0], "status": [200]})
    verdicts = judge(exp, "single", RunData.of(rows, WINDOWS), [], window_problems=spoiled)
    details = {v.hypothesis: v.detail for v in verdicts}
    # A restart burst in the recovery leaves the failover (fault window) judged...
    assert "saturated" not in details["time_to_failover_s <= 1"]
    # ...and voids what rests on the recovery.
    assert "saturated" in details["time_to_recover_s <= 1"]
    assert "saturated" in details["requests_lost <= 0"]
