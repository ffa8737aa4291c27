"""quota: per-tenant request quota, a fixed window counter in Redis."""

from __future__ import annotations

import json
import time

import redis.asyncio as aioredis
from fastapi import FastAPI
from pydantic import BaseModel, Field

from targets.app import create_app
from targets.context import Ctx, ServiceContext, context_lifespan
from targets.endpoints import ENDPOINTS
from targets.fallback import remember_identity
from targets.problems import error_response
from targets.services.principal import Caller
from targets.store import REDIS_ERRORS

__all__ = ["WINDOW_S", "build_app", "take"]

QUOTA = next(e for e in ENDPOINTS if e.name == "identity.quota")

WINDOW_S = 60


class ConsumeRequest(BaseModel):
    tenant: str
    cost: int = Field(default=1, ge=1, le=1000)


def _window() -> tuple[int, int]:
    now = int(time.time())
    start = now - now % WINDOW_S
    return start, start + WINDOW_S - now


async def take(store: aioredis.Redis, tenant: str, limit: int, cost: int = 1) -> dict[str, int]:
    """Count `cost` requests of `tenant` in this minute's window; the window's state
    (`used` > `limit`: over quota). Redis errors are the caller's to handle.

    The quota service calls it, and so does whoever checks keys for a gateway
    product (docs/gateways.md), so that every gateway counts in one window.
    """
    start, reset_s = _window()
    key = f"gc:quota:{tenant}:{start}"
    pipe = store.pipeline()
    pipe.incrby(key, cost)
    pipe.expire(key, WINDOW_S * 2)
    used, _ = await pipe.execute()
    return {"limit": limit, "used": int(used), "remaining": max(0, limit - int(used)),
            "reset_s": reset_s}


def build_app(ctx: ServiceContext) -> FastAPI:
    app = create_app(ctx.identity, lifespan=context_lifespan(ctx))

    def limit_of(tenant: str) -> int | None:
        spec = ctx.stack.tenant(tenant)
        return spec.quota_per_minute if spec else None

    @app.post("/v1/quota/consume", response_model=None)
    async def consume(body: ConsumeRequest, ctx: Ctx):
        limit = limit_of(body.tenant)
        if limit is None:
            return error_response(403, f"unknown tenant {body.tenant}", "tenant_inactive")
        try:
            state = await take(ctx.store, body.tenant, limit, body.cost)
        except REDIS_ERRORS:
            return error_response(503, "quota store unavailable", "store_unavailable")
        if state["used"] > limit:
            return error_response(429, f"quota of {limit} requests per minute exceeded",
                                  "quota_exceeded", headers={"Retry-After": str(state["reset_s"])})
        return state

    # The public path, which a gateway product proxies here unchanged with the caller
    # it authenticated; the answer is kept for the identity fallback (docs/gateways.md).
    @app.get("/v1/identity/quota", response_model=None)
    async def public_status(caller: Caller, ctx: Ctx):
        found = await status(caller.tenant, ctx)
        if isinstance(found, dict):
            await remember_identity(ctx.store, caller, QUOTA, json.dumps(found).encode(),
                                    ctx.stack.limits.cache_ttl_s)
        return found

    @app.get("/v1/quota/{tenant}", response_model=None)
    async def status(tenant: str, ctx: Ctx):
        limit = limit_of(tenant)
        if limit is None:
            return error_response(403, f"unknown tenant {tenant}", "tenant_inactive")
        start, reset_s = _window()
        try:
            used = int(await ctx.store.get(f"gc:quota:{tenant}:{start}") or 0)
        except REDIS_ERRORS:
            return error_response(503, "quota store unavailable", "store_unavailable")
        return {"limit": limit, "used": used, "remaining": max(0, limit - used),
                "reset_s": reset_s}

    return app
