"""fallback: the dedicated fallbacks, as a service, for gateway products.

NGINX and HAProxy cannot read Redis nor compose a degraded answer, so when
they cannot serve a request they send it here (NGINX `error_page ... =
@fallback`, HAProxy `backup` servers; docs/gateways.md): an identity request
gets the caller's last known answer from Redis (`fallback-cache`), any other a
clearly marked degraded answer (`fallback-degraded`), exactly as the built-in
gateways and router serve them (targets/fallback.py).

`/degraded/v1/chat/completions` is LiteLLM's degraded model (its `fallbacks`
target): an OpenAI-compatible endpoint that always answers degraded.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from targets.app import create_app
from targets.context import ServiceContext, context_lifespan
from targets.endpoints import ENDPOINTS, match
from targets.fallback import degraded_response, fallback_answer
from targets.gateway.authn import authenticate_locally, authorized
from targets.payload import Rejected, json_object
from targets.problems import error_response

__all__ = ["DEGRADED_PREFIX", "build_app"]

# The degraded model's OpenAI base path (LiteLLM's `api_base` ends with it).
DEGRADED_PREFIX = "/degraded/v1"
REASON = "its gateway could not serve it"
_CHAT = next(e for e in ENDPOINTS if e.name == "chat.completions")


def build_app(ctx: ServiceContext) -> FastAPI:
    app = create_app(ctx.identity, title="fallback", lifespan=context_lifespan(ctx))

    @app.post(f"{DEGRADED_PREFIX}/chat/completions", response_model=None)
    async def degraded_model(request: Request) -> Response:
        try:
            payload = json_object(await request.body())
        except Rejected as rejected:
            return rejected.response
        return degraded_response(_CHAT, {}, payload)

    # The business gateway's signed-key check, for a product that cannot verify a
    # signature (NGINX: `auth_request` here); the quota is counted as the auth
    # service counts it. Never asks the identity side (DESIGN.md §1).
    @app.get("/v1/authorize", response_model=None)
    async def authorize(request: Request) -> Response:
        outcome = authenticate_locally(request, ctx)
        if outcome.principal is None:
            assert outcome.answer is not None
            return outcome.answer
        return await authorized(ctx.redis, ctx.stack, outcome.principal, request)

    @app.api_route("/v1/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def entry(request: Request) -> Response:
        endpoint, known = match(request.method, request.url.path)
        if endpoint is None:
            return error_response(405 if known else 404, f"no route for {request.method} "
                                  f"{request.url.path}", "no_route")
        return await fallback_answer(ctx.redis, ctx.stack, request.headers.get("authorization"),
                                     endpoint, await request.body(), REASON, {})

    return app
