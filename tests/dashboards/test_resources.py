"""CPU-ms and memory per request, per component, from writer-made samples and rows."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dashboards.errors import SelectorError
from dashboards.resources import (
    component_loads,
    component_of,
    components,
    cpu_ms_per_request,
    rss_mb,
    total_of,
)
from tests.dashboards.sweeprows import T0, Seconds, Segment, write_run

INSTANCES = {"gateway-1": 50.0, "auth-1": 10.0, "auth-2": 10.0, "toxiproxy-1": 8.0}
RSS = {"gateway-1": 90.0, "auth-1": 60.0, "auth-2": 60.0, "toxiproxy-1": 40.0}


def run_at(tmp_path: Path, rate: float = 25.0, load: dict[int, dict[str, float]] | None = None):
    return write_run(tmp_path / "r", [Segment(0, 10, rate)],
                     Seconds(10, instances=INSTANCES, rss_mb=RSS, load=load or {}))


def test_components_and_their_instances(tmp_path: Path) -> None:
    run = run_at(tmp_path)
    assert component_of("gateway-business-1") == "gateway-business"
    assert components(run.cpu) == {"auth": ["auth-1", "auth-2"], "gateway": ["gateway-1"],
                                   "generator": [], "toxiproxy": ["toxiproxy-1"]}


def test_cpu_ms_per_request_known_values(tmp_path: Path) -> None:
    # 50 % of a core = 500 ms of CPU a second, for 25 requests a second: 20 ms each.
    run = run_at(tmp_path)
    gateway = cpu_ms_per_request(run.cpu, run.rows, [(T0 + 2, T0 + 8)], "gateway")
    assert gateway.value == pytest.approx(20.0)
    assert (gateway.low, gateway.high, gateway.n) == (pytest.approx(20.0), pytest.approx(20.0), 6)
    # Both auth replicas: 200 ms a second / 25 = 8 ms; the architecture leaves the proxy out.
    assert cpu_ms_per_request(run.cpu, run.rows, [(T0 + 2, T0 + 8)], "auth").value == \
        pytest.approx(8.0)
    assert cpu_ms_per_request(run.cpu, run.rows, [(T0 + 2, T0 + 8)]).value == pytest.approx(28.0)
    both = cpu_ms_per_request(run.cpu, run.rows, [(T0 + 2, T0 + 8)], "gateway|toxiproxy")
    assert both.value == pytest.approx(23.2)
    # The generator: 20 % of a core = 200 ms a second.
    assert cpu_ms_per_request(run.cpu, run.rows, [(T0 + 2, T0 + 8)], "generator").value == \
        pytest.approx(8.0)


def test_uneven_seconds_widen_the_interval(tmp_path: Path) -> None:
    load = {s: {**INSTANCES, "gateway-1": 20.0 + 12.0 * s} for s in range(10)}
    run = run_at(tmp_path, load=load)
    estimate = cpu_ms_per_request(run.cpu, run.rows, [(T0, T0 + 10)], "gateway")
    # (20 + 12 * 4.5) % over 10 s at 25 req/s = 29.6 ms
    assert estimate.value == pytest.approx(29.6)
    assert estimate.low < 25 < 34 < estimate.high
    assert estimate.method == "bootstrap over 1-s CPU samples"


def test_memory_and_unknown_components(tmp_path: Path) -> None:
    run = run_at(tmp_path)
    assert rss_mb(run.cpu, [(T0, T0 + 10)], "auth").value == pytest.approx(120.0)
    assert rss_mb(run.cpu, [(T0, T0 + 10)]).value == pytest.approx(210.0)
    assert rss_mb(run.cpu, [(T0, T0 + 10)], "generator").value == pytest.approx(50.0)
    with pytest.raises(SelectorError, match=r"unknown component 'router'.*gateway"):
        cpu_ms_per_request(run.cpu, run.rows, [(T0, T0 + 10)], "router")
    nothing = cpu_ms_per_request(run.cpu, run.rows, [(T0 + 20, T0 + 30)], "gateway")
    assert math.isnan(nothing.value) and nothing.n == 0


def test_component_loads_and_the_architecture_total(tmp_path: Path) -> None:
    run = run_at(tmp_path)
    loads = {c.component: c for c in component_loads(run.cpu, run.rows, (T0 + 2, T0 + 8))}
    assert loads["gateway"].cpu_pct == 50.0 and loads["gateway"].cpu_ms_per_request == 20.0
    assert loads["auth"].rss_mb == 120.0
    total = total_of(list(loads.values()))
    assert total is not None and total.cpu_ms_per_request == pytest.approx(28.0)


def test_spans_of_several_trials_are_pooled(tmp_path: Path) -> None:
    load = {s: {**INSTANCES, "gateway-1": 100.0 if s >= 5 else 50.0} for s in range(10)}
    run = run_at(tmp_path, load=load)
    first, second = (T0 + 1, T0 + 3), (T0 + 6, T0 + 8)
    assert cpu_ms_per_request(run.cpu, run.rows, [first], "gateway").value == \
        pytest.approx(20.0)
    assert cpu_ms_per_request(run.cpu, run.rows, [first, second], "gateway").value == \
        pytest.approx(30.0)
