"""The middleware router of `dual` (seed 000 §3): routes by domain to the
identity or business gateway and, when that gateway is down, serves the
gateway's dedicated fallback itself, so one domain's outage stays its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from targets.app import create_app, plain_route
from targets.connection import HopError, HopResponse
from targets.context import ServiceContext, context_lifespan
from targets.endpoints import PUBLIC_METHODS, ROLE_DOMAINS, Domain, Endpoint, match
from targets.errors import UpstreamError
from targets.fallback import fallback_answer
from targets.headers import HEADER_GATEWAY, HEADER_ROUTER
from targets.problems import error_response
from targets.topology import Program, Topology
from targets.upstream import stream_timeout

__all__ = ["build_app", "gateways_by_domain"]

FORWARD_REQUEST_HEADERS = ("authorization", "content-type", "x-tenant", "idempotency-key",
                           "accept")
# Hop-by-hop or recomputed headers that must not be copied onto our answer.
DROP_RESPONSE_HEADERS = frozenset({"content-length", "transfer-encoding", "connection",
                                   "keep-alive", "date", "server"})
MAX_BODY_BYTES = 1024 * 1024  # the gateways enforce the real limit


def gateways_by_domain(topology: Topology, router: str) -> dict[Domain, str]:
    """Which of the router's callees (`ServiceDef.calls`) serves each domain, by role."""
    out: dict[Domain, str] = {}
    for name in topology.service(router).calls:
        callee = topology.service(name)
        if callee.program is Program.GATEWAY:
            for domain in ROLE_DOMAINS[callee.role or "single"]:
                out.setdefault(domain, callee.name)
    return out


class Router:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.id = ctx.instance.id
        self.gateways = gateways_by_domain(ctx.stack.topology, ctx.instance.service)

    async def handle(self, request: Request) -> Response:
        endpoint, known = match(request.method, request.url.path)
        gateway = self.gateways.get(endpoint.domain) if endpoint is not None else None
        if endpoint is None or gateway is None:
            return self._mark(error_response(405 if known and endpoint is None else 404,
                                             f"no route for {request.method} "
                                             f"{request.url.path}", "no_route"))
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return self._mark(error_response(413, "body too large", "body_too_large"))
        headers = {k: v for k in FORWARD_REQUEST_HEADERS if (v := request.headers.get(k))}
        limits = self.ctx.stack.limits
        try:
            attempt = await self.ctx.pool(gateway).request(
                request.method, request.url.path, idempotent=endpoint.idempotent,
                content=body or None, headers=headers,
                query=request.scope["query_string"].decode("latin-1"),
                stream=True, timeout=stream_timeout(limits))
        except UpstreamError as exc:
            return self._mark(await self._fallback(request, endpoint, body, str(exc)))
        upstream = attempt.response
        if upstream.status_code >= 500 and HEADER_GATEWAY.lower() not in upstream.headers:
            # The gateway itself failed (its deliberate errors carry its id).
            await upstream.aclose()
            return self._mark(await self._fallback(
                request, endpoint, body, f"{gateway} HTTP {upstream.status_code}"))
        out = {k: v for k, v in upstream.headers.items() if k not in DROP_RESPONSE_HEADERS}
        if "content-length" in upstream.headers:
            # A whole answer: passed on whole (one write, no chunked re-framing);
            # only answers of unknown length (streams) are relayed as they come.
            try:
                content = await upstream.aread()
            except HopError as exc:  # nothing sent yet: the gateway failed, fall back
                return self._mark(await self._fallback(request, endpoint, body,
                                                       f"{gateway}: {exc}"))
            finally:
                await upstream.aclose()
            return self._mark(Response(content, upstream.status_code, headers=out))
        return self._mark(StreamingResponse(_relay(upstream), status_code=upstream.status_code,
                                            headers=out))

    def _mark(self, response: Response) -> Response:
        response.headers[HEADER_ROUTER] = self.id
        return response

    async def _fallback(self, request: Request, endpoint: Endpoint, body: bytes,
                        reason: str) -> Response:
        """The down gateway's own fallback, served here (headers name the router)."""
        return await fallback_answer(self.ctx.redis, self.ctx.stack,
                                     request.headers.get("authorization"), endpoint, body,
                                     reason, {HEADER_GATEWAY: self.id})


async def _relay(upstream: HopResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    finally:
        await upstream.aclose()


def build_app(ctx: ServiceContext) -> FastAPI:
    router = Router(ctx)
    app = create_app(ctx.identity, title="router", lifespan=context_lifespan(ctx))

    @app.get("/upstreams")
    async def upstream_status() -> dict[str, object]:
        return {name: pool.status() for name, pool in ctx.pools.items()}

    plain_route(app, PUBLIC_METHODS, "/v1/{path:path}")(router.handle)

    return app
