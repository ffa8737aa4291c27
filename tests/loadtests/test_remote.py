"""Remote load workers: a master and two `gatecrash worker` processes, each in its own
folder, talking over 127.0.0.1 only; every row comes back to the master's run folder."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests import LoadSpec, MasterAddress, RemoteWorkers, start_load
from records import read_rows
from tests.loadtests.fake_service import FAKE_API_KEY
from tests.loadtests.workers import WorkerHost, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SKEW_S = 40.0
# Measured over loopback the estimate is within a few ms; this bounds a loaded host.
CLOCK_TOLERANCE_MS = 250.0
RATE, DURATION_S = 120, 5
JOIN_TIMEOUT_S = 60
RUN_MARGIN_S = 60.0
# Frozen well past Locust's heartbeat liveness (3 beats of 1 s).
STALL_AFTER_S, STALL_S = 2.0, 6.0


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[list[WorkerHost]]:
    made: list[WorkerHost] = []
    yield made
    for host in made:
        if host.proc.poll() is None:
            host.kill()


def test_two_remote_workers_bring_back_every_row(fake_url: str, tmp_path: Path,
                                                  hosts: list[WorkerHost]) -> None:
    master = MasterAddress("127.0.0.1", free_port())
    run_dir = tmp_path / "run"
    spec = LoadSpec(mode="open", rate=RATE, duration_s=DURATION_S, max_users=20, seed=5)
    before = time.time()
    with start_load(spec, fake_url, FAKE_API_KEY, run_dir,
                    remote=RemoteWorkers(2, master, JOIN_TIMEOUT_S)) as run:
        hosts.append(WorkerHost(master, "gen-a", tmp_path / "hosts", tmp_path / "a.log"))
        # This one's clock runs 40 s ahead: its rows must still land on the master's axis.
        hosts.append(WorkerHost(master, "gen-b", tmp_path / "hosts", tmp_path / "b.log",
                                skew_s=SKEW_S))
        run.wait_started(JOIN_TIMEOUT_S)
        assert run.wait(DURATION_S + RUN_MARGIN_S) == 0, run.log_tail()
    after = time.time()
    assert [h.wait() for h in hosts] == [0, 0], [h.tail() for h in hosts]

    rows = read_rows(run_dir)
    note = run.tally(rows)
    # Every request a worker reported is a row in the master's folder, and no more.
    assert note.rows == note.requests == len(rows) > 0 and note.missing == 0, note.note
    assert f"{len(rows)} rows in the run folder = {len(rows)} requests" in note.note
    by_name = {w.worker: w for w in note.workers}
    assert set(by_name) == {"gen-a", "gen-b"}
    assert {w.share for w in note.workers} == {0, 1}
    assert all(w.remote and w.state == "finished" and w.rows == w.requests > 0
               for w in note.workers)
    # The plan is split between them, and what each did not send it dropped.
    assert note.planned == RATE * DURATION_S
    assert sum(w.intended or 0 for w in note.workers) == note.planned
    assert all(w.requests + w.dropped == w.intended for w in note.workers)
    assert all(w.lag_p50_ms is not None for w in note.workers)
    # The skew was measured at join and taken out of the rows.
    assert by_name["gen-b"].clock_offset_ms == pytest.approx(-SKEW_S * 1000,
                                                            abs=CLOCK_TOLERANCE_MS)
    assert abs(by_name["gen-a"].clock_offset_ms or 0.0) < CLOCK_TOLERANCE_MS
    for column in ("ts_send", "ts_intended", "ts_end"):
        assert rows[column].between(before, after).all(), column
    # No shared folder: the workers wrote nothing where they ran.
    assert [h.leftovers() for h in hosts] == [[], []]


def test_a_stalled_worker_that_delivers_every_row_is_not_lost(
        fake_url: str, tmp_path: Path, hosts: list[WorkerHost]) -> None:
    """A host frozen longer than Locust's heartbeat liveness (~3 s) is first taken for
    lost; heard again before the end, it is drained and nothing of it is missing."""
    master = MasterAddress("127.0.0.1", free_port())
    run_dir = tmp_path / "run"
    spec = LoadSpec(mode="open", rate=60, duration_s=8, max_users=10, seed=6)
    with start_load(spec, fake_url, FAKE_API_KEY, run_dir,
                    remote=RemoteWorkers(2, master, JOIN_TIMEOUT_S)) as run:
        for name in ("gen-a", "gen-b"):
            hosts.append(WorkerHost(master, name, tmp_path / "hosts", tmp_path / f"{name}.log"))
        run.wait_started(JOIN_TIMEOUT_S)
        time.sleep(STALL_AFTER_S)
        hosts[1].signal(signal.SIGSTOP)
        time.sleep(STALL_S)
        hosts[1].signal(signal.SIGCONT)
        assert run.wait(spec.duration_s + RUN_MARGIN_S) == 0, run.log_tail()
    assert [h.wait() for h in hosts] == [0, 0], [h.tail() for h in hosts]
    note = run.tally(read_rows(run_dir))
    assert note.rows == note.requests > 0 and note.missing == 0, note.note
    stalled = {w.worker: w for w in note.workers}["gen-b"]
    assert stalled.state == "finished" and stalled.lost_at is None
    assert (stalled.lost_why or "").startswith("recovered after: no heartbeat"), note.note
    # What it could not send while frozen, it dropped (late beyond max_lag_s), not lost.
    assert stalled.dropped > 0 and stalled.requests + stalled.dropped == stalled.intended
