"""auth: checks an API key (seed 000 §2 step 4)."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from targets.app import create_app, plain_route
from targets.context import ServiceContext, context_lifespan
from targets.endpoints import ENDPOINTS
from targets.fallback import remember_identity
from targets.gateway.authn import MISSING_KEY, authorized
from targets.headers import HEADER_TENANT
from targets.keys import Principal, bearer_key, verify_key
from targets.payload import parse_model
from targets.problems import error_response
from targets.store import REDIS_ERRORS

__all__ = ["build_app"]

log = logging.getLogger(__name__)
REVOKED_PREFIX = "gc:revoked:"
LOGIN = next(e for e in ENDPOINTS if e.name == "identity.login")


class VerifyRequest(BaseModel):
    api_key: str
    tenant: str | None = None


def build_app(ctx: ServiceContext) -> FastAPI:
    app = create_app(ctx.identity, lifespan=context_lifespan(ctx))

    async def check(api_key: str | None, tenant: str | None) -> Principal | JSONResponse:
        """The key's principal, or the refusal to send back."""
        if not api_key:
            return error_response(401, MISSING_KEY, "missing_api_key")
        principal = verify_key(ctx.stack.signing_key, api_key)
        if principal is None:
            return error_response(401, "invalid API key", "invalid_api_key")
        if ctx.stack.tenant(principal.tenant) is None:
            return error_response(403, f"tenant {principal.tenant} is not active",
                                  "tenant_inactive")
        if tenant is not None and tenant != principal.tenant:
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
        return principal

    async def check_request(request: Request) -> Principal | JSONResponse:
        """`check` with the key and tenant of the client's own headers."""
        return await check(bearer_key(request.headers.get("authorization")),
                           request.headers.get(HEADER_TENANT))

    def answer(principal: Principal) -> dict[str, str]:
        return {"tenant": principal.tenant, "user": principal.user, "key_id": principal.key_id}

    @plain_route(app, "POST", "/v1/verify")
    async def verify(request: Request) -> Response:
        body = parse_model(await request.body(), VerifyRequest)
        checked = await check(body.api_key, body.tenant)
        return checked if isinstance(checked, JSONResponse) else JSONResponse(answer(checked))

    # For gateway products (docs/gateways.md): NGINX's `auth_request` asks this with
    # the client's headers and reads the principal from the answer's headers.
    @app.get("/v1/authorize", response_model=None)
    async def authorize(request: Request):
        checked = await check_request(request)
        if isinstance(checked, JSONResponse):
            return checked
        return await authorized(ctx.redis, ctx.stack, checked, request)

    # The public login path, which a product proxies here unchanged; the last good
    # answer is kept for the identity fallback (a product cannot write Redis).
    @app.post("/v1/identity/login", response_model=None)
    async def login(request: Request):
        checked = await check_request(request)
        if isinstance(checked, JSONResponse):
            return checked
        body = json.dumps(answer(checked)).encode()
        await remember_identity(ctx.store, checked, LOGIN, body, ctx.stack.limits.cache_ttl_s)
        return Response(body, media_type="application/json")

    return app
