"""Run-level metrics on a 100 req/s run: baseline [0, 10), fault [10, 20), recovery [20, 30)."""

import math

import pandas as pd
import pytest

from dashboards.analysis import estimate, evaluate
from dashboards.errors import UnknownMetricError, UnknownWindowError
from dashboards.recovery import time_to_failover_s
from tests.dashboards.frames import traffic

WINDOWS = {"baseline": (0.0, 10.0), "fault": (10.0, 20.0), "recovery": (20.0, 30.0)}
RPS = 100.0
FAILED = {"status": 0, "error_kind": "connect", "route": None, "instance": None}


def run(*parts: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True)


def healthy(start: float, end: float, **fields: object) -> pd.DataFrame:
    return traffic(start, end, RPS, **fields)


def failing(start: float, end: float, **fields: object) -> pd.DataFrame:
    return traffic(start, end, RPS, **{**FAILED, **fields})


def metric(rows: pd.DataFrame, name: str, selector: dict[str, str] | None = None) -> float:
    return evaluate(rows, WINDOWS, name, selector)


FAILOVER_AFTER_300_MS = run(healthy(0, 10), failing(10, 10.3), healthy(10.3, 30))
NEVER_FAILS_OVER = run(healthy(0, 10), failing(10, 20), healthy(20, 30))


def test_failover_time_is_when_failures_stop() -> None:
    assert metric(FAILOVER_AFTER_300_MS, "time_to_failover_s") == pytest.approx(0.3, abs=0.02)


def test_failover_zero_without_failures() -> None:
    assert metric(healthy(0, 30), "time_to_failover_s") == 0.0


def test_failover_inf_when_failures_last_the_whole_fault() -> None:
    assert metric(NEVER_FAILS_OVER, "time_to_failover_s") == math.inf


def test_failover_nan_without_traffic_in_fault() -> None:
    assert math.isnan(metric(run(healthy(0, 10), healthy(20, 30)), "time_to_failover_s"))


def test_single_failure_under_threshold_is_no_failover() -> None:
    one = run(healthy(0, 15), failing(15, 15.01), healthy(15.01, 30))
    assert time_to_failover_s(one, WINDOWS, {}, threshold=0.02) == 0.0


def test_single_failure_at_threshold_counts() -> None:
    one = run(healthy(0, 15), failing(15, 15.01), healthy(15.01, 30))
    assert time_to_failover_s(one, WINDOWS, {}) == pytest.approx(5.01, abs=0.02)


def test_rejected_requests_are_not_failures_for_failover() -> None:
    quota = run(healthy(0, 10), traffic(10, 11, RPS, status=429, route=None), healthy(11, 30))
    assert metric(quota, "time_to_failover_s") == 0.0


def test_failover_per_selector() -> None:
    rows = run(healthy(0, 30, domain="identity"), failing(10, 20, domain="business"))
    assert metric(rows, "time_to_failover_s", {"domain": "identity"}) == 0.0


def test_failover_ignores_window_argument_misuse() -> None:
    with pytest.raises(UnknownMetricError, match="run-level"):
        evaluate(FAILOVER_AFTER_300_MS, WINDOWS, "time_to_failover_s", {}, "fault")


def test_failover_needs_fault_window() -> None:
    with pytest.raises(UnknownWindowError, match="fault"):
        evaluate(FAILOVER_AFTER_300_MS, {"baseline": (0, 10)}, "time_to_failover_s")


SLOW = {"latency_ms": 100.0}


def test_recover_when_latency_is_back() -> None:
    rows = run(healthy(0, 10), failing(10, 20), healthy(20, 22, **SLOW), healthy(22, 30))
    assert metric(rows, "time_to_recover_s") == pytest.approx(2.0, abs=0.11)


def test_recover_when_availability_is_back() -> None:
    rows = run(healthy(0, 10), failing(10, 21), healthy(21, 30))
    assert metric(rows, "time_to_recover_s") == pytest.approx(1.0, abs=0.11)


def test_recover_zero_when_recovery_is_healthy() -> None:
    assert metric(NEVER_FAILS_OVER, "time_to_recover_s") == 0.0


def test_recover_inf_when_never_back() -> None:
    rows = run(healthy(0, 10), failing(10, 20), healthy(20, 30, **SLOW))
    assert metric(rows, "time_to_recover_s") == math.inf


def test_recover_tolerates_slower_within_factor() -> None:
    rows = run(healthy(0, 20), healthy(20, 30, latency_ms=14.0))
    assert metric(rows, "time_to_recover_s") == 0.0


def test_recover_nan_without_baseline() -> None:
    assert math.isnan(metric(healthy(10, 30), "time_to_recover_s"))


def test_recover_needs_recovery_window() -> None:
    with pytest.raises(UnknownWindowError, match="recovery"):
        evaluate(healthy(0, 30), {"baseline": (0, 10), "fault": (10, 20)}, "time_to_recover_s")


LOSSES = run(
    healthy(0, 30),
    failing(5, 5.02),  # 2 in baseline: not lost to the fault
    failing(12, 12.05),  # 5 in fault
    failing(25, 25.03),  # 3 in recovery
    failing(31, 31.04),  # 4 after recovery
)


def test_requests_lost_counts_fault_and_recovery() -> None:
    assert metric(LOSSES, "requests_lost") == 8


def test_requests_lost_per_selector() -> None:
    assert metric(LOSSES, "requests_lost", {"domain": "business"}) == 0


def test_requests_lost_ignores_rejected() -> None:
    quota = run(healthy(0, 30), traffic(12, 13, RPS, status=429, route=None))
    assert metric(quota, "requests_lost") == 0


def test_failover_time_comes_with_the_resolution_of_its_requests() -> None:
    measured = estimate(FAILOVER_AFTER_300_MS, WINDOWS, "time_to_failover_s").estimate
    # 100 req/s: requests 10 ms apart around the transition, the sliding step is 10 ms.
    assert measured.method == "resolution"
    assert (measured.low, measured.high) == (pytest.approx(measured.value - 0.01),
                                             pytest.approx(measured.value + 0.01))
    # Nothing sent between the last failure (10.29) and the next request (10.8): the
    # failover happened somewhere in between.
    sparse = run(healthy(0, 10), failing(10, 10.3), traffic(10.8, 20, 2), healthy(20, 30))
    coarse = estimate(sparse, WINDOWS, "time_to_failover_s").estimate
    assert coarse.high == pytest.approx(coarse.value + (10.8 - 10.29))
    assert coarse.low == 0.0  # a duration is never negative


def test_a_failover_never_reached_is_bounded_below_by_what_we_watched() -> None:
    measured = estimate(NEVER_FAILS_OVER, WINDOWS, "time_to_failover_s").estimate
    assert (measured.value, measured.low, measured.high) == (math.inf, 9.0, math.inf)


def test_requests_lost_and_loss_rate_rest_on_the_same_requests() -> None:
    lost = estimate(LOSSES, WINDOWS, "requests_lost")
    rate = estimate(LOSSES, WINDOWS, "loss_rate").estimate
    assert (lost.estimate.value, lost.estimate.method) == (8, "observed")
    assert rate.n == lost.estimate.n and rate.value == pytest.approx(8 / rate.n)
    assert rate.method == "wilson" and f"{rate.high * 100:.4g} %" in lost.note


def test_trials_pool_requests_and_keep_the_worst_failover() -> None:
    second = {name: (a + 30, b + 30) for name, (a, b) in WINDOWS.items()}
    rows = run(FAILOVER_AFTER_300_MS, healthy(30, 40), failing(40, 41), healthy(41, 60))
    lost = estimate(rows, [WINDOWS, second], "requests_lost").estimate
    assert lost.value == 30 + 100
    worst = estimate(rows, [WINDOWS, second], "time_to_failover_s").estimate
    assert worst.value == pytest.approx(1.0, abs=0.02)
