"""users: user profiles, kept in Redis (seed 000 §2 step 5, identity domain)."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from targets.app import create_app, plain_route
from targets.context import ServiceContext, context_lifespan
from targets.problems import error_response
from targets.store import REDIS_ERRORS

__all__ = ["build_app"]


def build_app(ctx: ServiceContext) -> FastAPI:
    app = create_app(ctx.identity, lifespan=context_lifespan(ctx))

    @plain_route(app, "GET", "/v1/users/{tenant}/{user}")
    async def profile(request: Request) -> Response:
        tenant, user = request.path_params["tenant"], request.path_params["user"]
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

    return app
