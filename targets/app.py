"""What every service has: `/health`, Prometheus `/metrics`, its instance id in headers.

A program builds its FastAPI app with `create_app`, then adds its routes. Routes
on the request path of the architectures are plain Starlette routes
(`plain_route`): FastAPI's dependency solving and response encoding cost about
80 µs per request more, on every hop (docs/performance.md).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
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
from targets.payload import Rejected

__all__ = ["Handler", "HealthExtra", "ServiceIdentity", "ServiceMetrics", "create_app",
           "plain_route"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HealthExtra = Callable[[], Awaitable[dict[str, Any]]]
Handler = Callable[[Request], Awaitable[Response]]


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
        # `labels()` hashes and validates its arguments on every call: each
        # (method, path, status) looks its series up once.
        self._series: dict[tuple[str, str, int], tuple[Histogram, Counter]] = {}

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        key = (method, path, status)
        series = self._series.get(key)
        if series is None:
            series = (self.latency.labels(method, path),
                      self.requests.labels(method, path, str(status)))
            self._series[key] = series
        series[0].observe(seconds)
        series[1].inc()


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
        own = self.header
        name = own[0]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A proxying service keeps the answering replica's id when it has one.
                headers: list[tuple[bytes, bytes]] = []
                instance = None
                for header in message.get("headers", ()):
                    if header[0] != name:
                        headers.append(header)
                    elif instance is None:
                        instance = header
                headers.append(instance or own)
                message["headers"] = headers
                route = scope.get("route")
                self.metrics.observe(scope["method"], getattr(route, "path", "other"),
                                     message["status"], time.perf_counter() - start)
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

    # Plain routes: every gateway asks every replica twice a second.
    @plain_route(app, "GET", "/health")
    async def health(request: Request) -> Response:
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

    @plain_route(app, "GET", "/metrics")
    async def prometheus(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(_InstanceMiddleware, identity=identity, metrics=metrics)
    return app


def plain_route(app: FastAPI, method: str | tuple[str, ...],
                path: str) -> Callable[[Handler], Handler]:
    """Register `handler(request) -> Response` as a plain Starlette route of `app`.

    No dependency injection and no response model: the handler reads what it
    needs from the request (`payload.parse_model` for a body). A `Rejected`
    it raises is its answer.
    """

    def register(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except Rejected as rejected:
                return rejected.response

        methods = [method] if isinstance(method, str) else list(method)
        app.add_route(path, endpoint, methods=methods, name=handler.__name__)
        return handler

    return register
