"""A request in flight when the first fault hit belongs to no baseline, and counts as lost."""

from __future__ import annotations

from dashboards.analysis import evaluate

from .frames import frame

WINDOWS = {"baseline": (0.0, 10.0), "fault": (10.1, 20.0), "recovery": (20.0, 30.0)}
# Two clean baseline answers, and one sent at 9.99 s that failed after the kill (10.0 s).
ROWS = frame({"ts_send": 1.0}, {"ts_send": 2.0},
             {"ts_send": 9.99, "ts_end": 11.0, "latency_ms": 1010.0, "status": 0,
              "error_kind": "timeout", "route": None})


def test_in_flight_request_is_not_baseline() -> None:
    assert evaluate(ROWS, WINDOWS, "availability", window="baseline") == 1.0
    assert evaluate(ROWS, WINDOWS, "count", window="baseline") == 2


def test_in_flight_request_that_failed_is_lost() -> None:
    assert evaluate(ROWS, WINDOWS, "requests_lost") == 1
