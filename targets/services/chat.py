"""chat: prepares the context, asks models which model, streams from inference
(seed 000 §2 steps 7-9).

With a gateway product (NGINX, HAProxy) in front, chat also does the Redis
cache lookup and store (steps 6 and 10), which a product cannot do itself.
With LiteLLM as the LLM router, generation goes through it instead of chat's
own pool over the inference replicas (docs/gateways.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from targets import chatcache
from targets.app import create_app, plain_route
from targets.connection import HopError, HopResponse
from targets.context import ServiceContext, context_lifespan
from targets.errors import UpstreamError
from targets.headers import HEADER_INFERENCE, HEADER_INSTANCE, HEADER_ROUTE, Route, combine_route
from targets.hop import HopTimeout
from targets.llmrouter import llm_route, master_key
from targets.payload import json_object
from targets.problems import error_response
from targets.topology import GatewayKind, LlmRouterKind, Program
from targets.upstream import RETRYABLE_STATUSES, Attempt, UpstreamPool, stream_timeout

__all__ = ["SYSTEM_PROMPT", "build_app", "prepare_context"]

SYSTEM_PROMPT = "You are a helpful assistant."
# Generation has no side effect: an inference replica that refuses (429: busy, 500)
# is retried on another, like one that is down (docs/stream-failures.md).
INFERENCE_RETRY_STATUSES = RETRYABLE_STATUSES | {429, 500}
# Tries of a stream that fails before its first byte: the first and one retry.
STREAM_TRIES = 2


def prepare_context(messages: list[dict[str, Any]], max_messages: int) -> list[dict[str, Any]]:
    """Add the default system prompt and keep the most recent turns."""
    system = [m for m in messages if m.get("role") == "system"][:1]
    turns = [m for m in messages if m.get("role") != "system"]
    if not system:
        system = [{"role": "system", "content": SYSTEM_PROMPT}]
    return system + turns[-(max_messages - 1):]


def _passthrough_headers(upstream: HopResponse, retried: bool, inference: str,
                         upstream_route: str | None) -> dict[str, str]:
    headers = {HEADER_INFERENCE: inference, HEADER_ROUTE: combine_route(retried, upstream_route)}
    retry_after = upstream.headers.get("retry-after")
    if retry_after:
        headers["Retry-After"] = retry_after
    return headers


async def _generate(pool: UpstreamPool, payload: dict[str, Any], timeout: HopTimeout,
                    headers: dict[str, str] | None = None
                    ) -> tuple[Attempt, bytes, AsyncIterator[bytes], bool]:
    """Ask inference (or the LLM router in front of it); a stream that fails before
    its first body byte (reset, cut, first byte past the timeout) is retried on
    another replica: nothing has reached the client yet. Returns the attempt, for a
    streamed 200 its first bytes and the rest of its body, and whether it took a retry."""
    last = ""
    # A whole answer is read inside the pool: a replica that dies mid-body is then
    # retried on another like one that died before answering (a killed inference
    # replica had cut a non-streamed answer after its head, and chat answered 500).
    streamed = bool(payload.get("stream"))
    for tried in range(STREAM_TRIES):
        attempt = await pool.request("POST", "/v1/chat/completions", json=payload,
                                     idempotent=True, stream=streamed, timeout=timeout,
                                     headers=headers,
                                     retry_statuses=INFERENCE_RETRY_STATUSES)
        retried = tried > 0 or attempt.retried
        chunks = attempt.response.aiter_raw()
        if not streamed or attempt.response.status_code != 200:
            return attempt, b"", chunks, retried
        try:
            first = await anext(chunks, b"")
            last = f"{attempt.replica.id}: empty stream"
        except HopError as exc:
            first, last = b"", f"{attempt.replica.id}: {type(exc).__name__}"
        if first:
            return attempt, first, chunks, retried
        attempt.replica.breaker.record_failure()
        await attempt.response.aclose()
    raise UpstreamError("inference", f"every stream failed before its first byte "
                                     f"(last: {last})")


def build_app(ctx: ServiceContext) -> FastAPI:
    app = create_app(ctx.identity, lifespan=context_lifespan(ctx))
    limits = ctx.stack.limits

    @plain_route(app, "GET", "/v1/models")
    async def models(request: Request) -> Response:
        try:
            attempt = await ctx.callee(Program.MODELS).request("GET", "/v1/models", idempotent=True)
        except UpstreamError as exc:
            return error_response(503, f"model catalogue unavailable: {exc}", "upstream")
        return Response(attempt.response.content, attempt.response.status_code,
                        media_type="application/json")

    # A gateway product cannot do the cache step (seed 000 §2 steps 6, 10): chat does.
    caches = ctx.stack.gateway is not GatewayKind.BUILTIN
    litellm = ctx.stack.llm_router is LlmRouterKind.LITELLM
    generation = Program.LLM_ROUTER if litellm else Program.INFERENCE
    router_auth = {"Authorization": f"Bearer {master_key(ctx.stack.signing_key)}"} \
        if litellm else None

    @plain_route(app, "POST", "/v1/chat/completions")
    async def completions(request: Request) -> Response:
        payload = json_object(await request.body())
        if not isinstance(payload.get("messages"), list):
            return error_response(422, "`messages` must be a list", "invalid_schema")
        stream = bool(payload.get("stream"))
        key = chatcache.cache_key(payload) if caches and ctx.redis is not None else None
        if key is not None and ctx.redis is not None:
            cached = await chatcache.lookup(ctx.redis, key)
            if cached is not None:
                usage = bool((payload.get("stream_options") or {}).get("include_usage"))
                return chatcache.render(cached, stream=stream, include_usage=usage,
                                        headers={HEADER_ROUTE: Route.CACHE_HIT})
        payload["messages"] = prepare_context(payload["messages"], limits.max_messages)
        retried = False
        try:
            chosen = await ctx.callee(Program.MODELS).request(
                "POST", "/v1/models/select", json={"model": payload.get("model")},
                idempotent=True)
            retried = chosen.retried
            if chosen.response.status_code != 200:
                return Response(chosen.response.content, chosen.response.status_code,
                                media_type="application/json")
            payload["model"] = chosen.response.json()["model"]
            # Generation has no side effect: safe to retry before the first byte.
            attempt, first, rest, stream_retried = await _generate(
                ctx.callee(generation), payload, stream_timeout(limits), router_auth)
        except UpstreamError as exc:
            return error_response(503, f"generation unavailable: {exc}", "upstream")
        upstream = attempt.response
        if litellm:
            said = llm_route(upstream.headers)
            inference, upstream_route = said.instance, str(said.route)
        else:
            inference = upstream.headers.get(HEADER_INSTANCE, attempt.replica.id)
            upstream_route = upstream.headers.get(HEADER_ROUTE)
        headers = _passthrough_headers(upstream, retried or stream_retried, inference,
                                       upstream_route)
        media_type = upstream.headers.get("content-type", "application/json")
        store_key = key if upstream.status_code == 200 and upstream_route in (
            None, Route.PRIMARY, Route.RETRY) else None
        if not stream:
            try:
                content = await upstream.aread()
            finally:
                await upstream.aclose()
            if store_key is not None and ctx.redis is not None:
                answer = chatcache.answer_from_json(content)
                if answer is not None:
                    await chatcache.store(ctx.redis, store_key, answer, limits.cache_ttl_s)
            return Response(content, upstream.status_code, headers=headers,
                            media_type=media_type)
        relay = chatcache.relay_and_store(upstream, ctx.redis, store_key, limits.cache_ttl_s,
                                          source="inference", first=first, rest=rest)
        return StreamingResponse(relay, status_code=upstream.status_code, headers=headers,
                                 media_type=media_type)

    return app
