"""Reports answered requests to the monitoring service (seed 000 §2 step 11).

Batched once a second so that monitoring costs the gateway one request a
second, not one per request; a monitoring outage never fails a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from targets.errors import UpstreamError
from targets.upstream import UpstreamPool

__all__ = ["Reporter"]

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0
MAX_PENDING = 10_000  # beyond this, events are dropped (and counted) rather than hoarded


class Reporter:
    def __init__(self, gateway: str, pool: UpstreamPool) -> None:
        self.gateway = gateway
        self.pool = pool
        self.pending: list[dict[str, object]] = []
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None

    def record(self, domain: str, route: str, status: int, latency_ms: float) -> None:
        if len(self.pending) >= MAX_PENDING:
            self.dropped += 1
            return
        self.pending.append({"gateway": self.gateway, "domain": domain, "route": route,
                             "status": status, "latency_ms": latency_ms})

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="monitoring-reporter")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            if not self.pending:
                continue
            batch, self.pending = self.pending, []
            try:
                attempt = await self.pool.request("POST", "/v1/events", json={"events": batch},
                                                  idempotent=True)
                await attempt.response.aclose()
            except UpstreamError as exc:
                self.dropped += len(batch)
                log.debug("monitoring unavailable, %d events dropped: %s", len(batch), exc)
