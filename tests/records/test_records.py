"""The run record: every record type written by the writer reads back equal; the
reader refuses other record versions and what the writer never writes, and
forgives only what an abort leaves (a torn last line, an unreadable part)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from records import (
    COLUMNS,
    RECORD_VERSION,
    AbortEvent,
    CpuSample,
    FaultEvent,
    HopTraffic,
    LiveProgress,
    PhaseEvent,
    Proof,
    RecordError,
    RecordVersionError,
    RowsFollower,
    RunMeta,
    RunWindows,
    RunWriter,
    Verdict,
    VerdictWord,
    overall_verdict,
    read_cpu,
    read_events,
    read_live,
    read_meta,
    read_rows,
    read_run,
    read_verdicts,
)
from records.rows import rows_table

T0 = 1_700_000_000.0
META = RunMeta(
    run_id="r1", experiment="c4-replica-kill", claim="Un autre prend le relais", claim_id="C4",
    arch="dual", seed=7, load_mode="open", hypotheses=["requests_lost <= 0"], started=T0,
    t0=T0 + 1, windows=RunWindows(baseline=(T0 + 2, T0 + 4), fault=(T0 + 4, T0 + 6),
                                  recovery=(T0 + 6, T0 + 9)),
    spec={"name": "c4-replica-kill", "load": {"mode": "open", "rate": 20}})
FAULT = FaultEvent(
    id="f1", fault="latency", params={"latency_ms": 100, "jitter_ms": 0},
    targets=["auth-1", "auth-2"], label="latency auth-1, auth-2", start=T0 + 4, end=T0 + 6,
    effective=T0 + 4.1, proof=Proof(ok=True, detail="toxic present"),
    removal_proof=Proof(ok=False, detail="still on auth-2"),
    traffic={"auth-1": HopTraffic(connections=3, bytes_upstream=10, bytes_downstream=20)})
EVENTS = [
    PhaseEvent(name="deployed", ts=T0, entry_url="http://127.0.0.1:9000",
               instances=["auth-1", "auth-2"]),
    PhaseEvent(name="fault-applied", ts=T0 + 4, fault=FAULT.label, proof=FAULT.proof),
    FAULT,
    AbortEvent(reason="stopped by signal", ts=T0 + 7),
]
SAMPLES = [CpuSample(ts=T0 + s, span_s=1.0, host_pct=40.0 + s, cores=2, generator_pct=30.0,
                     generator_max_pct=25.0, instances={"auth-1": 5.0 * s},
                     rss_mb={"auth-1": 60.0}) for s in range(3)]


@pytest.fixture
def writer(tmp_path: Path) -> RunWriter:
    return RunWriter.create(tmp_path / "run", META)


def _verdict(word: VerdictWord, measured: float | None) -> Verdict:
    return Verdict(experiment="e", claim="c", claim_id="C1", arch="single", hypothesis="h",
                   verdict=word, measured=measured, threshold=1.0, detail="why")


def _rows(n: int, worker: str) -> pa.Table:
    rng = np.random.default_rng(n)
    rows = [(T0 + i, None, T0 + i + 0.01, 10.0, None, 200 if i % 3 else 0,
             None if i % 3 else "connect", "identity", "identity.login", "POST",
             "primary" if i % 3 else None, "auth-1", "gateway-1", "router-1", i % 5 == 0,
             False, None, None, None, None, None, None if i % 2 else int(rng.integers(1, 9)), 120,
             worker) for i in range(n)]
    return rows_table(rows)


def test_meta_round_trip_names_the_record_version(writer: RunWriter) -> None:
    assert json.loads(writer.folder.meta.read_text())["record_version"] == RECORD_VERSION
    assert read_meta(writer.path) == META


def test_meta_rewritten_whole(writer: RunWriter) -> None:
    writer.write_meta(META.model_copy(update={"status": "aborted", "ended": T0 + 8}))
    assert (read_meta(writer.path).status, list(writer.path.glob(".*"))) == ("aborted", [])


def test_event_round_trip_of_every_kind(writer: RunWriter) -> None:
    for event in EVENTS:
        writer.event(event)
    problems: list[str] = []
    assert (read_events(writer.path, problems), problems) == (EVENTS, [])


def test_verdict_round_trip_keeps_infinity_and_missing(writer: RunWriter) -> None:
    verdicts = [_verdict("holds", 0.5), _verdict("fails", math.inf), _verdict("inconclusive",
                                                                                None)]
    writer.write_verdicts(verdicts)
    assert read_verdicts(writer.path) == verdicts


def test_nan_measurement_is_recorded_as_missing() -> None:
    assert _verdict("inconclusive", math.nan).measured is None


def test_cpu_round_trip(writer: RunWriter) -> None:
    with writer.cpu_log() as log:
        for sample in SAMPLES:
            log.write(sample)
    frame = read_cpu(writer.path, [])
    assert frame["host_pct"].tolist() == [40.0, 41.0, 42.0]
    assert frame["instance:auth-1"].tolist() == [0.0, 5.0, 10.0]
    assert frame["rss:auth-1"].tolist() == [60.0] * 3
    assert frame.columns.tolist()[:7] == ["ts", "span_s", "host_pct", "cores", "generator_pct",
                                          "generator_max_pct", "generator_rss_mb"]


def test_live_round_trip(writer: RunWriter) -> None:
    assert read_live(writer.path) is None
    live = LiveProgress(arch="dual", elapsed_s=2.5, total_s=10.0, requests=50, rate_rps=20.0,
                        failures=1, active_faults=["kill auth-1"], ts=T0 + 2.5)
    writer.write_live(live)
    assert read_live(writer.path) == live


def test_rows_round_trip_over_parts_and_workers(writer: RunWriter) -> None:
    tables = [_rows(5, "w1"), _rows(4, "w2"), _rows(3, "w1")]
    paths = [writer.write_rows(t, t["worker"][0].as_py()) for t in tables]
    assert [p.name for p in paths] == ["part-w1-00000.parquet", "part-w2-00000.parquet",
                                       "part-w1-00001.parquet"]
    frame = read_rows(writer.path)
    expected = pa.concat_tables(tables).to_pandas().sort_values("ts_send", kind="stable")
    assert tuple(frame.columns) == COLUMNS and len(frame) == 12
    pd.testing.assert_series_equal(frame["ts_send"], expected["ts_send"].reset_index(drop=True))
    assert frame["tokens_out"].isna().sum() == expected["tokens_out"].isna().sum()
    assert str(frame["tokens_out"].dtype) == "Int32" and str(frame["status"].dtype) == "int32"


def test_rows_of_another_schema_are_refused_at_write(writer: RunWriter) -> None:
    with pytest.raises((KeyError, pa.ArrowException)):
        writer.write_rows(pa.table({"ts_send": [1.0]}), "w1")


def test_junit_counts_failures_and_skips(writer: RunWriter) -> None:
    writer.write_junit("c4[dual]", [_verdict("holds", 1), _verdict("fails", 0),
                                    _verdict("inconclusive", None)])
    suite = ET.parse(writer.folder.junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")


def test_whole_run_reads_back(writer: RunWriter) -> None:
    for event in EVENTS:
        writer.event(event)
    writer.write_rows(_rows(6, "w1"), "w1")
    run = read_run(writer.path)
    assert (run.meta, run.faults, len(run.rows), run.problems) == (META, [FAULT], 6, [])
    assert run.windows == {"baseline": (T0 + 2, T0 + 4), "fault": (T0 + 4, T0 + 6),
                           "recovery": (T0 + 6, T0 + 9)}


@pytest.mark.parametrize("version", [RECORD_VERSION + 1, 0, None])
def test_another_record_version_is_refused_saying_what_to_do(writer: RunWriter,
                                                              version: int | None) -> None:
    data = json.loads(writer.folder.meta.read_text())
    if version is None:
        del data["record_version"]
    else:
        data["record_version"] = version
    writer.folder.meta.write_text(json.dumps(data))
    with pytest.raises(RecordVersionError,
                       match=rf"version {'unknown' if version is None else version}.*reads version "
                             rf"{RECORD_VERSION} only; re-run the experiment"):
        read_run(writer.path)


def test_the_writer_writes_only_its_own_version(writer: RunWriter) -> None:
    with pytest.raises(RecordError, match="writes record version"):
        writer.write_meta(META.model_copy(update={"record_version": RECORD_VERSION + 1}))


def test_a_run_folder_is_written_once(writer: RunWriter) -> None:
    with pytest.raises(RecordError, match="already exists"):
        RunWriter.create(writer.path, META)


def test_truncated_last_line_is_skipped_and_listed(writer: RunWriter) -> None:
    writer.event(EVENTS[0])
    with writer.cpu_log() as log:
        log.write(SAMPLES[0])
    for path in (writer.folder.events, writer.folder.cpu):
        with path.open("a") as out:
            out.write('{"kind": "fau')
    run = read_run(writer.path)
    assert (run.events, len(run.cpu)) == ([EVENTS[0]], 1)
    assert run.problems == ["events.jsonl:2: last line cut short, skipped",
                            "cpu.jsonl:2: last line cut short, skipped"]


def test_a_bad_line_before_the_last_is_refused(writer: RunWriter) -> None:
    writer.folder.events.write_text('{"kind": "phase", "name": "load-start"}\n')
    writer.event(EVENTS[0])
    with pytest.raises(RecordError, match=r"events.jsonl:1: not a run record: .*ts"):
        read_run(writer.path)


def test_unreadable_rows_part_is_skipped_and_listed(writer: RunWriter) -> None:
    writer.write_rows(_rows(4, "w1"), "w1")
    (writer.folder.rows_dir / "part-w1-00001.parquet").write_bytes(b"PAR1 half")
    problems: list[str] = []
    assert (len(read_rows(writer.path, problems)), len(problems)) == (4, 1)
    assert problems[0].startswith("rows/part-w1-00001.parquet: unreadable")


def test_a_follower_reads_each_part_once_and_what_read_rows_reads(
        writer: RunWriter, monkeypatch: pytest.MonkeyPatch) -> None:
    follower = RowsFollower(writer.path)
    assert follower.read().empty
    reads: list[str] = []
    real = pq.read_table
    monkeypatch.setattr(pq, "read_table", lambda path, **kw: reads.append(Path(path).name)
                        or real(path, **kw))
    writer.write_rows(_rows(5, "w1"), "w1")
    writer.write_rows(_rows(4, "w2"), "w2")
    assert len(follower.read()) == 9 and sorted(reads) == ["part-w1-00000.parquet",
                                                           "part-w2-00000.parquet"]
    # A part not yet readable is tried again at the next read, not taken as read.
    half = writer.folder.rows_dir / "part-w1-00001.parquet"
    half.write_bytes(b"PAR1 half")
    reads.clear()
    assert len(follower.read()) == 9 and reads == ["part-w1-00001.parquet"]
    half.unlink()
    writer.write_rows(_rows(3, "w1"), "w1")
    reads.clear()
    frame = follower.read()
    assert reads == ["part-w1-00001.parquet"]  # only the new one
    pd.testing.assert_frame_equal(frame, read_rows(writer.path))


def test_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match=r"has no meta\.json"):
        read_run(tmp_path)


@pytest.mark.parametrize(("words", "overall"), [
    (["holds", "fails", "inconclusive"], "fails"),
    (["holds", "inconclusive"], "inconclusive"),
    (["holds"], "holds"),
    ([], "none"),
])
def test_overall_verdict(words: list[VerdictWord], overall: str) -> None:
    assert overall_verdict([_verdict(w, None) for w in words]) == overall
