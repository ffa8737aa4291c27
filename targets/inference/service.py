"""`build_app`: the inference service as a FastAPI app (local model or upstream proxy)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from targets.app import ServiceIdentity, create_app
from targets.inference import api, upstream
from targets.inference.backends import load_model
from targets.inference.engine import Engine, engine_summary
from targets.inference.httputil import ApiError, api_error_response
from targets.inference.settings import InferenceSettings

__all__ = ["build_app"]

SERVICE_TITLE = "gatecrash inference"


class _EngineCollector(Collector):
    """Queue depth, batch size and token counts, read from the engine at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Any]:
        engine, stats = self.engine, self.engine.stats
        yield GaugeMetricFamily("gatecrash_inference_queue_depth",
                                "Requests waiting for a batch slot", value=engine.queue_depth)
        yield GaugeMetricFamily("gatecrash_inference_batch_size",
                                "Sequences in the running batch", value=engine.batch_size)
        yield CounterMetricFamily("gatecrash_inference_generated_tokens",
                                  "Tokens generated", value=stats.generated_tokens)
        yield CounterMetricFamily("gatecrash_inference_rejected_requests",
                                  "Requests refused with 503 (queue full)",
                                  value=stats.rejected_requests)
        yield CounterMetricFamily("gatecrash_inference_cancelled_requests",
                                  "Requests whose client went away",
                                  value=stats.cancelled_requests)
        yield CounterMetricFamily("gatecrash_inference_decode_steps",
                                  "Batched decode steps", value=stats.decode_steps)


def _local_app(identity: ServiceIdentity, settings: InferenceSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Loading takes seconds (minutes for a first GGUF conversion): keep the loop free.
        loaded = await asyncio.to_thread(load_model, settings)
        engine = Engine(loaded, max_batch_size=settings.max_batch_size,
                        max_queue=settings.max_queue)
        engine.start(asyncio.get_running_loop())
        app.state.engine = engine
        app.state.metrics.registry.register(_EngineCollector(engine))
        try:
            yield
        finally:
            await asyncio.to_thread(engine.stop)

    async def health_extra() -> dict[str, Any]:
        engine: Engine | None = getattr(app.state, "engine", None)
        if engine is None:
            return {"status": "starting", "backend": settings.backend}
        body = {"backend": settings.backend, **engine_summary(engine)}
        if not engine.alive:
            body["status"] = "down"
        return body

    app = create_app(identity, health_extra=health_extra, lifespan=lifespan,
                     title=SERVICE_TITLE)
    app.include_router(api.router)
    return app


def _upstream_app(identity: ServiceIdentity, settings: InferenceSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        proxy = upstream.UpstreamProxy(settings)
        app.state.upstream = proxy
        try:
            yield
        finally:
            await proxy.aclose()

    async def health_extra() -> dict[str, Any]:
        proxy: upstream.UpstreamProxy | None = getattr(app.state, "upstream", None)
        return proxy.health() if proxy else {"status": "starting"}

    app = create_app(identity, health_extra=health_extra, lifespan=lifespan,
                     title=SERVICE_TITLE)
    app.include_router(upstream.router)
    return app


def build_app(identity: ServiceIdentity, settings: InferenceSettings) -> FastAPI:
    """The inference service; the model loads in the app's lifespan (at server start)."""
    if settings.backend_spec.kind == "upstream":
        app = _upstream_app(identity, settings)
    else:
        app = _local_app(identity, settings)
    app.state.settings = settings
    app.state.started_at = time.time()
    app.add_exception_handler(ApiError, api_error_response)
    return app
