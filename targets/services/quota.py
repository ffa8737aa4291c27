"""quota: per-tenant request quota, a fixed window counter in Redis."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from targets.app import create_app, plain_route
from targets.context import ServiceContext, context_lifespan
from targets.payload import parse_model
from targets.problems import error_response
from targets.store import REDIS_ERRORS

__all__ = ["WINDOW_S", "build_app"]

WINDOW_S = 60


class ConsumeRequest(BaseModel):
    tenant: str
    cost: int = Field(default=1, ge=1, le=1000)


def _window() -> tuple[int, int]:
    now = int(time.time())
    start = now - now % WINDOW_S
    return start, start + WINDOW_S - now


def build_app(ctx: ServiceContext) -> FastAPI:
    app = create_app(ctx.identity, lifespan=context_lifespan(ctx))

    def limit_of(tenant: str) -> int | None:
        spec = ctx.stack.tenant(tenant)
        return spec.quota_per_minute if spec else None

    @plain_route(app, "POST", "/v1/quota/consume")
    async def consume(request: Request) -> Response:
        body = parse_model(await request.body(), ConsumeRequest)
        limit = limit_of(body.tenant)
        if limit is None:
            return error_response(403, f"unknown tenant {body.tenant}", "tenant_inactive")
        start, reset_s = _window()
        key = f"gc:quota:{body.tenant}:{start}"
        try:
            # No MULTI/EXEC: both commands go in one write and Redis runs them in
            # order; the expiry only bounds the key's life.
            pipe = ctx.store.pipeline(transaction=False)
            pipe.incrby(key, body.cost)
            pipe.expire(key, WINDOW_S * 2)
            used, _ = await pipe.execute()
        except REDIS_ERRORS:
            return error_response(503, "quota store unavailable", "store_unavailable")
        state = {"limit": limit, "used": int(used), "remaining": max(0, limit - int(used)),
                 "reset_s": reset_s}
        if int(used) > limit:
            return error_response(429, f"quota of {limit} requests per minute exceeded",
                                  "quota_exceeded", headers={"Retry-After": str(reset_s)})
        return JSONResponse(state)

    @plain_route(app, "GET", "/v1/quota/{tenant}")
    async def status(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        limit = limit_of(tenant)
        if limit is None:
            return error_response(403, f"unknown tenant {tenant}", "tenant_inactive")
        start, reset_s = _window()
        try:
            used = int(await ctx.store.get(f"gc:quota:{tenant}:{start}") or 0)
        except REDIS_ERRORS:
            return error_response(503, "quota store unavailable", "store_unavailable")
        return JSONResponse({"limit": limit, "used": used, "remaining": max(0, limit - used),
                             "reset_s": reset_s})

    return app
