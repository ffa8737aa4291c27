"""analytics: per-tenant figures computed from what the other services stored."""

from __future__ import annotations

from fastapi import FastAPI

from targets.app import create_app
from targets.context import Ctx, ServiceContext, context_lifespan
from targets.problems import error_response
from targets.services.principal import Caller
from targets.store import REDIS_ERRORS

__all__ = ["build_app"]


def build_app(ctx: ServiceContext) -> FastAPI:
    app = create_app(ctx.identity, lifespan=context_lifespan(ctx))

    @app.get("/v1/analytics/summary", response_model=None)
    async def summary(caller: Caller, ctx: Ctx):
        try:
            orders = int(await ctx.store.get(f"gc:orders-count:{caller.tenant}") or 0)
            recent = await ctx.store.llen(f"gc:orders:{caller.tenant}")
        except REDIS_ERRORS:
            return error_response(503, "analytics store unavailable", "store_unavailable")
        return {"tenant": caller.tenant, "orders_total": orders, "orders_recent": recent}

    return app
