"""The gateway pipeline: validate → authenticate → quota → (cache) → forward → report.

Roles: `single` serves every domain and has no fallback (seed 000 §1);
`identity` serves identity and falls back to the last known answer in Redis;
`business` serves business and chat, checks keys locally (it never needs the
identity gateway), and falls back to a marked degraded answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from targets import chatcache
from targets.app import create_app, plain_route
from targets.context import ServiceContext, context_lifespan
from targets.endpoints import PUBLIC_METHODS, ROLE_DOMAINS, Domain, Endpoint, match
from targets.errors import UpstreamError
from targets.fallback import degraded_response, identity_fallback, remember_identity
from targets.gateway.authn import AuthOutcome, authenticate_locally, authenticate_remotely
from targets.gateway.reporter import Reporter
from targets.gateway.validation import read_body, validate_payload
from targets.headers import (
    HEADER_GATEWAY,
    HEADER_INFERENCE,
    HEADER_INSTANCE,
    HEADER_PRINCIPAL_TENANT,
    HEADER_PRINCIPAL_USER,
    HEADER_ROUTE,
    Route,
    combine_route,
)
from targets.keys import Principal
from targets.payload import Rejected
from targets.problems import error_response
from targets.stack import quota_scope
from targets.upstream import Attempt, stream_timeout

__all__ = ["Gateway", "build_app"]

PASS_HEADERS = ("content-type", "retry-after", HEADER_INFERENCE.lower())


@dataclass
class _Flow:
    """What happened to one request on its way through the gateway."""

    retried: bool = False


class Gateway:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.role = ctx.instance.role or "single"
        self.domains = ROLE_DOMAINS[self.role]
        self.limits = ctx.stack.limits
        self.has_fallback = self.role != "single"
        # Each domain gateway counts the tenant in its own domain (its own rule);
        # `single` has one entry point, so one counter across domains.
        self.quota_scope = quota_scope(self.role)
        self.reporter: Reporter | None = None

    # -- entry -------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        start = time.perf_counter()
        endpoint, known = match(request.method, request.url.path)
        if endpoint is None or endpoint.domain not in self.domains:
            status = 405 if known and endpoint is None else 404
            return error_response(status, f"no route for {request.method} "
                                  f"{request.url.path} on the {self.role} gateway", "no_route")
        flow = _Flow()
        try:
            response = await self._handle(request, endpoint, flow)
        except Rejected as rejected:
            response = rejected.response
        self._finish(response, flow)
        if self.reporter is not None:
            self.reporter.record(endpoint.domain, response.headers.get(HEADER_ROUTE, "none"),
                                 response.status_code, (time.perf_counter() - start) * 1000)
        return response

    def _finish(self, response: Response, flow: _Flow) -> None:
        response.headers[HEADER_GATEWAY] = self.ctx.instance.id
        # A retry on any hop (auth, quota, the backend) makes the answer a retry.
        if flow.retried and response.headers.get(HEADER_ROUTE) == Route.PRIMARY:
            response.headers[HEADER_ROUTE] = Route.RETRY

    async def _handle(self, request: Request, endpoint: Endpoint, flow: _Flow) -> Response:
        body = await read_body(request, self.limits)
        payload = validate_payload(endpoint, body, self.limits)
        auth = await self._authenticate(request, endpoint)
        flow.retried |= auth.retried
        if auth.answer is not None:
            return auth.answer
        if auth.principal is None:
            return await self._unavailable(endpoint, None, payload,
                                           f"authentication unavailable: {auth.unavailable}")
        principal = auth.principal
        refused = await self._consume_quota(principal, flow)
        if refused is not None:
            return refused
        if endpoint.domain is Domain.IDENTITY:
            return await self._identity(request, endpoint, principal)
        if endpoint.name == "chat.completions":
            assert payload is not None
            return await self._chat(request, endpoint, principal, payload)
        return await self._forward(request, endpoint, principal, body, payload)

    async def _authenticate(self, request: Request, endpoint: Endpoint) -> AuthOutcome:
        if self.role == "business":
            return authenticate_locally(request, self.ctx)
        outcome = await authenticate_remotely(request, self.ctx)
        if outcome.unavailable and self.has_fallback:
            # The identity fallback still needs to know who asks: the key's
            # signature says so without the auth service.
            local = authenticate_locally(request, self.ctx)
            if local.principal is not None:
                return AuthOutcome(unavailable=outcome.unavailable, principal=None,
                                   answer=await self._identity_fallback(
                                       endpoint, local.principal, outcome.unavailable))
            return local
        return outcome

    async def _identity_fallback(self, endpoint: Endpoint, principal: Principal,
                                 reason: str) -> Response:
        """The last known answer for this caller, or a 503 that says there is none."""
        answer = await identity_fallback(self.ctx.redis, principal, endpoint, {})
        if answer is not None:
            return answer
        return error_response(503, f"{reason}; no cached answer for this caller yet",
                              "identity_unavailable")

    async def _consume_quota(self, principal: Principal, flow: _Flow) -> Response | None:
        """429 when the tenant's quota is spent. Fails open: a rate limiter that
        is down must not take the service down with it."""
        try:
            attempt = await self.ctx.pool("quota").request(
                "POST", "/v1/quota/consume",
                json={"tenant": principal.tenant, "scope": self.quota_scope}, idempotent=False)
        except UpstreamError:
            return None
        flow.retried |= attempt.retried
        if attempt.response.status_code == 429:
            return Response(attempt.response.content, 429, media_type="application/json",
                            headers={"Retry-After": attempt.response.headers.get(
                                "retry-after", "60")})
        return None

    # -- domains -----------------------------------------------------------
    async def _identity(self, request: Request, endpoint: Endpoint,
                        principal: Principal) -> Response:
        if endpoint.name == "identity.login":
            body = json.dumps({"tenant": principal.tenant, "user": principal.user,
                               "key_id": principal.key_id}).encode()
            response = Response(body, 200, media_type="application/json",
                                headers={HEADER_ROUTE: Route.PRIMARY})
            await self._remember(principal, endpoint, body)
            return response
        path = (f"/v1/users/{principal.tenant}/{principal.user}"
                if endpoint.name == "identity.profile" else f"/v1/quota/{principal.tenant}")
        # The quota this entry point counts the caller against.
        query = f"scope={self.quota_scope}" \
            if endpoint.name == "identity.quota" and self.quota_scope else ""
        try:
            attempt = await self.ctx.pool(endpoint.service).request("GET", path, idempotent=True,
                                                                    query=query)
        except UpstreamError as exc:
            return await self._unavailable(endpoint, principal, None, str(exc))
        if attempt.response.status_code >= 500:
            return await self._unavailable(endpoint, principal, None,
                                           f"{endpoint.service} answered "
                                           f"HTTP {attempt.response.status_code}")
        if attempt.response.status_code == 200:
            await self._remember(principal, endpoint, attempt.response.content)
        return self._relay(attempt, attempt.response.content)

    async def _remember(self, principal: Principal, endpoint: Endpoint, body: bytes) -> None:
        if self.has_fallback and self.ctx.redis is not None:
            await remember_identity(self.ctx.redis, principal, endpoint, body,
                                    self.limits.cache_ttl_s)

    async def _forward(self, request: Request, endpoint: Endpoint, principal: Principal,
                       body: bytes, payload: dict[str, Any] | None) -> Response:
        idempotent = endpoint.idempotent or "idempotency-key" in request.headers
        headers = self._principal_headers(principal)
        if body:
            headers["Content-Type"] = "application/json"
        if "idempotency-key" in request.headers:
            headers["Idempotency-Key"] = request.headers["idempotency-key"]
        try:
            attempt = await self.ctx.pool(endpoint.service).request(
                endpoint.method, request.url.path, idempotent=idempotent,
                content=body or None, headers=headers,
                query=request.scope["query_string"].decode("latin-1"))
        except UpstreamError as exc:
            return await self._unavailable(endpoint, principal, payload, str(exc))
        if attempt.response.status_code >= 500:
            return await self._unavailable(endpoint, principal, payload,
                                           f"{endpoint.service} answered "
                                           f"HTTP {attempt.response.status_code}")
        return self._relay(attempt, attempt.response.content)

    async def _chat(self, request: Request, endpoint: Endpoint, principal: Principal,
                    payload: dict[str, Any]) -> Response:
        stream = bool(payload.get("stream"))
        key = chatcache.cache_key(payload)
        if key is not None and self.ctx.redis is not None:
            cached = await chatcache.lookup(self.ctx.redis, key)
            if cached is not None:
                include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
                return chatcache.render(cached, stream=stream, include_usage=include_usage,
                                        headers={HEADER_ROUTE: Route.CACHE_HIT})
        try:
            # A non-streamed answer is read whole inside the pool, so a chat replica
            # that dies mid-body is retried on another instead of failing the request.
            attempt = await self.ctx.pool("chat").request(
                "POST", "/v1/chat/completions", json=payload, idempotent=True, stream=stream,
                headers=self._principal_headers(principal), timeout=stream_timeout(self.limits))
        except UpstreamError as exc:
            return await self._unavailable(endpoint, principal, payload, str(exc))
        upstream = attempt.response
        if upstream.headers.get(HEADER_ROUTE) in (Route.FALLBACK_DEGRADED, Route.UNKNOWN):
            key = None  # a degraded (or unattributed) answer is never cached
        if upstream.status_code >= 500 and upstream.status_code != 503:
            await upstream.aclose()
            return await self._unavailable(endpoint, principal, payload,
                                           f"chat answered HTTP {upstream.status_code}")
        if not stream or upstream.status_code != 200:
            try:
                content = await upstream.aread()
            finally:
                await upstream.aclose()
            if key is not None and upstream.status_code == 200 and self.ctx.redis is not None:
                answer = chatcache.answer_from_json(content)
                if answer is not None:
                    await chatcache.store(self.ctx.redis, key, answer, self.limits.cache_ttl_s)
            return self._relay(attempt, content)
        relay = chatcache.relay_and_store(upstream, self.ctx.redis, key, self.limits.cache_ttl_s,
                                          source="chat")
        return StreamingResponse(relay, status_code=200,
                                 headers=self._headers(attempt),
                                 media_type=upstream.headers.get("content-type",
                                                                 "text/event-stream"))

    # -- responses ---------------------------------------------------------
    @staticmethod
    def _principal_headers(principal: Principal) -> dict[str, str]:
        return {HEADER_PRINCIPAL_TENANT: principal.tenant, HEADER_PRINCIPAL_USER: principal.user}

    @staticmethod
    def _headers(attempt: Attempt) -> dict[str, str]:
        upstream = attempt.response.headers
        headers = {HEADER_ROUTE: combine_route(attempt.retried, upstream.get(HEADER_ROUTE)),
                   HEADER_INSTANCE: upstream.get(HEADER_INSTANCE, attempt.replica.id)}
        for name in PASS_HEADERS:
            if name in upstream and name != "content-type":
                headers[name] = upstream[name]
        return headers

    def _relay(self, attempt: Attempt, content: bytes) -> Response:
        return Response(content, attempt.response.status_code, headers=self._headers(attempt),
                        media_type=attempt.response.headers.get("content-type"))

    async def _unavailable(self, endpoint: Endpoint,
                           principal: Principal | None, payload: dict[str, Any] | None,
                           reason: str) -> Response:
        """The dedicated fallback of this gateway, or a clear 503 for `single`."""
        if self.role == "identity" and principal is not None:
            return await self._identity_fallback(endpoint, principal, reason)
        if self.role == "business":
            return degraded_response(endpoint, {}, payload)
        return error_response(503, f"{endpoint.domain} unavailable: {reason}",
                              "upstream_unavailable")


def build_app(ctx: ServiceContext) -> FastAPI:
    base = context_lifespan(ctx)
    gateway = Gateway(ctx)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with base(app):
            gateway.reporter = Reporter(ctx.instance.id, ctx.pool("monitoring"))
            gateway.reporter.start()
            try:
                yield
            finally:
                await gateway.reporter.stop()

    app = create_app(ctx.identity, lifespan=lifespan, title=f"gateway ({gateway.role})")
    app.state.gateway = gateway

    # Outside /v1: an operator's view of the pools, not part of the public API.
    @app.get("/upstreams")
    async def upstream_status() -> dict[str, object]:
        return {name: pool.status() for name, pool in ctx.pools.items()}

    plain_route(app, PUBLIC_METHODS, "/v1/{path:path}")(gateway.handle)

    return app
