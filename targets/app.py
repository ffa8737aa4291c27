"""What every service has: `/health`, Prometheus `/metrics`, its instance id in headers.

A program builds its FastAPI app with `create_app`, then adds its routes.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from targets.headers import HEADER_INSTANCE

__all__ = ["HealthExtra", "ServiceIdentity", "ServiceMetrics", "create_app"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HealthExtra = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class ServiceIdentity:
    instance: str
    service: str
    role: str | None = None


class ServiceMetrics:
    """Per-app registry, so several apps can live in one test process."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gatecrash_http_requests", "HTTP requests served",
            ["method", "path", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "gatecrash_http_request_duration_seconds", "Time to the response start",
            ["method", "path"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.service = service


class _InstanceMiddleware:
    """Pure ASGI (no body buffering): streams pass through untouched."""

    def __init__(self, app: ASGIApp, identity: ServiceIdentity, metrics: ServiceMetrics) -> None:
        self.app = app
        self.header = (HEADER_INSTANCE.lower().encode(), identity.instance.encode())
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", []) if h[0] != self.header[0]]
                # A proxying service keeps the answering replica's id when it has one.
                upstream = [h for h in message.get("headers", []) if h[0] == self.header[0]]
                message["headers"] = [*headers, upstream[0] if upstream else self.header]
                route = scope.get("route")
                path = getattr(route, "path", "other")
                self.metrics.latency.labels(scope["method"], path).observe(
                    time.perf_counter() - start
                )
                self.metrics.requests.labels(scope["method"], path, str(status)).inc()
            await send(message)

        await self.app(scope, receive, send_wrapper)


def create_app(
    identity: ServiceIdentity,
    *,
    health_extra: HealthExtra | None = None,
    lifespan: Any = None,
    title: str | None = None,
) -> FastAPI:
    """A FastAPI app with the routes and headers every Gatecrash service has."""
    app = FastAPI(title=title or identity.service, lifespan=lifespan, docs_url=None,
                  redoc_url=None)
    metrics = ServiceMetrics(identity.service)
    app.state.identity = identity
    app.state.metrics = metrics

    @app.get("/health")
    async def health() -> JSONResponse:
        body: dict[str, Any] = {
            "status": "ok",
            "instance": identity.instance,
            "service": identity.service,
            "role": identity.role,
        }
        if health_extra is not None:
            body.update(await health_extra())
        code = 200 if body.get("status") == "ok" else 503
        return JSONResponse(body, status_code=code)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(_InstanceMiddleware, identity=identity, metrics=metrics)
    return app
