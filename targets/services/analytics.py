"""analytics: per-tenant figures computed from what the other services stored."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from targets.app import create_app, plain_route
from targets.context import ServiceContext, context_lifespan
from targets.problems import error_response
from targets.services.principal import caller
from targets.store import REDIS_ERRORS

__all__ = ["build_app"]


def build_app(ctx: ServiceContext) -> FastAPI:
    app = create_app(ctx.identity, lifespan=context_lifespan(ctx))

    @plain_route(app, "GET", "/v1/analytics/summary")
    async def summary(request: Request) -> Response:
        tenant = caller(request).tenant
        try:  # one round trip for both keys
            pipe = ctx.store.pipeline(transaction=False)
            pipe.get(f"gc:orders-count:{tenant}")
            pipe.llen(f"gc:orders:{tenant}")
            count, recent = await pipe.execute()
        except REDIS_ERRORS:
            return error_response(503, "analytics store unavailable", "store_unavailable")
        return JSONResponse({"tenant": tenant, "orders_total": int(count or 0),
                             "orders_recent": recent})

    return app
