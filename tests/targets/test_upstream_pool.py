"""`UpstreamPool` against fake replicas: round robin, passive and active ejection,
retry on another replica, panic mode and the circuit breaker.

The replicas are a fake hop client (`FakeReplicas`): each answers as the
test tells it, and every request it sees is logged, so a test can say which
replica got a request and which never did. The breaker's clock is a fake too,
so cool-downs pass without sleeping.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import targets.breaker
from targets.breaker import BreakerState
from targets.connection import HopConnectError, HopProtocolError, HopResponse
from targets.errors import UpstreamError
from targets.hop import HopClient, HopTimeout
from targets.stack import InstanceSpec, Limits
from targets.topology import Program
from targets.upstream import UNHEALTHY_CHECKS, UpstreamPool

BASE_PORT = 9100
BREAKER_FAILURES = 3
BREAKER_OPEN_S = 2.0
LIMITS = Limits(breaker_failures=BREAKER_FAILURES, breaker_open_s=BREAKER_OPEN_S)

# What a fake replica does with a request (besides answering 200).
REFUSE = "refuse"  # connection refused: the request never reached it
RESET = "reset"  # connection dropped after sending: it may have been served


class FakeClock:
    """Stands in for `time` in the breaker: moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class FakeReplicas(HopClient):
    """A hop client whose requests never leave the process: it stands in for
    the replicas of `orders`."""

    def __init__(self, count: int) -> None:
        super().__init__(HopTimeout(read_s=1.0, connect_s=1.0))
        self.ids = [f"orders-{i + 1}" for i in range(count)]
        self.answer: dict[str, str | int] = dict.fromkeys(self.ids, 200)
        self.health: dict[str, int | str] = dict.fromkeys(self.ids, 200)
        self.seen: list[tuple[str, str]] = []  # (replica, method) of every API request

    def specs(self) -> list[InstanceSpec]:
        return [InstanceSpec(id=rid, service="orders", program=Program.ORDERS,
                             port=BASE_PORT + i, address=f"127.0.0.1:{BASE_PORT + i}")
                for i, rid in enumerate(self.ids)]

    async def request(self, method: str, url: str, **_: Any) -> HopResponse:
        address, _slash, path = url.removeprefix("http://").partition("/")
        rid = self.ids[int(address.rpartition(":")[2]) - BASE_PORT]
        if path == "health":
            behaviour = self.health[rid]
        else:
            self.seen.append((rid, method))
            behaviour = self.answer[rid]
        if behaviour == REFUSE:
            raise HopConnectError(f"{address}: connection refused")
        if behaviour == RESET:
            raise HopProtocolError(f"{address}: connection reset by peer")
        assert isinstance(behaviour, int)
        return HopResponse.complete(behaviour, {"content-type": "application/json"},
                                    json.dumps({"replica": rid}).encode())

    def reached(self, rid: str) -> int:
        return sum(1 for seen, _ in self.seen if seen == rid)


Scenario = Callable[[UpstreamPool, FakeReplicas], Coroutine[Any, Any, None]]


def run_pool(count: int, scenario: Scenario) -> None:
    """Run `scenario` against a pool over `count` fake replicas (no health loop:
    the tests run health checks themselves, one round at a time)."""
    fake = FakeReplicas(count)

    async def main() -> None:
        await scenario(UpstreamPool("orders", fake.specs(), fake, LIMITS), fake)

    asyncio.run(main())


async def get(pool: UpstreamPool) -> str:
    """An idempotent request; the id of the replica that answered it."""
    attempt = await pool.request("GET", "/v1/orders", idempotent=True)
    return attempt.replica.id


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(targets.breaker, "time", fake)
    return fake


def test_round_robin_over_every_replica() -> None:
    async def scenario(pool: UpstreamPool, fake: FakeReplicas) -> None:
        answered = [await get(pool) for _ in range(6)]
        assert answered == ["orders-1", "orders-2", "orders-3"] * 2

    run_pool(3, scenario)


@pytest.mark.parametrize("error", [REFUSE, RESET])
def test_transport_error_ejects_and_retries_an_idempotent_request(error: str) -> None:
    async def scenario(pool: UpstreamPool, fake: FakeReplicas) -> None:
        fake.answer["orders-1"] = error
        attempt = await pool.request("GET", "/v1/orders", idempotent=True)
        assert (attempt.replica.id, attempt.retried) == ("orders-2", True)
        assert attempt.response.status_code == 200
        # Ejected at once: later requests never go to it, and are not retries.
        later = [await pool.request("GET", "/v1/orders", idempotent=True) for _ in range(4)]
        assert {a.replica.id for a in later} == {"orders-2", "orders-3"}
        assert not any(a.retried for a in later)
        assert fake.reached("orders-1") == 1

    run_pool(3, scenario)


def test_refused_connection_retries_even_a_non_idempotent_request() -> None:
    async def scenario(pool: UpstreamPool, fake: FakeReplicas) -> None:
        fake.answer["orders-1"] = REFUSE
        attempt = await pool.request("POST", "/v1/orders", idempotent=False, json={})
        assert (attempt.replica.id, attempt.retried) == ("orders-2", True)

    run_pool(2, scenario)


def test_non_idempotent_request_that_may_have_arrived_is_not_retried() -> None:
    async def scenario(pool: UpstreamPool, fake: FakeReplicas) -> None:
        fake.answer["orders-1"] = RESET
        with pytest.raises(UpstreamError, match="orders-1: HopProtocolError"):
            await pool.request("POST", "/v1/orders", idempotent=False, json={})
        assert fake.seen == [("orders-1", "POST")]  # orders-2 never got it
        assert pool.replicas[0].healthy is False

    run_pool(2, scenario)


@pytest.mark.parametrize("status", [502, 503, 504])
def test_bad_gateway_status_retries_an_idempotent_request_elsewhere(status: int) -> None:
    async def scenario(pool: UpstreamPool, fake: FakeReplicas) -> None:
        fake.answer["orders-1"] = status
        attempt = await pool.request("GET", "/v1/orders", idempotent=True)
        assert (attempt.replica.id, attempt.retried) == ("orders-2", True)
        assert attempt.response.status_code == 200
        # An answer, even a bad one, is no reason to eject: the breaker counts it.
        assert pool.replicas[0].healthy and pool.replicas[0].breaker.failures == 1

    run_pool(2, scenario)


@pytest.mark.parametrize("status", [503, 500])
def test_status_is_relayed_without_retry_when_not_safe(status: int) -> None:
    """503 on a non-idempotent request, or a status no other replica would fix."""

    async def scenario(pool: UpstreamPool, fake: FakeReplicas) -> None:
        fake.answer["orders-1"] = status
        attempt = await pool.request("POST", "/v1/orders", idempotent=status == 500, json={})
        assert (attempt.replica.id, attempt.retried) == ("orders-1", False)
        assert attempt.response.status_code == status
        assert fake.reached("orders-2") == 0

    run_pool(2, scenario)


def test_ejected_only_after_consecutive_failed_health_checks() -> None:
    async def scenario(pool: UpstreamPool, fake: FakeReplicas) -> None:
        fake.health["orders-1"] = 503
        await pool.check_health()
        # One slow or failed check is not an outage: it still serves.
        assert pool.replicas[0].healthy
        assert {await get(pool) for _ in range(2)} == {"orders-1", "orders-2"}
        # A good check in between starts the count again.
        fake.health["orders-1"] = 200
        await pool.check_health()
        fake.health["orders-1"] = REFUSE
        for _ in range(UNHEALTHY_CHECKS - 1):
            await pool.check_health()
        assert pool.replicas[0].healthy
        await pool.check_health()
        assert not pool.replicas[0].healthy
        before = fake.reached("orders-1")
        assert {await get(pool) for _ in range(4)} == {"orders-2"}
        assert fake.reached("orders-1") == before

    run_pool(2, scenario)


def test_one_good_health_check_brings_an_ejected_replica_back() -> None:
    async def scenario(pool: UpstreamPool, fake: FakeReplicas) -> None:
        fake.answer["orders-1"] = REFUSE
        assert await get(pool) == "orders-2"  # passive ejection of orders-1
        assert {await get(pool) for _ in range(3)} == {"orders-2"}
        fake.answer["orders-1"] = 200
        await pool.check_health()
        replica = pool.replicas[0]
        assert replica.healthy and replica.breaker.state is BreakerState.CLOSED
        assert replica.breaker.failures == 0
        assert {await get(pool) for _ in range(2)} == {"orders-1", "orders-2"}

    run_pool(2, scenario)


def test_panic_mode_tries_replicas_whose_breaker_is_closed() -> None:
    """Health checks can all fail on busy replicas that still serve: with none
    left, the pool tries those that real requests have not tripped."""

    async def scenario(pool: UpstreamPool, fake: FakeReplicas) -> None:
        for rid in fake.ids:
            fake.health[rid] = 503
        for _ in range(UNHEALTHY_CHECKS):
            await pool.check_health()
        assert not any(r.healthy for r in pool.replicas)
        assert {await get(pool) for _ in range(4)} == {"orders-1", "orders-2", "orders-3"}
        # A replica whose breaker is open is left out, even in panic mode.
        fake.answer["orders-1"] = 503
        while pool.replicas[0].breaker.state is BreakerState.CLOSED:
            await get(pool)
        before = fake.reached("orders-1")
        assert {await get(pool) for _ in range(4)} == {"orders-2", "orders-3"}
        assert fake.reached("orders-1") == before

    run_pool(3, scenario)


def test_no_replica_to_try_is_an_upstream_error(clock: FakeClock) -> None:
    async def scenario(pool: UpstreamPool, fake: FakeReplicas) -> None:
        fake.answer["orders-1"] = fake.answer["orders-2"] = RESET
        # Each request ejects both, then panic mode tries them again until
        # their breakers open.
        for _ in range(BREAKER_FAILURES):
            with pytest.raises(UpstreamError, match="every attempt failed"):
                await get(pool)
        assert all(r.breaker.state is BreakerState.OPEN for r in pool.replicas)
        reached = len(fake.seen)
        with pytest.raises(UpstreamError, match="no healthy replica"):
            await get(pool)
        assert len(fake.seen) == reached

    run_pool(2, scenario)


def test_breaker_opens_after_consecutive_failures(clock: FakeClock) -> None:
    async def scenario(pool: UpstreamPool, fake: FakeReplicas) -> None:
        fake.answer["orders-1"] = 503
        breaker = pool.replicas[0].breaker
        while fake.reached("orders-1") < BREAKER_FAILURES - 1:
            assert await get(pool) == "orders-2"  # each 503 retried on orders-2
        assert breaker.state is BreakerState.CLOSED
        while fake.reached("orders-1") < BREAKER_FAILURES:
            await get(pool)
        assert breaker.state is BreakerState.OPEN
        assert pool.replicas[0].healthy  # its health checks may pass: still left out
        await pool.check_health()
        assert breaker.state is BreakerState.OPEN
        assert {await get(pool) for _ in range(4)} == {"orders-2"}
        assert fake.reached("orders-1") == BREAKER_FAILURES

    run_pool(2, scenario)


def _open_breaker_of_first(pool: UpstreamPool, clock: FakeClock) -> None:
    breaker = pool.replicas[0].breaker
    for _ in range(BREAKER_FAILURES):
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += BREAKER_OPEN_S
    assert breaker.state is BreakerState.HALF_OPEN


def test_half_open_breaker_lets_one_probe_through(clock: FakeClock) -> None:
    async def scenario(pool: UpstreamPool, fake: FakeReplicas) -> None:
        _open_breaker_of_first(pool, clock)
        # One probe at a time: a second selection leaves orders-1 out.
        assert [r.id for r in pool.candidates()] == ["orders-2", "orders-1"]
        assert [r.id for r in pool.candidates()] == ["orders-2"]

    run_pool(2, scenario)


def test_successful_probe_closes_the_breaker(clock: FakeClock) -> None:
    async def scenario(pool: UpstreamPool, fake: FakeReplicas) -> None:
        _open_breaker_of_first(pool, clock)
        fake.answer["orders-2"] = REFUSE  # so the request falls to the probe
        attempt = await pool.request("GET", "/v1/orders", idempotent=True)
        assert (attempt.replica.id, attempt.retried) == ("orders-1", True)
        assert pool.replicas[0].breaker.state is BreakerState.CLOSED

    run_pool(2, scenario)


def test_failed_probe_opens_the_breaker_again(clock: FakeClock) -> None:
    async def scenario(pool: UpstreamPool, fake: FakeReplicas) -> None:
        _open_breaker_of_first(pool, clock)
        fake.answer["orders-1"] = 503
        fake.answer["orders-2"] = REFUSE
        attempt = await pool.request("GET", "/v1/orders", idempotent=True)
        assert (attempt.replica.id, attempt.response.status_code) == ("orders-1", 503)
        assert attempt.retried
        assert pool.replicas[0].breaker.state is BreakerState.OPEN

    run_pool(2, scenario)


def test_good_health_check_after_the_cool_down_is_the_probe(clock: FakeClock) -> None:
    async def scenario(pool: UpstreamPool, fake: FakeReplicas) -> None:
        breaker = pool.replicas[0].breaker
        for _ in range(BREAKER_FAILURES):
            breaker.record_failure()
        await pool.check_health()  # still cooling down: stays open
        assert breaker.state is BreakerState.OPEN
        clock.now += BREAKER_OPEN_S
        await pool.check_health()
        assert breaker.state is BreakerState.CLOSED
        assert {await get(pool) for _ in range(2)} == {"orders-1", "orders-2"}

    run_pool(2, scenario)
