"""auth: checks an API key (seed 000 §2 step 4)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from targets.app import create_app, plain_route
from targets.context import ServiceContext, context_lifespan
from targets.keys import verify_key
from targets.payload import parse_model
from targets.problems import error_response
from targets.store import REDIS_ERRORS

__all__ = ["build_app"]

log = logging.getLogger(__name__)
REVOKED_PREFIX = "gc:revoked:"


class VerifyRequest(BaseModel):
    api_key: str
    tenant: str | None = None


def build_app(ctx: ServiceContext) -> FastAPI:
    app = create_app(ctx.identity, lifespan=context_lifespan(ctx))

    @plain_route(app, "POST", "/v1/verify")
    async def verify(request: Request) -> Response:
        body = parse_model(await request.body(), VerifyRequest)
        principal = verify_key(ctx.stack.signing_key, body.api_key)
        if principal is None:
            return error_response(401, "invalid API key", "invalid_api_key")
        if ctx.stack.tenant(principal.tenant) is None:
            return error_response(403, f"tenant {principal.tenant} is not active",
                                  "tenant_inactive")
        if body.tenant is not None and body.tenant != principal.tenant:
            return error_response(403, "this API key does not belong to the requested tenant",
                                  "wrong_tenant")
        try:
            revoked = await ctx.store.exists(REVOKED_PREFIX + principal.key_id)
        except REDIS_ERRORS:
            # Revocation is a deny-list: with Redis away we keep serving
            # signed keys rather than failing every request.
            log.warning("revocation check skipped: redis unavailable")
            revoked = 0
        if revoked:
            return error_response(401, "API key revoked", "revoked_api_key")
        return JSONResponse({"tenant": principal.tenant, "user": principal.user,
                             "key_id": principal.key_id})

    return app
