import math

import pandas as pd
import pytest

from dashboards.analysis import evaluate
from dashboards.errors import UnknownMetricError
from dashboards.timelines import bucket_width, timeline, timeline_by
from dashboards.windows import Window
from tests.dashboards.frames import traffic

FAILED = {"status": 0, "error_kind": "timeout", "route": None, "instance": None}
ROWS = pd.concat(
    [
        traffic(0, 2, 10, instance="auth-1"),
        traffic(2, 3, 10, route="fallback-cache", instance="router"),
        traffic(2, 3, 10, **FAILED),
        traffic(3, 4, 10, instance="auth-2", route="retry"),
    ],
    ignore_index=True,
)
SPAN = Window("run", 0.0, 4.0)


def test_one_row_per_second() -> None:
    assert timeline(ROWS, ["count"], span=SPAN).index.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_rate_per_second() -> None:
    assert timeline(ROWS, ["rate_rps"], span=SPAN)["rate_rps"].tolist() == [10, 10, 20, 10]


def test_failure_rate_per_second() -> None:
    assert timeline(ROWS, ["failure_rate"], span=SPAN)["failure_rate"].tolist() == [0, 0, 0.5, 0]


def test_time_axis_relative_to_t0() -> None:
    assert timeline(ROWS, ["count"], span=SPAN, t0=-10.0).index[0] == 10.0


def test_latency_nan_in_bucket_without_answers() -> None:
    failing_only = timeline(ROWS, ["p95_ms"], {"error_kind": "timeout"}, span=SPAN)
    assert math.isnan(failing_only["p95_ms"].iloc[0])


def test_points_equal_window_metrics() -> None:
    points = timeline(ROWS, ["availability"], span=SPAN)["availability"].tolist()
    windows = {str(i): (float(i), float(i + 1)) for i in range(4)}
    assert points == [evaluate(ROWS, windows, "availability", {}, str(i)) for i in range(4)]


def test_route_mix_by_route() -> None:
    mix = timeline_by(ROWS, "route", "rate_rps", span=SPAN)
    assert mix.loc[2.0].to_dict() == {"fallback-cache": 10.0, "primary": 0.0, "retry": 0.0}


def test_requests_per_instance() -> None:
    per_instance = timeline_by(ROWS, "instance", "count", span=SPAN)
    assert per_instance.loc[3.0].to_dict() == {"auth-1": 0.0, "auth-2": 10.0, "router": 0.0}


def test_failure_rate_by_kind_uses_ratio() -> None:
    by_kind = timeline_by(ROWS, "failure_kind", "ratio", span=SPAN)
    assert by_kind["timeout"].tolist() == [0.0, 0.0, 0.5, 0.0]


def test_timeline_by_without_values_is_empty() -> None:
    assert timeline_by(ROWS, "route", "count", {"domain": "chat"}, span=SPAN).empty


def test_bucket_width_keeps_one_second_when_small() -> None:
    assert bucket_width(Window("run", 0, 600)) == 1.0


def test_bucket_width_caps_points() -> None:
    assert bucket_width(Window("run", 0, 10_000), max_points=2000) == 5.0


def test_last_bucket_shorter_uses_its_own_length() -> None:
    tail = timeline(ROWS, ["rate_rps"], span=Window("run", 0.0, 3.5))
    assert tail["rate_rps"].iloc[-1] == pytest.approx(5 / 0.5)


def test_unknown_metric() -> None:
    with pytest.raises(UnknownMetricError, match="requests_lost"):
        timeline(ROWS, ["requests_lost"])
