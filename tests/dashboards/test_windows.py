import pytest

from dashboards.errors import UnknownWindowError
from dashboards.outcomes import prepare_rows
from dashboards.windows import Window, get_window, rows_span, slice_window
from tests.dashboards.frames import frame

ROWS = prepare_rows(frame(*({"ts_send": t} for t in (0.0, 1.0, 1.5, 2.0, 3.0))))


def test_slice_is_half_open_on_ts_send() -> None:
    assert slice_window(ROWS, Window("fault", 1.0, 2.0))["ts_send"].tolist() == [1.0, 1.5]


def test_empty_window() -> None:
    assert slice_window(ROWS, Window("gap", 3.5, 9.0)).empty


def test_duration() -> None:
    assert Window("fault", 10.0, 12.5).duration_s == 2.5


def test_rows_span_includes_last_send() -> None:
    assert len(slice_window(ROWS, rows_span(ROWS))) == 5


def test_unknown_window_lists_the_runs_windows() -> None:
    with pytest.raises(UnknownWindowError, match="baseline, fault"):
        get_window({"fault": (1.0, 2.0), "baseline": (0.0, 1.0)}, "recovery")

