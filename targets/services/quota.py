"""quota: per-tenant request quota, a fixed window counter in Redis."""

from __future__ import annotations

import time
from typing import Literal

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from targets.app import create_app, plain_route
from targets.context import ServiceContext, context_lifespan
from targets.endpoints import ENDPOINTS
from targets.fallback import remember_identity
from targets.payload import parse_model
from targets.problems import error_response
from targets.services.principal import caller
from targets.stack import QUOTA_SCOPES
from targets.store import REDIS_ERRORS

__all__ = ["WINDOW_S", "build_app", "quota_key", "take"]

QUOTA = next(e for e in ENDPOINTS if e.name == "identity.quota")

WINDOW_S = 60


class ConsumeRequest(BaseModel):
    tenant: str
    cost: int = Field(default=1, ge=1, le=1000)
    # The domain gateway that counts (targets.stack.TenantSpec); None: `single`'s one.
    scope: Literal["identity", "business"] | None = None


def _window() -> tuple[int, int]:
    now = int(time.time())
    start = now - now % WINDOW_S
    return start, start + WINDOW_S - now


def quota_key(tenant: str, start: int, scope: str | None = None) -> str:
    """The counter of `tenant` in the window starting at `start`: one per tenant, or
    one per tenant per domain where a domain gateway counts (`scope`)."""
    return f"gc:quota:{tenant}:{start}" if scope is None else \
        f"gc:quota:{tenant}:{scope}:{start}"


async def take(store: aioredis.Redis, tenant: str, limit: int, cost: int = 1,
               scope: str | None = None) -> dict[str, int]:
    """Count `cost` requests of `tenant` in this minute's window of `scope`; the
    window's state (`used` > `limit`: over quota). Redis errors are the caller's.

    The quota service calls it, and so does whoever checks keys for a gateway
    product (docs/gateways.md), so that every gateway of a scope counts in one window.
    """
    start, reset_s = _window()
    key = quota_key(tenant, start, scope)
    # No MULTI/EXEC: both commands go in one write and Redis runs them in
    # order; the expiry only bounds the key's life.
    pipe = store.pipeline(transaction=False)
    pipe.incrby(key, cost)
    pipe.expire(key, WINDOW_S * 2)
    used, _ = await pipe.execute()
    return {"limit": limit, "used": int(used), "remaining": max(0, limit - int(used)),
            "reset_s": reset_s}


def build_app(ctx: ServiceContext) -> FastAPI:
    app = create_app(ctx.identity, lifespan=context_lifespan(ctx))

    def limit_of(tenant: str, scope: str | None) -> int | None:
        spec = ctx.stack.tenant(tenant)
        return spec.limit(scope) if spec else None

    @plain_route(app, "POST", "/v1/quota/consume")
    async def consume(request: Request) -> Response:
        body = parse_model(await request.body(), ConsumeRequest)
        limit = limit_of(body.tenant, body.scope)
        if limit is None:
            return error_response(403, f"unknown tenant {body.tenant}", "tenant_inactive")
        try:
            state = await take(ctx.store, body.tenant, limit, body.cost, body.scope)
        except REDIS_ERRORS:
            return error_response(503, "quota store unavailable", "store_unavailable")
        if state["used"] > limit:
            return error_response(429, f"quota of {limit} requests per minute exceeded",
                                  "quota_exceeded", headers={"Retry-After": str(state["reset_s"])})
        return JSONResponse(state)

    async def read_status(tenant: str, scope: str | None) -> Response:
        if scope is not None and scope not in QUOTA_SCOPES:
            return error_response(422, f"scope {scope!r}: allowed: {', '.join(QUOTA_SCOPES)}",
                                  "invalid_scope")
        limit = limit_of(tenant, scope)
        if limit is None:
            return error_response(403, f"unknown tenant {tenant}", "tenant_inactive")
        start, reset_s = _window()
        try:
            used = int(await ctx.store.get(quota_key(tenant, start, scope)) or 0)
        except REDIS_ERRORS:
            return error_response(503, "quota store unavailable", "store_unavailable")
        return JSONResponse({"limit": limit, "used": used, "remaining": max(0, limit - used),
                             "reset_s": reset_s})

    # The public path, which a gateway product proxies here unchanged with the caller
    # it authenticated; the answer is kept for the identity fallback (docs/gateways.md).
    @plain_route(app, "GET", "/v1/identity/quota")
    async def public_status(request: Request) -> Response:
        who = caller(request)
        found = await read_status(who.tenant, request.query_params.get("scope"))
        if found.status_code == 200:
            await remember_identity(ctx.store, who, QUOTA, bytes(found.body),
                                    ctx.stack.limits.cache_ttl_s)
        return found

    @plain_route(app, "GET", "/v1/quota/{tenant}")
    async def status(request: Request) -> Response:
        return await read_status(request.path_params["tenant"],
                                 request.query_params.get("scope"))

    return app
