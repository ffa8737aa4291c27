"""The recorder's rows, flushed as Parquet parts and read back with the contract's types."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from loadtests.metrics import StreamMetrics
from loadtests.recorder import RowRecorder
from records import COLUMNS, ROW_SCHEMA, read_rows

EXPECTED_DTYPES = {
    "ts_send": "float64", "ts_intended": "float64", "ts_end": "float64",
    "latency_ms": "float64", "latency_corrected_ms": "float64", "status": "int32",
    "stream": "bool", "ttft_ms": "float64", "tokens_out": "Int32", "response_bytes": "int64",
}


class FakeResponse:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.headers = headers or {}


HEADERS = {"X-Gatecrash-Route": "fallback-cache", "X-Gatecrash-Instance": "auth-2",
           "X-Gatecrash-Gateway": "identity"}


def _request(rec: RowRecorder, **kw: Any) -> None:
    base: dict[str, Any] = {
        "request_type": "GET", "name": "identity.profile", "response_time": 20.0,
        "response_length": 42, "response": FakeResponse(200, HEADERS), "start_time": 100.0,
        "context": {"domain": "identity", "endpoint": "identity.profile"},
    }
    rec.on_request(**{**base, **kw})


def test_rows_roundtrip_with_contract_types(tmp_path: Path) -> None:
    rec = RowRecorder(tmp_path / "rows", "w1")
    (tmp_path / "rows").mkdir()
    _request(rec)
    _request(rec, response=FakeResponse(429), context={"domain": "identity",
             "endpoint": "identity.quota", "ts_intended": 99.5})
    _request(rec, request_type="POST", response=FakeResponse(200), response_time=400.0,
             context={"domain": "chat", "endpoint": "chat.stream", "stream": True,
                      "tokens_out": 5, "stream_metrics": StreamMetrics(200, 50, 50, 60, 400)})
    _request(rec, response=None, exception=ConnectionRefusedError(), response_length=0)
    rec.close()
    assert rec.parts_written == 1
    frame = read_rows(tmp_path)
    assert tuple(frame.columns) == COLUMNS
    for col, dtype in EXPECTED_DTYPES.items():
        assert str(frame[col].dtype) == dtype, col
    ok, rejected, chat, refused = frame.to_dict("records")
    assert (ok["route"], ok["instance"], ok["gateway"]) == ("fallback-cache", "auth-2", "identity")
    assert ok["ts_end"] == pytest.approx(100.02) and ok["error_kind"] != ok["error_kind"]  # NaN
    assert rejected["error_kind"] == "http_4xx" and rejected["status"] == 429
    assert rejected["latency_corrected_ms"] == pytest.approx(520.0)
    assert chat["stream"] and chat["ttft_ms"] == 200 and chat["tokens_out"] == 5
    assert refused["status"] == 0 and refused["error_kind"] == "connect"
    live = rec.snapshot()
    assert (live.requests, live.ok, live.degraded, live.rejected, live.failures) == (4, 2, 1, 1, 1)


def test_flush_by_size_in_background_and_parts_are_append_safe(tmp_path: Path) -> None:
    rows_dir = tmp_path / "rows"
    rows_dir.mkdir()
    with ThreadPoolExecutor(max_workers=1) as pool:
        rec = RowRecorder(rows_dir, "w2", flush_rows=10, executor=pool)
        for _ in range(25):
            _request(rec)
        assert rec.buffered == 5
        rec.close()
    parts = sorted(p.name for p in rows_dir.iterdir())
    assert parts == ["part-w2-00000.parquet", "part-w2-00001.parquet", "part-w2-00002.parquet"]
    assert pq.read_schema(rows_dir / parts[0]).equals(ROW_SCHEMA)
    (rows_dir / ".part-w2-00003.parquet.abcd.tmp").write_bytes(b"half")  # an aborted write
    assert len(read_rows(tmp_path)) == 25


def test_read_rows_of_an_empty_run_has_the_columns(tmp_path: Path) -> None:
    frame = read_rows(tmp_path)
    assert frame.empty and tuple(frame.columns) == COLUMNS
    assert str(frame["status"].dtype) == "int32"
