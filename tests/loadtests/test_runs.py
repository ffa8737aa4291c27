"""Real short Locust runs against the fake service (each a few seconds)."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pytest

from loadtests import (
    ChatOptions,
    EntryTarget,
    HostNotAllowedError,
    LoadError,
    LoadRun,
    LoadSpec,
    Mix,
    start_load,
)
from records import COLUMNS, read_rows
from tests.loadtests.conftest import SLOW_DELAY_S
from tests.loadtests.fake_service import FAKE_API_KEY

pytestmark = pytest.mark.timeout(90)

RUN_MARGIN_S = 25.0
# Fake chat timing (see fake_service): first content chunk after TTFT, then one per ITL.
TTFT_S, ITL_S, TOKENS, CUT_EVERY, CUT_AFTER, WHOLE_EVERY = 0.2, 0.05, 5, 3, 2, 4
FAKE_MODEL = (f"fake:ttft={TTFT_S}:itl={ITL_S}:cut_every={CUT_EVERY}:cut_after={CUT_AFTER}"
              f":whole_every={WHOLE_EVERY}")


def _run_to_end(spec: LoadSpec, url: str, out: Path) -> tuple[LoadRun, pd.DataFrame]:
    with start_load(spec, url, FAKE_API_KEY, out) as run:
        rc = run.wait(spec.duration_s + RUN_MARGIN_S)
        assert rc == 0, run.log_tail()
    return run, read_rows(out)


# -- closed loop, all domains, streams with known timing and cuts -------------------


@pytest.fixture(scope="module")
def closed_run(fake_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadRun,
                                                                                   pd.DataFrame]:
    spec = LoadSpec(mode="closed", users=4, duration_s=3, wait_min_s=0.0, wait_max_s=0.05,
                    seed=3, chat=ChatOptions(model=FAKE_MODEL, max_tokens=TOKENS))
    return _run_to_end(spec, fake_url, tmp_path_factory.mktemp("closed"))


def test_rows_land_in_parquet_with_contract_columns(closed_run: Any) -> None:
    _, rows = closed_run
    assert len(rows) > 10 and tuple(rows.columns) == COLUMNS
    assert str(rows["status"].dtype) == "int32" and str(rows["tokens_out"].dtype) == "Int32"
    assert set(rows["domain"]) == {"identity", "business", "chat"}
    assert rows["ts_intended"].isna().all() and rows["latency_corrected_ms"].isna().all()
    assert (rows["ts_end"] >= rows["ts_send"]).all()
    # float64 unix seconds resolve ~0.25 µs, hence the absolute tolerance
    assert np.allclose((rows["ts_end"] - rows["ts_send"]) * 1000, rows["latency_ms"], atol=1e-3)


def test_response_headers_are_captured(closed_run: Any) -> None:
    _, rows = closed_run
    answered = rows[rows["status"] > 0]
    assert set(answered["instance"]) == {"fake-1", "fake-2"}
    assert set(answered["gateway"]) == {"fake-gw"}
    assert set(answered.loc[answered["endpoint"] == "articles.get", "route"]) <= {"cache-hit"}
    assert (answered.loc[answered["endpoint"] == "orders.list", "route"] == "primary").all()


def test_stream_metrics_match_the_fakes_timing(closed_run: Any) -> None:
    _, rows = closed_run
    done = rows[(rows["endpoint"] == "chat.stream") & rows["error_kind"].isna()
                & rows["ttft_ms"].notna()]
    assert len(done) >= 2 and done["stream"].all()
    assert (done["tokens_out"] == TOKENS).all()
    # Lower bounds are physics (the fake sleeps at least that long); upper bounds
    # leave room for a busy 2-core host.
    assert TTFT_S * 1000 * 0.97 <= done["ttft_ms"].median() <= TTFT_S * 1000 * 1.6
    assert ITL_S * 1000 * 0.9 <= done["itl_mean_ms"].median() <= ITL_S * 1000 * 1.8
    assert np.allclose(done["tpot_ms"], done["itl_mean_ms"])  # one token per chunk
    assert (done["itl_max_ms"] >= done["itl_mean_ms"]).all()
    expected_e2e = (TTFT_S + (TOKENS - 1) * ITL_S) * 1000
    assert (done["e2e_ms"] >= expected_e2e * 0.95).all()
    assert (done["latency_ms"] >= done["e2e_ms"]).all()


def test_a_stream_cut_midway_is_recorded_as_stream_cut(closed_run: Any) -> None:
    _, rows = closed_run
    chat = rows[rows["endpoint"] == "chat.stream"]
    cut = chat[chat["error_kind"] == "stream_cut"]
    assert len(cut) >= 1 and (cut["status"] == 200).all()
    assert (cut["tokens_out"] == CUT_AFTER).all() and cut["ttft_ms"].notna().all()
    assert set(chat["error_kind"].dropna()) == {"stream_cut"}


def test_a_whole_answer_to_a_stream_request_is_no_cut(closed_run: Any) -> None:
    _, rows = closed_run
    whole = rows[(rows["endpoint"] == "chat.stream") & rows["ttft_ms"].isna()
                 & rows["error_kind"].isna()]
    assert len(whole) >= 1 and whole["stream"].all()
    assert (whole["tokens_out"] == TOKENS).all() and whole["e2e_ms"].notna().all()


def test_live_stats_final_totals_match_rows(closed_run: Any) -> None:
    run, rows = closed_run
    live = run.live()
    assert live.final and live.workers == 1 and live.requests == len(rows)
    assert live.rejected == int((rows["status"] == 429).sum()) >= 1
    failed = rows["error_kind"].notna() & (rows["status"] != 429)
    assert live.failures == int(failed.sum())


# -- open loop -------------------------------------------------------------------


def test_open_loop_schedule_and_corrected_latency(fake_url: str, tmp_path: Path) -> None:
    rate, duration = 20.0, 3
    spec = LoadSpec(mode="open", rate=rate, duration_s=duration, max_users=5,
                    mix=Mix(chat=0))
    run, rows = _run_to_end(spec, fake_url, tmp_path)
    # The run ends when the schedule is answered: every arrival is a row or dropped.
    assert len(rows) + run.live().dropped == rate * duration
    intended = np.sort(rows["ts_intended"].to_numpy())
    slots = (intended - intended[0]) * rate
    assert np.allclose(slots, slots.round(), atol=1e-4)  # on the fixed 1/rate grid
    if run.live().dropped == 0:  # a fast fake and a pool of 5: no gaps expected
        assert np.allclose(np.diff(intended), 1 / rate, atol=1e-6)
    assert (rows["ts_send"] >= rows["ts_intended"]).all()
    assert (rows["latency_corrected_ms"] >= rows["latency_ms"]).all()


def test_open_loop_counts_dropped_arrivals_apart(slow_fake_url: str, tmp_path: Path) -> None:
    rate, pool, max_lag = 30.0, 2, 0.3  # the pool can serve pool / SLOW_DELAY_S = 10 req/s
    spec = LoadSpec(mode="open", rate=rate, duration_s=3, max_users=pool, max_lag_s=max_lag,
                    mix=Mix(chat=0, business=0))
    run, rows = _run_to_end(spec, slow_fake_url, tmp_path)
    live = run.live()
    assert live.dropped >= rate * 3 * 0.3
    assert len(rows) + live.dropped == rate * 3
    assert live.failures == 0  # dropped arrivals are not failures of the system under test
    lag = rows["latency_corrected_ms"] - rows["latency_ms"]
    assert (lag >= 0).all() and lag.max() <= (max_lag + SLOW_DELAY_S) * 1000
    assert lag.max() > 50  # late sends kept their intended time
    slots = (rows["ts_intended"] - rows["ts_intended"].min()) * rate
    assert np.allclose(slots, slots.round(), atol=1e-4)  # still on the fixed schedule


# -- stop, master/worker, guard ------------------------------------------------------


def _parts(run: LoadRun) -> list[str]:
    return sorted(p.name for p in run.rows_path.glob("part-*.parquet"))


def test_sigint_midrun_keeps_flushed_rows_and_leaves_nothing(fake_url: str,
                                                             tmp_path: Path) -> None:
    spec = LoadSpec(mode="closed", users=3, duration_s=60, wait_min_s=0.01, wait_max_s=0.05,
                    mix=Mix(chat=0))
    run = start_load(spec, fake_url, FAKE_API_KEY, tmp_path)
    try:
        run.wait_started(timeout_s=20)
        deadline = time.monotonic() + 15
        while len(_parts(run)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        before = _parts(run)
        assert before, "rows are flushed while the run goes"
        pids = run.pids
        t0 = time.monotonic()
        rc = run.stop()
        assert time.monotonic() - t0 < 15
    finally:
        run.stop()
    assert rc == 0, run.log_tail()
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                   for p in pids)
    assert set(before) <= set(_parts(run))
    rows, live = read_rows(tmp_path), run.live()
    assert live.final and len(rows) == live.requests > 0


def test_processes_2_uses_locust_master_and_workers(fake_url: str, tmp_path: Path) -> None:
    rate, duration = 20.0, 3
    spec = LoadSpec(mode="open", rate=rate, duration_s=duration, max_users=4, processes=2,
                    mix=Mix(chat=0))
    with start_load(spec, fake_url, FAKE_API_KEY, tmp_path) as run:
        run.wait_started(timeout_s=30)
        pids = run.pids
        assert len(pids) == 3  # master + 2 workers
        # Ends when both workers report their share answered, long before Locust's bound.
        assert spec.run_time_limit_s > duration + RUN_MARGIN_S
        assert run.wait(duration + RUN_MARGIN_S) == 0, run.log_tail()
    rows, live = read_rows(tmp_path), run.live()
    assert live.workers == 2 and live.final and live.requests == len(rows)
    assert len(rows) + live.dropped == rate * duration
    for _, share in rows.groupby("worker"):  # worker i takes arrivals k ≡ i (mod 2)
        assert len(share) >= rate * duration / 2 * 0.8
        assert np.allclose(np.diff(np.sort(share["ts_intended"].to_numpy())), 2 / rate,
                           atol=1e-6)
    # The closing note: forked workers report like remote ones, shares add up to the plan.
    note = run.tally(rows)
    assert note.rows == note.requests == len(rows) and note.missing == 0
    assert note.planned == rate * duration
    assert [w.remote for w in note.workers] == [False, False]
    assert sum(w.intended or 0 for w in note.workers) == note.planned
    assert all(w.requests + w.dropped == w.intended for w in note.workers)


def test_host_guard_refuses_other_hosts_before_starting(tmp_path: Path) -> None:
    spec = LoadSpec(mode="closed", users=1, duration_s=1)
    with pytest.raises(HostNotAllowedError, match=r"10\.0\.0\.1"):
        start_load(spec, "http://10.0.0.1:8000", FAKE_API_KEY, tmp_path)
    assert not (tmp_path / "load").exists()


def test_a_run_folder_with_rows_is_not_reused(tmp_path: Path) -> None:
    (tmp_path / "rows").mkdir()
    (tmp_path / "rows" / "part-x-1-00000.parquet").write_bytes(b"")
    with pytest.raises(LoadError, match="already holds rows"):
        start_load(LoadSpec(mode="closed", users=1, duration_s=1), "http://127.0.0.1:9",
                   FAKE_API_KEY, tmp_path)


# -- several entry points: the client fails over (C9) --------------------------------


def test_a_dead_entry_fails_over_to_the_next_and_rows_say_so(fake_url: str,
                                                             tmp_path: Path) -> None:
    with socket.socket() as held:  # a port of ours with nothing listening: refused
        held.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{held.getsockname()[1]}"
        entries = [EntryTarget(name="dead-1", url=dead), EntryTarget(name="fake-2", url=fake_url)]
        spec = LoadSpec(mode="closed", users=2, duration_s=2, wait_min_s=0.0, wait_max_s=0.05,
                        seed=5, mix=Mix(identity=1, business=1, chat=0))
        with start_load(spec, dead, FAKE_API_KEY, tmp_path, entries=entries) as run:
            assert run.wait(spec.duration_s + RUN_MARGIN_S) == 0, run.log_tail()
    rows = read_rows(tmp_path)
    assert len(rows) > 10
    # Every answer came from the live entry; none failed at the transport.
    assert set(rows["entry"]) == {"fake-2"} and (rows["status"] > 0).all()
    # The dead one is tried again only after each cool-down: a few failovers, not all.
    failovers = rows[rows["failover"]]
    assert 1 <= len(failovers) < len(rows) / 2


def test_entries_must_start_at_the_host(fake_url: str, tmp_path: Path) -> None:
    entries = [EntryTarget(name="fake-1", url=fake_url)]
    with pytest.raises(LoadError, match="first entry"):
        start_load(LoadSpec(mode="closed", users=1, duration_s=1), "http://127.0.0.1:9",
                   FAKE_API_KEY, tmp_path, entries=entries)


def test_host_guard_checks_every_entry(tmp_path: Path) -> None:
    entries = [EntryTarget(name="a", url="http://127.0.0.1:9"),
               EntryTarget(name="b", url="http://10.0.0.2:80")]
    with pytest.raises(HostNotAllowedError, match=r"10\.0\.0\.2"):
        start_load(LoadSpec(mode="closed", users=1, duration_s=1), "http://127.0.0.1:9",
                   FAKE_API_KEY, tmp_path, entries=entries)
