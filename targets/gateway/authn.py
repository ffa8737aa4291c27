"""Who is calling: checked by the auth service, or locally from the key's signature."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from targets.context import ServiceContext
from targets.errors import UpstreamError
from targets.headers import (
    HEADER_PRINCIPAL_TENANT,
    HEADER_PRINCIPAL_USER,
    HEADER_QUOTA_SCOPE,
    HEADER_TENANT,
)
from targets.keys import Principal, bearer_key, verify_key
from targets.problems import error_response
from targets.services.quota import take
from targets.stack import StackSpec, quota_scope
from targets.store import REDIS_ERRORS

__all__ = ["HEADER_QUOTA", "AuthOutcome", "authenticate_locally", "authenticate_remotely",
           "authorized"]

log = logging.getLogger(__name__)

MISSING_KEY = "missing API key: send `Authorization: Bearer <api key>`"
# On an authorization answer: the caller is known but over its quota (NGINX's
# auth_request passes only 401/403 on, so the refusal is a 403 saying why).
HEADER_QUOTA = "X-Gatecrash-Quota"
QUOTA_EXCEEDED = "exceeded"


@dataclass
class AuthOutcome:
    """A principal; or an answer to send back as is (a refusal, a fallback); or
    `unavailable` when no one could check the key."""

    principal: Principal | None = None
    answer: Response | None = None
    unavailable: str | None = None
    retried: bool = False


def authenticate_locally(request: Request, ctx: ServiceContext) -> AuthOutcome:
    key = bearer_key(request.headers.get("authorization"))
    if key is None:
        return AuthOutcome(answer=error_response(401, MISSING_KEY, "missing_api_key"))
    principal = verify_key(ctx.stack.signing_key, key)
    if principal is None:
        return AuthOutcome(answer=error_response(401, "invalid API key", "invalid_api_key"))
    if ctx.stack.tenant(principal.tenant) is None:
        return AuthOutcome(answer=error_response(
            403, f"tenant {principal.tenant} is not active", "tenant_inactive"))
    wanted = request.headers.get(HEADER_TENANT)
    if wanted is not None and wanted != principal.tenant:
        return AuthOutcome(answer=error_response(
            403, "this API key does not belong to the requested tenant", "wrong_tenant"))
    return AuthOutcome(principal=principal)


async def authenticate_remotely(request: Request, ctx: ServiceContext) -> AuthOutcome:
    """Seed 000 §2 step 4: the auth service checks the key."""
    key = bearer_key(request.headers.get("authorization"))
    if key is None:
        return AuthOutcome(answer=error_response(401, MISSING_KEY, "missing_api_key"))
    try:
        attempt = await ctx.pool("auth").request(
            "POST", "/v1/verify", idempotent=True,
            json={"api_key": key, "tenant": request.headers.get(HEADER_TENANT)})
    except UpstreamError as exc:
        return AuthOutcome(unavailable=str(exc))
    response = attempt.response
    if response.status_code == 200:
        body = response.json()
        return AuthOutcome(principal=Principal(body["tenant"], body["user"], body["key_id"]),
                           retried=attempt.retried)
    if response.status_code in (401, 403):
        return AuthOutcome(answer=Response(response.content, response.status_code,
                                            media_type="application/json"))
    return AuthOutcome(unavailable=f"auth answered HTTP {response.status_code}")


async def authorized(store: aioredis.Redis | None, stack: StackSpec,
                     principal: Principal, request: Request) -> Response:
    """The answer to a gateway product's authorization request (NGINX `auth_request`)
    for a known caller: 200 naming it in headers, after counting the request in its
    tenant's quota (seed 000 §2 step 5, which a product cannot do itself); a 403
    marked `X-Gatecrash-Quota: exceeded` when over. Fails open, as the built-in
    gateway does: a quota store that is down never takes the service down.

    The quota is the one of the domain gateway that asks (`X-Gatecrash-Quota-Scope`,
    set by the product's own config), or the tenant's one counter without it."""
    tenant = stack.tenant(principal.tenant)
    scope = quota_scope(request.headers.get(HEADER_QUOTA_SCOPE))
    if store is not None and tenant is not None:
        try:
            state = await take(store, principal.tenant, tenant.limit(scope), scope=scope)
        except REDIS_ERRORS:
            log.warning("quota not counted: redis unavailable")
        else:
            if state["used"] > state["limit"]:
                return error_response(
                    403, f"quota of {state['limit']} requests per minute exceeded",
                    "quota_exceeded", {HEADER_QUOTA: QUOTA_EXCEEDED,
                                       "Retry-After": str(state["reset_s"])})
    return JSONResponse({"tenant": principal.tenant, "user": principal.user,
                         "key_id": principal.key_id},
                        headers={HEADER_PRINCIPAL_TENANT: principal.tenant,
                                 HEADER_PRINCIPAL_USER: principal.user})
