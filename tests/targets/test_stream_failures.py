"""What the built-in gateway does when inference fails (docs/stream-failures.md), on a
real `single` stack with fault layers on the inference hops."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chaos.httpfaults import FaultRule, HttpFaultsClient, Selector
from gatecrash.runtimes import deployed_stack, wait_pools_healthy
from gatecrash.stacks import Stack
from loadtests.metrics import classify_error
from loadtests.streaming import StreamOutcome, consume_sse
from targets.breaker import CircuitBreaker
from targets.upstream import _retry_after_s

CHAT = "/v1/chat/completions"
REPLICAS = ("inference-1", "inference-2")


def test_retry_after_keeps_a_breaker_open_that_long() -> None:
    breaker = CircuitBreaker(failures_to_open=5, open_s=0.05)
    breaker.open_for(0.3)
    time.sleep(0.1)
    assert breaker.state == "open" and not breaker.allow()
    breaker.record_success()
    assert breaker.hold_s == 0.05
    assert [_retry_after_s(v) for v in ("2", "0.5", "-1", "Wed, 21 Oct 2015", None)] == \
        [2.0, 0.5, None, None, None]


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[Stack, HttpFaultsClient]]:
    with deployed_stack("single", inference_backend="standin",
                        http_faults=("inference",)) as (stack, runtime):
        assert wait_pools_healthy(stack, runtime, 30)
        assert stack.plan.httpfaults_url is not None
        with HttpFaultsClient(stack.plan.httpfaults_url) as layers:
            yield stack, layers


@pytest.fixture
def faults(stack: tuple[Stack, HttpFaultsClient]) -> Iterator[HttpFaultsClient]:
    yield stack[1]
    stack[1].reset()
    # Chat's pools (not asked by wait_pools_healthy) take the faulted replica back
    # after a breaker cool-down and a health check: the next test starts even.
    time.sleep(stack[0].spec.limits.breaker_open_s + 2 * stack[0].spec.limits.health_interval_s)


def add(layers: HttpFaultsClient, targets: tuple[str, ...], type: str, **attributes: Any) -> None:
    for t in targets:
        layers.add_fault(t, FaultRule(name="f", type=type, attributes=attributes,
                                      match=Selector(path=CHAT)))


def stream(stack: Stack, n: int = 1) -> list[tuple[httpx.Headers, StreamOutcome]]:
    body = {"model": "gatecrash-standin", "stream": True, "max_tokens": 6,
            "messages": [{"role": "user", "content": "a b c d e f"}]}
    out = []
    with httpx.Client(base_url=stack.spec.entry_url, timeout=10, trust_env=False,
                      headers={"Authorization": f"Bearer {stack.api_key}"}) as client:
        for _ in range(n):
            with client.stream("POST", CHAT, json=body) as response:
                assert response.status_code == 200, response.read()
                lines = (line.encode() + b"\n" for line in response.iter_lines())
                out.append((response.headers, consume_sse(lines)))
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("type", "attributes"), [
    ("stream_cut", {"after_events": 0}),  # headers sent, not one body byte
    ("abort", {}),
    ("http_error", {"status": 500}),
])
def test_a_failure_before_the_first_byte_is_retried_on_another_replica(
        stack: tuple[Stack, HttpFaultsClient], faults: HttpFaultsClient, type: str,
        attributes: dict[str, Any]) -> None:
    add(faults, REPLICAS[:1], type, **attributes)
    results = stream(stack[0], 8)
    assert all(out.done and out.error is None for _, out in results), \
        [(dict(h), o.error) for h, o in results]
    assert faults.fault(REPLICAS[0], "f").counters.fired >= 1
    assert "retry" in {headers["x-gatecrash-route"] for headers, _ in results}


@pytest.mark.slow
def test_retry_after_keeps_the_refusing_replica_out(stack: tuple[Stack, HttpFaultsClient],
                                                    faults: HttpFaultsClient) -> None:
    add(faults, REPLICAS[:1], "http_error", status=429, retry_after_s=5)
    results = stream(stack[0], 10)
    assert all(out.done for _, out in results)
    # Round robin would send 5 of 10 there; each chat replica's breaker held it out
    # after its first 429 (two chat replicas, one pool each).
    assert faults.fault(REPLICAS[0], "f").counters.matched <= 2


@pytest.mark.slow
def test_a_stream_cut_after_its_first_byte_ends_with_an_explicit_error(
        stack: tuple[Stack, HttpFaultsClient], faults: HttpFaultsClient) -> None:
    add(faults, REPLICAS, "stream_cut", after_events=2)
    (_, out), = stream(stack[0])
    assert len(out.chunk_times) == 2 and not out.done
    assert classify_error(200, out.error) == "stream_error_event"


@pytest.mark.slow
def test_a_whole_answer_cut_mid_body_is_retried_on_another_replica(
        stack: tuple[Stack, HttpFaultsClient], faults: HttpFaultsClient) -> None:
    # A non-streamed answer whose head arrived but whose body was cut (a replica
    # killed mid-answer) is retried like one cut before its first byte.
    add(faults, REPLICAS[:1], "stream_cut", after_bytes=5)
    with httpx.Client(base_url=stack[0].spec.entry_url, timeout=10, trust_env=False,
                      headers={"Authorization": f"Bearer {stack[0].api_key}"}) as client:
        # Distinct prompts: an answer already cached would never reach inference.
        answers = [client.post(CHAT, json={"model": "gatecrash-standin", "max_tokens": 4,
                                           "messages": [{"role": "user",
                                                         "content": f"cut body {i}"}]})
                   for i in range(8)]
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    assert all(a.json()["choices"][0]["message"]["content"] for a in answers)
    assert faults.fault(REPLICAS[0], "f").counters.fired >= 1
    assert "retry" in {a.headers["x-gatecrash-route"] for a in answers}
