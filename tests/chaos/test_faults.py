"""The fault catalogue on a real deployed stack: each fault applied, proven, removed."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx
import pytest

from chaos.client import ToxiproxyClient
from chaos.faults import FAULTS, FaultError, FaultSpec, TargetSpec, parse_fault
from chaos.httpfaults import HTTP_FAULTS
from chaos.injector import Injector
from chaos.runtime.base import InstanceState, InstanceStatus, Runtime
from gatecrash.runtimes import deployed_stack, wait_pools_healthy
from gatecrash.stacks import Stack

INSTANCES = [InstanceStatus(i, s, p, r, 1, "", InstanceState.RUNNING)
             for i, s, p, r in [("orders-1", "orders", "orders", None),
                                ("orders-2", "orders", "orders", None),
                                ("orders-3", "orders", "orders", None),
                                ("orders-4", "orders", "orders", None),
                                ("gateway-business-1", "gateway-business", "gateway", "business"),
                                ("gateway-identity-1", "gateway-identity", "gateway", "identity")]]


def test_targets_by_name_service_count_percent_role_and_seed() -> None:
    def pick(**kw: object) -> list[str]:
        return TargetSpec.model_validate(kw).resolve(INSTANCES)

    assert pick(instance="orders-2") == ["orders-2"]
    assert pick(service="orders") == ["orders-1", "orders-2", "orders-3", "orders-4"]
    assert pick(service="orders", count=1) == ["orders-1"]
    assert pick(service="orders", percent=50) == ["orders-1", "orders-2"]
    assert pick(role="gateway:business") == ["gateway-business-1"]
    assert pick(service="orders", count=2, random=True, seed=3) == \
        pick(service="orders", count=2, random=True, seed=3)
    with pytest.raises(FaultError, match="matches no instance"):
        pick(service="nope")


def test_fault_values_are_validated_with_the_allowed_names() -> None:
    assert parse_fault("latency", {"latency_ms": 50}).attributes() == {"latency": 50, "jitter": 0}
    with pytest.raises(FaultError, match=r"allowed: .*kill.*latency"):
        parse_fault("meltdown")
    with pytest.raises(FaultError, match=r"unknown parameter.*allowed: jitter_ms, latency_ms"):
        parse_fault("latency", {"delay": 5})
    with pytest.raises(FaultError, match=r"latency_ms: Input should be greater than or equal"):
        parse_fault("latency", {"latency_ms": -1})


@pytest.mark.parametrize(("kind", "ours", "wire"), [
    ("latency", {"latency_ms": 300, "jitter_ms": 20}, {"latency": 300, "jitter": 20}),
    ("bandwidth", {"rate_kb": 64}, {"rate": 64}),
    ("slow_close", {"delay_ms": 100}, {"delay": 100}),
    ("timeout", {"timeout_ms": 250}, {"timeout": 250}),
    ("reset_peer", {"timeout_ms": 5}, {"timeout": 5}),
    ("slicer", {"average_size": 8, "size_variation": 2, "delay_us": 40},
     {"average_size": 8, "size_variation": 2, "delay": 40}),
    ("limit_data", {"bytes": 10}, {"bytes": 10}),
])
def test_unit_names_here_wire_names_to_toxiproxy_and_accepted_as_aliases(
        kind: str, ours: dict[str, int], wire: dict[str, int]) -> None:
    fault = parse_fault(kind, ours)
    assert (fault.params(), fault.attributes()) == (ours, wire)
    assert parse_fault(kind, wire) == fault  # an experiment file with Toxiproxy's names


def test_a_parameter_under_both_names_is_refused() -> None:
    with pytest.raises(FaultError, match="give latency or latency_ms, not both"):
        parse_fault("latency", {"latency": 1, "latency_ms": 2})


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[Stack, Runtime, ToxiproxyClient]]:
    with deployed_stack("dual", inference_backend="standin") as (stack, runtime):
        assert stack.spec.toxiproxy_url
        with ToxiproxyClient(stack.spec.toxiproxy_url) as client:
            yield stack, runtime, client


def spec(fault: str, target: dict[str, object], **params: int) -> FaultSpec:
    return FaultSpec(fault=fault, params=params, target=TargetSpec.model_validate(target))


def state(runtime: Runtime, iid: str) -> InstanceState:
    return next(s.state for s in runtime.statuses() if s.id == iid)


GONE = {InstanceState.EXITED, InstanceState.MISSING}


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "during"), [("kill", GONE), ("terminate", GONE),
                                               ("pause", {InstanceState.PAUSED}),
                                               ("restart", {InstanceState.RUNNING})])
def test_instance_faults_are_proven_and_undone(stack, fault: str,
                                               during: set[InstanceState]) -> None:
    _, runtime, client = stack
    injector = Injector(runtime, client)
    with injector.applied(spec(fault, {"service": "orders", "count": 1}), f"t-{fault}") as ev:
        assert ev.proof is not None and ev.proof.ok, ev.proof
        assert ev.targets == ["orders-1"] and state(runtime, "orders-1") in during
    assert ev.removal_proof is not None and ev.removal_proof.ok, ev.removal_proof
    assert state(runtime, "orders-1") is InstanceState.RUNNING


TOXICS = {"latency": {"latency_ms": 300}, "bandwidth": {"rate_kb": 1},
          "slow_close": {"delay_ms": 100}, "timeout": {"timeout_ms": 100},
          "reset_peer": {"timeout_ms": 0}, "slicer": {}, "limit_data": {"bytes": 10}}


@pytest.mark.slow
@pytest.mark.parametrize("toxic", sorted(TOXICS))
def test_network_faults_meet_live_traffic_and_are_removed(stack, toxic: str) -> None:
    stack_, runtime, client = stack
    injector = Injector(runtime, client)
    articles = stack_.spec.instance("articles-1")
    with injector.applied(spec(toxic, {"instance": "articles-1"}, **TOXICS[toxic]),
                          f"t-{toxic}") as ev:
        assert ev.proof is not None and ev.proof.ok, ev.proof
        started = time.monotonic()
        # Straight into the hop's proxy: this traffic must meet the toxic; timeout,
        # reset_peer and limit_data break the answer, which is the point.
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"{articles.url}/v1/articles", timeout=2.0, trust_env=False)
        elapsed = time.monotonic() - started
    assert ev.traffic["articles-1"].connections >= 1
    if toxic == "latency":
        assert elapsed >= 0.3
    assert ev.removal_proof is not None and ev.removal_proof.ok
    assert client.toxics("articles-1") == []
    assert httpx.get(f"{articles.url}/health", trust_env=False).status_code == 200


@pytest.mark.slow
def test_proxy_down_closes_the_hop_then_opens_it(stack) -> None:
    stack_, runtime, client = stack
    url = stack_.spec.instance("analytics-2").url
    with Injector(runtime, client).applied(spec("proxy_down", {"instance": "analytics-2"}),
                                           "t-down") as ev:
        assert ev.proof is not None and ev.proof.ok
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health", timeout=1.0, trust_env=False)
    assert ev.removal_proof is not None and ev.removal_proof.ok
    assert httpx.get(f"{url}/health", trust_env=False).status_code == 200


@pytest.mark.slow
def test_every_fault_type_is_covered_and_nothing_is_left(stack) -> None:
    stack_, runtime, client = stack
    covered = {"kill", "terminate", "pause", "restart", "proxy_down", *TOXICS}
    # The HTTP faults are covered on real traffic in tests/chaos/test_httpfaults.py.
    assert covered | set(HTTP_FAULTS) == set(FAULTS)
    assert all(p.enabled and not p.toxics for p in client.proxies().values())
    assert all(s.state is InstanceState.RUNNING for s in runtime.statuses())
    assert wait_pools_healthy(stack_, runtime, 20.0)
