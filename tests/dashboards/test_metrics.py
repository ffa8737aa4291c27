"""Every window metric on one hand-made window of six requests over 10 s."""

import math

import numpy as np
import pytest

from dashboards.analysis import estimate, evaluate
from dashboards.intervals import IntervalOptions
from dashboards.metrics import WINDOW_METRICS
from tests.dashboards.frames import frame

WINDOWS = {"w": (0.0, 10.0), "empty": (50.0, 60.0)}
ROWS = frame(
    {"ts_send": 0.0, "latency_ms": 10.0},
    {"ts_send": 1.0, "latency_ms": 20.0, "route": "fallback-cache"},
    {"ts_send": 2.0, "latency_ms": 30.0, "status": 500, "error_kind": "http_5xx", "route": None},
    {"ts_send": 3.0, "latency_ms": 5.0, "status": 429, "error_kind": "http_4xx", "route": None},
    {
        "ts_send": 4.0,
        "latency_ms": 40.0,
        "status": 202,
        "route": "fallback-degraded",
        "domain": "business",
        "endpoint": "orders.create",
    },
    {
        "ts_send": 5.0,
        "ts_intended": 4.5,
        "ts_end": 5.3,
        "latency_ms": 300.0,
        "domain": "chat",
        "endpoint": "chat.stream",
        "stream": True,
        "ttft_ms": 100.0,
        "tpot_ms": 20.0,
        "tokens_out": 10,
    },
    {"ts_send": 20.0},
)
AVAILABLE_LATENCIES = [10.0, 20.0, 40.0, 300.0]


def m(metric: str, selector: dict[str, str] | None = None, window: str | None = "w") -> float:
    return evaluate(ROWS, WINDOWS, metric, selector, window)


def test_count_includes_rejected() -> None:
    assert m("count") == 6


def test_count_whole_run_without_window() -> None:
    assert m("count", window=None) == 7


def test_rate_rps() -> None:
    assert m("rate_rps") == pytest.approx(0.6)


def test_availability_excludes_rejected_from_denominator() -> None:
    assert m("availability") == pytest.approx(4 / 5)


def test_availability_of_a_domain() -> None:
    assert m("availability", {"domain": "identity"}) == pytest.approx(2 / 3)


def test_failure_rate() -> None:
    assert m("failure_rate") == pytest.approx(1 / 5)


def test_degraded_ratio() -> None:
    assert m("degraded_ratio") == pytest.approx(2 / 5)


def test_ratio_of_route_over_all_non_rejected() -> None:
    assert m("ratio", {"route": "fallback-cache"}) == pytest.approx(1 / 5)


def test_ratio_of_route_within_domain() -> None:
    assert m("ratio", {"domain": "identity", "route": "fallback-cache"}) == pytest.approx(1 / 3)


def test_ratio_of_request_side_only_is_traffic_share() -> None:
    assert m("ratio", {"domain": "chat"}) == pytest.approx(1 / 5)


def test_rejected() -> None:
    assert m("rejected") == 1


def test_rejected_ratio_keeps_the_rejected_in_its_denominator() -> None:
    assert m("rejected_ratio") == pytest.approx(1 / 6)
    assert m("rejected_ratio", {"domain": "business"}) == 0
    assert math.isnan(m("rejected_ratio", window="empty"))


def test_failed() -> None:
    assert m("failed") == 1


def test_p50_ms_of_available_only() -> None:
    assert m("p50_ms") == pytest.approx(30.0)


def test_p95_ms() -> None:
    assert m("p95_ms") == pytest.approx(np.percentile(AVAILABLE_LATENCIES, 95))


def test_p99_ms() -> None:
    assert m("p99_ms") == pytest.approx(np.percentile(AVAILABLE_LATENCIES, 99))


def test_mean_ms() -> None:
    assert m("mean_ms") == pytest.approx(92.5)


def test_max_ms() -> None:
    assert m("max_ms") == 300.0


def test_corrected_latency_from_intended_send() -> None:
    assert m("p50_corrected_ms") == pytest.approx(800.0)


def test_corrected_p99_and_mean() -> None:
    assert m("p99_corrected_ms") == pytest.approx(800.0) == m("mean_corrected_ms")


def test_corrected_latency_nan_in_closed_loop() -> None:
    assert math.isnan(m("p95_corrected_ms", {"domain": "identity"}))


def test_ttft() -> None:
    assert m("ttft_p50_ms") == 100.0 == m("ttft_p95_ms")


def test_tpot() -> None:
    assert m("tpot_p50_ms") == 20.0


def test_tokens_per_s() -> None:
    assert m("tokens_per_s") == pytest.approx(1.0)


def test_empty_window_rate_is_zero() -> None:
    assert m("rate_rps", window="empty") == 0.0


def test_empty_window_availability_is_nan() -> None:
    assert math.isnan(m("availability", window="empty"))


def test_empty_window_latency_is_nan() -> None:
    assert math.isnan(m("p99_ms", window="empty"))


def test_only_rejected_gives_nan_availability() -> None:
    assert math.isnan(m("availability", {"status": "429"}))


@pytest.mark.parametrize("name", sorted(WINDOW_METRICS))
@pytest.mark.parametrize("window", ["w", "empty"])
def test_every_estimate_is_its_metric_with_an_interval(name: str, window: str) -> None:
    # One computation: the value a verdict is decided on is the value a table prints.
    value = evaluate(ROWS, WINDOWS, name, {}, window)
    measured = estimate(ROWS, WINDOWS, name, {}, window).estimate
    if math.isnan(value):
        assert not measured.measured
    else:
        assert measured.value == pytest.approx(value)
        assert measured.low <= measured.value <= measured.high


def test_estimate_methods_by_kind() -> None:
    def method(name: str) -> str:
        return estimate(ROWS, WINDOWS, name, {}, "w").estimate.method

    assert [method(m) for m in ("availability", "ratio", "p95_ms", "mean_ms", "count",
                                "rate_rps", "max_ms")] == \
        ["wilson", "wilson", "order-statistic", "bootstrap", "observed", "observed", "observed"]
    exact = estimate(ROWS, WINDOWS, "availability", {}, "w",
                     IntervalOptions(0.9, "clopper-pearson")).estimate
    assert (exact.method, exact.confidence, exact.n) == ("clopper-pearson", 0.9, 5)
