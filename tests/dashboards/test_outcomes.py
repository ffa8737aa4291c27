import math

import pandas as pd
import pytest

from dashboards.errors import RowsSchemaError
from dashboards.outcomes import prepare_rows
from dashboards.rows import normalize_rows
from tests.dashboards.frames import frame

FLAGS = ("available", "degraded", "rejected", "failed")


def flags(**row: object) -> set[str]:
    """The outcome flags that hold for one hand-made row."""
    prepared = prepare_rows(frame(row)).iloc[0]
    return {flag for flag in FLAGS if prepared[flag]}


def kind(**row: object) -> object:
    return prepare_rows(frame(row))["failure_kind"].iloc[0]


def test_primary_200_is_available_only() -> None:
    assert flags(status=200) == {"available"}


def test_fallback_cache_is_available_and_degraded() -> None:
    assert flags(route="fallback-cache") == {"available", "degraded"}


def test_fallback_degraded_202_is_available_and_degraded() -> None:
    assert flags(status=202, route="fallback-degraded") == {"available", "degraded"}


def test_retry_is_not_degraded() -> None:
    assert flags(route="retry") == {"available"}


def test_cache_hit_is_not_degraded() -> None:
    assert flags(route="cache-hit") == {"available"}


def test_429_is_rejected_not_failed() -> None:
    assert flags(status=429, error_kind="http_4xx", route=None) == {"rejected"}


def test_stream_cut_after_200_is_failed() -> None:
    assert flags(status=200, error_kind="stream_cut") == {"failed"}


def test_status_0_is_failed() -> None:
    assert flags(status=0, error_kind="connect", route=None) == {"failed"}


def test_fallback_route_with_503_is_failed_not_degraded() -> None:
    assert flags(status=503, route="fallback-cache") == {"failed"}


def test_401_is_failed() -> None:
    assert flags(status=401, route=None) == {"failed"}


def test_empty_error_kind_is_no_error() -> None:
    assert flags(status=200, error_kind="") == {"available"}


def test_status_0_without_kind_has_failure_kind_other() -> None:
    assert kind(status=0, route=None) == "other"


def test_500_without_kind_has_failure_kind_http_5xx() -> None:
    assert kind(status=500) == "http_5xx"


def test_401_without_kind_has_failure_kind_http_4xx() -> None:
    assert kind(status=401) == "http_4xx"


def test_recorded_error_kind_wins() -> None:
    assert kind(status=0, error_kind="timeout") == "timeout"


def test_success_has_no_failure_kind() -> None:
    assert pd.isna(kind(status=200))


def test_corrected_latency_from_column() -> None:
    assert prepare_rows(frame({"latency_corrected_ms": 55.0}))["corrected_ms"].iloc[0] == 55.0


def test_corrected_latency_derived_from_intended_send() -> None:
    rows = frame({"ts_send": 10.5, "ts_intended": 10.0, "ts_end": 10.6})
    assert prepare_rows(rows)["corrected_ms"].iloc[0] == pytest.approx(600.0)


def test_corrected_latency_null_in_closed_loop() -> None:
    assert math.isnan(prepare_rows(frame({}))["corrected_ms"].iloc[0])


def test_missing_required_column_is_an_error() -> None:
    with pytest.raises(RowsSchemaError, match="ts_send"):
        normalize_rows(pd.DataFrame({"status": [200]}))


def test_latency_derived_when_absent() -> None:
    rows = pd.DataFrame({"ts_send": [1.0], "ts_end": [1.25], "status": [200]})
    assert normalize_rows(rows)["latency_ms"].iloc[0] == pytest.approx(250.0)


def test_rows_sorted_by_send() -> None:
    rows = frame({"ts_send": 2.0}, {"ts_send": 1.0})
    assert normalize_rows(rows)["ts_send"].tolist() == [1.0, 2.0]


def test_prepare_is_idempotent() -> None:
    prepared = prepare_rows(frame({}))
    assert prepare_rows(prepared) is prepared
