"""Balancing over the replicas of one upstream service.

Round robin over healthy replicas; active health checks; passive ejection on
a transport error; a circuit breaker per replica; one retry on another
replica when the request is safe to repeat; per-hop timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from targets.breaker import BreakerState, CircuitBreaker
from targets.connection import HopConnectError, HopError, HopResponse
from targets.errors import UpstreamError
from targets.hop import HopClient, HopTimeout
from targets.stack import InstanceSpec, Limits

__all__ = ["Attempt", "Replica", "UpstreamPool", "make_client", "stream_timeout"]

log = logging.getLogger(__name__)

# Statuses that mean "this replica could not serve it", so another may.
RETRYABLE_STATUSES = frozenset({502, 503, 504})
MAX_ATTEMPTS = 2  # the first try and one retry on another replica
# A replica's Retry-After keeps its breaker open that long, within reason.
MAX_RETRY_AFTER_S = 30.0
UNHEALTHY_CHECKS = 2  # consecutive failed health checks before ejection


def make_client(limits: Limits) -> HopClient:
    """One client per process: pooled keep-alive connections to every upstream."""
    return HopClient(HopTimeout(read_s=limits.hop_timeout_s, connect_s=limits.connect_timeout_s))


def stream_timeout(limits: Limits) -> HopTimeout:
    """For streamed answers: only the first byte (and each gap) is bounded."""
    return HopTimeout(read_s=limits.stream_first_byte_timeout_s,
                      connect_s=limits.connect_timeout_s)


@dataclass
class Replica:
    spec: InstanceSpec
    breaker: CircuitBreaker
    healthy: bool = True
    failed_checks: int = 0

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def available(self) -> bool:
        return self.healthy and self.breaker.state is BreakerState.CLOSED


@dataclass
class Attempt:
    """The response of the replica that answered, and whether it was a retry."""

    response: HopResponse
    replica: Replica
    retried: bool


class UpstreamPool:
    def __init__(self, service: str, replicas: list[InstanceSpec], client: HopClient,
                 limits: Limits) -> None:
        self.service = service
        self.client = client
        self.limits = limits
        self.replicas = [
            Replica(spec, CircuitBreaker(limits.breaker_failures, limits.breaker_open_s))
            for spec in replicas
        ]
        self._next = 0
        self._health_task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> None:
        if self._health_task is None:
            self._health_task = asyncio.create_task(self._health_loop(),
                                                    name=f"health:{self.service}")

    async def stop(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
            self._health_task = None

    async def _health_loop(self) -> None:
        while True:
            try:
                await self.check_health()
            except Exception:  # a bug here must not stop every later check unseen
                log.exception("%s: health check round failed", self.service)
            await asyncio.sleep(self.limits.health_interval_s)

    async def check_health(self) -> None:
        """One round of active health checks, on every replica at once."""
        await asyncio.gather(*(self._check(r) for r in self.replicas))

    async def _check(self, replica: Replica) -> None:
        try:
            resp = await self.client.get(f"{replica.spec.url}/health",
                                         timeout=self.limits.health_timeout_s)
            ok = resp.status_code == 200
        except HopError:
            ok = False
        if ok and not replica.healthy:
            log.info("%s: %s healthy again", self.service, replica.id)
            replica.breaker.record_success()
        elif ok and replica.breaker.state is BreakerState.HALF_OPEN:
            # After the cool-down, a good health check is the probe: without it a
            # breaker opened by errors would wait for live traffic to close.
            replica.breaker.record_success()
        replica.failed_checks = 0 if ok else replica.failed_checks + 1
        # One slow answer from a busy replica is not an outage: eject after a few
        # (a transport error on a real request still ejects at once).
        if ok or replica.failed_checks >= UNHEALTHY_CHECKS:
            replica.healthy = ok

    # -- selection ---------------------------------------------------------
    def candidates(self) -> list[Replica]:
        """Replicas to try, in order: available ones round robin, then probes."""
        n = len(self.replicas)
        start = self._next
        self._next = (self._next + 1) % n
        ordered = [self.replicas[(start + i) % n] for i in range(n)]
        picked = [r for r in ordered if r.available]
        if len(picked) < MAX_ATTEMPTS:
            # A half-open breaker lets one probe through; a replica that the
            # health check has not yet seen fail is worth one try.
            for r in ordered:
                if r not in picked and r.healthy and r.breaker.allow():
                    picked.append(r)
        if not picked:
            # Panic mode (Envoy's): health checks can all fail on busy replicas
            # that still serve; try those real requests have not tripped.
            picked = [r for r in ordered if r.breaker.state is BreakerState.CLOSED]
        return picked

    def status(self) -> list[dict[str, Any]]:
        return [{"instance": r.id, "healthy": r.healthy, "breaker": r.breaker.state.value}
                for r in self.replicas]

    # -- requests ----------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        query: str = "",
        stream: bool = False,
        timeout: HopTimeout | float | None = None,
        retry_statuses: frozenset[int] = RETRYABLE_STATUSES,
    ) -> Attempt:
        """Send to one replica, retrying once on another when that is safe.

        `retry_statuses`: answers meaning "this replica could not serve it"; one
        carrying `Retry-After` keeps that replica's breaker open as long.
        With `stream=True` the body is not read: the caller iterates it and
        must close the response. `query` is the encoded query string, passed on as
        is. Raises `UpstreamError` when no replica answered.
        """
        candidates = self.candidates()
        if not candidates:
            raise UpstreamError(self.service, "no healthy replica (all ejected or circuit open)")
        last_error = "no attempt"
        for attempt_no, replica in enumerate(candidates[:MAX_ATTEMPTS]):
            try:
                response = await self.client.request(
                    method, f"{replica.spec.url}{path}", json=json, content=content,
                    headers=headers, query=query, timeout=timeout, stream=stream)
            except HopError as exc:
                last_error = f"{replica.id}: {type(exc).__name__}"
                self._fail(replica, eject=True)
                # A refused connection never reached the server: safe to retry.
                if idempotent or isinstance(exc, HopConnectError):
                    continue
                raise UpstreamError(self.service, last_error) from exc
            if response.status_code in retry_statuses:
                last_error = f"{replica.id}: HTTP {response.status_code}"
                self._fail(replica, eject=False)
                pause = _retry_after_s(response.headers.get("retry-after"))
                if pause is not None:
                    replica.breaker.open_for(min(pause, MAX_RETRY_AFTER_S))
                if idempotent and attempt_no + 1 < min(MAX_ATTEMPTS, len(candidates)):
                    await response.aclose()
                    continue
                return Attempt(response, replica, retried=attempt_no > 0)
            replica.breaker.record_success()
            return Attempt(response, replica, retried=attempt_no > 0)
        raise UpstreamError(self.service, f"every attempt failed (last: {last_error})")

    def _fail(self, replica: Replica, *, eject: bool) -> None:
        replica.breaker.record_failure()
        if eject:
            # Passive ejection: the health check brings it back.
            replica.healthy = False


def _retry_after_s(value: str | None) -> float | None:
    """`Retry-After` in seconds (the delta form; an HTTP date is not honoured)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
