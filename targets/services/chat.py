"""chat: prepares the context, asks models which model, streams from inference
(seed 000 §2 steps 7-9)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from targets.app import create_app, plain_route
from targets.context import ServiceContext, context_lifespan
from targets.errors import UpstreamError
from targets.headers import HEADER_INFERENCE, HEADER_INSTANCE, HEADER_ROUTE, Route
from targets.hop import HopResponse
from targets.payload import json_object
from targets.problems import error_response
from targets.topology import Program
from targets.upstream import stream_timeout

__all__ = ["SYSTEM_PROMPT", "build_app", "prepare_context"]

SYSTEM_PROMPT = "You are a helpful assistant."


def prepare_context(messages: list[dict[str, Any]], max_messages: int) -> list[dict[str, Any]]:
    """Add the default system prompt and keep the most recent turns."""
    system = [m for m in messages if m.get("role") == "system"][:1]
    turns = [m for m in messages if m.get("role") != "system"]
    if not system:
        system = [{"role": "system", "content": SYSTEM_PROMPT}]
    return system + turns[-(max_messages - 1):]


def _passthrough_headers(upstream: HopResponse, retried: bool, inference: str) -> dict[str, str]:
    headers = {HEADER_INFERENCE: inference}
    if retried or upstream.headers.get(HEADER_ROUTE) == Route.RETRY:
        headers[HEADER_ROUTE] = Route.RETRY
    retry_after = upstream.headers.get("retry-after")
    if retry_after:
        headers["Retry-After"] = retry_after
    return headers


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

    @plain_route(app, "POST", "/v1/chat/completions")
    async def completions(request: Request) -> Response:
        payload = json_object(await request.body())
        if not isinstance(payload.get("messages"), list):
            return error_response(422, "`messages` must be a list", "invalid_schema")
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
            attempt = await ctx.callee(Program.INFERENCE).request(
                "POST", "/v1/chat/completions", json=payload, idempotent=True, stream=True,
                timeout=stream_timeout(limits))
        except UpstreamError as exc:
            return error_response(503, f"generation unavailable: {exc}", "upstream")
        upstream = attempt.response
        headers = _passthrough_headers(upstream, retried or attempt.retried,
                                       upstream.headers.get(HEADER_INSTANCE, attempt.replica.id))
        media_type = upstream.headers.get("content-type", "application/json")
        if not payload.get("stream"):
            try:
                content = await upstream.aread()
            finally:
                await upstream.aclose()
            return Response(content, upstream.status_code, headers=headers,
                            media_type=media_type)

        async def relay():
            try:
                async for chunk in upstream.aiter_raw():
                    yield chunk
            finally:
                await upstream.aclose()

        return StreamingResponse(relay(), status_code=upstream.status_code, headers=headers,
                                 media_type=media_type)

    return app
