"""monitoring: gateways report each answered request here (seed 000 §2 step 11)."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import Counter, Histogram
from pydantic import BaseModel

from targets.app import LATENCY_BUCKETS, ServiceMetrics, create_app
from targets.context import ServiceContext, context_lifespan

__all__ = ["EventBatch", "RequestEvent", "build_app"]


class RequestEvent(BaseModel):
    gateway: str
    domain: str
    route: str
    status: int
    latency_ms: float


class EventBatch(BaseModel):
    events: list[RequestEvent]


def build_app(ctx: ServiceContext) -> FastAPI:
    app = create_app(ctx.identity, lifespan=context_lifespan(ctx))
    metrics: ServiceMetrics = app.state.metrics
    served = Counter("gatecrash_gateway_requests", "Requests reported by gateways",
                     ["gateway", "domain", "route", "status"], registry=metrics.registry)
    latency = Histogram("gatecrash_gateway_latency_seconds", "Gateway-reported latency",
                        ["gateway", "domain"], buckets=LATENCY_BUCKETS,
                        registry=metrics.registry)
    totals: dict[str, int] = {}

    @app.post("/v1/events", status_code=204)
    async def record(batch: EventBatch) -> None:
        for event in batch.events:
            served.labels(event.gateway, event.domain, event.route, str(event.status)).inc()
            latency.labels(event.gateway, event.domain).observe(event.latency_ms / 1000)
            key = f"{event.domain}/{event.route}"
            totals[key] = totals.get(key, 0) + 1

    @app.get("/v1/summary")
    async def summary() -> dict[str, int]:
        return dict(totals)

    return app
