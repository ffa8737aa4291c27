import math

import pytest

from dashboards.analysis import (
    METRICS,
    RUN_METRICS,
    SAMPLED_METRICS,
    evaluate,
    fault_summary,
    window_table,
)
from dashboards.errors import DashboardsError, UnknownMetricError, UnknownWindowError
from dashboards.metrics import WINDOW_METRICS
from tests.dashboards.frames import traffic

WINDOWS = {"baseline": (0.0, 5.0), "fault": (5.0, 10.0), "recovery": (10.0, 15.0)}
ROWS = traffic(0, 15, 10)


def test_registry_lists_every_metric() -> None:
    assert set(METRICS) == set(WINDOW_METRICS) | set(RUN_METRICS) | set(SAMPLED_METRICS)


def test_registry_describes_every_metric() -> None:
    assert all(spec.description and spec.unit for spec in METRICS.values())


def test_registry_scopes() -> None:
    assert {METRICS[name].scope for name in RUN_METRICS} == {"run"}


def test_unknown_metric_lists_allowed_names() -> None:
    with pytest.raises(UnknownMetricError, match=r"allowed metrics: .*availability"):
        evaluate(ROWS, WINDOWS, "availabilty", {}, "fault")


def test_unknown_window_lists_windows() -> None:
    with pytest.raises(UnknownWindowError, match="baseline, fault, recovery"):
        evaluate(ROWS, WINDOWS, "availability", {}, "faults")


def test_errors_share_one_root() -> None:
    assert issubclass(UnknownMetricError, DashboardsError)
    assert issubclass(UnknownWindowError, DashboardsError)


def test_window_table_has_a_row_per_window() -> None:
    assert window_table(ROWS, WINDOWS).index.tolist() == ["baseline", "fault", "recovery"]


def test_window_table_values_are_evaluate() -> None:
    table = window_table(ROWS, WINDOWS, ["rate_rps"])
    assert table.loc["fault", "rate_rps"] == evaluate(ROWS, WINDOWS, "rate_rps", {}, "fault")


def test_fault_summary_values() -> None:
    summary = fault_summary(ROWS, WINDOWS)
    names = ("requests_lost", "time_to_failover_s", "time_to_recover_s")
    assert [summary.value(name) for name in names] == [0.0, 0.0, 0.0]
    # requests_lost is exact, with its n and the upper bound on the loss rate.
    lost = summary.requests_lost
    assert lost is not None and lost.estimate.n == 100 and "loss rate <= 3.699 %" in lost.note


def test_fault_summary_nan_without_fault_window() -> None:
    summary = fault_summary(ROWS, {"baseline": (0.0, 5.0)})
    assert summary.time_to_failover_s is None
    assert math.isnan(summary.value("time_to_failover_s"))
