"""users: user profiles, kept in Redis (seed 000 §2 step 5, identity domain)."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from targets.app import create_app, plain_route
from targets.context import ServiceContext, context_lifespan
from targets.endpoints import ENDPOINTS
from targets.fallback import remember_identity
from targets.problems import error_response
from targets.services.principal import caller
from targets.store import REDIS_ERRORS

__all__ = ["build_app"]

PROFILE = next(e for e in ENDPOINTS if e.name == "identity.profile")


def build_app(ctx: ServiceContext) -> FastAPI:
    app = create_app(ctx.identity, lifespan=context_lifespan(ctx))

    @plain_route(app, "GET", "/v1/users/{tenant}/{user}")
    async def profile(request: Request) -> Response:
        return await read_profile(ctx, request.path_params["tenant"],
                                  request.path_params["user"])

    # The public path, which a gateway product proxies here unchanged with the caller
    # it authenticated; the answer is kept for the identity fallback (docs/gateways.md).
    @plain_route(app, "GET", "/v1/identity/profile")
    async def public_profile(request: Request) -> Response:
        who = caller(request)
        found = await read_profile(ctx, who.tenant, who.user)
        if found.status_code == 200:
            await remember_identity(ctx.store, who, PROFILE, bytes(found.body),
                                    ctx.stack.limits.cache_ttl_s)
        return found

    return app


async def read_profile(ctx: ServiceContext, tenant: str, user: str) -> Response:
    key = f"gc:user:{tenant}:{user}"
    try:
        # decode_responses=True: keys and values are str (redis' stubs say bytes | str).
        found = {str(k): str(v) for k, v in (await ctx.store.hgetall(key)).items()}
        if not found:
            found = {"tenant": tenant, "user": user, "display_name": user.title(),
                     "plan": "standard", "created": str(int(time.time()))}
            await ctx.store.hset(key, mapping=dict(found))  # type: ignore[arg-type]
    except REDIS_ERRORS:
        return error_response(503, "profile store unavailable", "store_unavailable")
    return JSONResponse(found)
