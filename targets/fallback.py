"""The dedicated fallbacks (seed 000 §3 "Exemples de Fallback").

identity: the last known answer for this caller, from Redis.
business: a clearly marked degraded answer.
Both the domain gateways and the router (when a gateway is down) use these.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from fastapi.responses import JSONResponse, Response, StreamingResponse

from targets.endpoints import Domain, Endpoint
from targets.gateway.validation import validate_payload
from targets.headers import HEADER_CACHE_AGE, HEADER_ROUTE, Route
from targets.keys import Principal, bearer_key, verify_key
from targets.payload import Rejected
from targets.problems import error_response
from targets.stack import StackSpec
from targets.store import REDIS_ERRORS

__all__ = ["DEGRADED_CHAT_TEXT", "degraded_response", "fallback_answer", "identity_fallback",
           "remember_identity"]

log = logging.getLogger(__name__)

LAST_KNOWN_PREFIX = "gc:last:"
DEGRADED_CHAT_TEXT = "The assistant is temporarily unavailable. Please try again shortly."


def _last_key(principal: Principal, endpoint: Endpoint) -> str:
    return f"{LAST_KNOWN_PREFIX}{principal.tenant}:{principal.user}:{endpoint.name}"


async def remember_identity(store: aioredis.Redis, principal: Principal, endpoint: Endpoint,
                            body: bytes, ttl_s: int) -> None:
    """Keep the last good identity answer; a cache write never fails the request."""
    record = json.dumps({"ts": time.time(), "body": body.decode()})
    try:
        await store.set(_last_key(principal, endpoint), record, ex=ttl_s)
    except REDIS_ERRORS:
        log.warning("identity cache write skipped: redis unavailable")


async def identity_fallback(store: aioredis.Redis | None, principal: Principal,
                            endpoint: Endpoint, headers: dict[str, str]) -> Response | None:
    """The last known answer, marked `fallback-cache`; None when there is none."""
    if store is None:
        return None
    try:
        raw = await store.get(_last_key(principal, endpoint))
    except REDIS_ERRORS:
        return None
    if raw is None:
        return None
    record = json.loads(raw)
    age = max(0.0, time.time() - float(record["ts"]))
    out = {**headers, HEADER_ROUTE: Route.FALLBACK_CACHE, HEADER_CACHE_AGE: f"{age:.1f}"}
    return Response(record["body"], 200, headers=out, media_type="application/json")


def _degraded_chat(model: str, stream: bool, headers: dict[str, str]) -> Response:
    created = int(time.time())
    cid = f"chatcmpl-degraded-{uuid.uuid4().hex[:12]}"
    if not stream:
        body = {
            "id": cid, "object": "chat.completion", "created": created, "model": model,
            "degraded": True,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": DEGRADED_CHAT_TEXT}}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }
        return JSONResponse(body, headers=headers)

    def chunk(delta: dict[str, str], finish: str | None) -> str:
        data = {"id": cid, "object": "chat.completion.chunk", "created": created,
                "model": model, "degraded": True,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(data)}\n\n"

    events = [chunk({"role": "assistant", "content": ""}, None),
              chunk({"content": DEGRADED_CHAT_TEXT}, None), chunk({}, "stop"),
              "data: [DONE]\n\n"]
    return StreamingResponse(iter(events), headers=headers, media_type="text/event-stream")


def degraded_response(endpoint: Endpoint, headers: dict[str, str],
                      payload: Mapping[str, Any] | None = None) -> Response:
    """A 2xx answer that says plainly it is degraded (route `fallback-degraded`).

    `payload` is the validated request body: a chat answer streams, and names
    the model, as the request asked.
    """
    out = {**headers, HEADER_ROUTE: Route.FALLBACK_DEGRADED}
    note = "service degraded: answered by the fallback"
    if endpoint.name == "chat.completions":
        payload = payload or {}
        return _degraded_chat(str(payload.get("model") or "degraded"),
                              bool(payload.get("stream")), out)
    if endpoint.name == "orders.create":
        body: dict[str, object] = {"status": "accepted-later", "degraded": True,
                                   "message": "order accepted; it will be processed later"}
        return JSONResponse(body, status_code=202, headers=out)
    bodies: dict[str, dict[str, object]] = {
        "orders.list": {"orders": []},
        "articles.list": {"articles": [], "total": 0},
        "articles.get": {},
        "analytics.summary": {},
        "chat.models": {"object": "list", "data": []},
    }
    body = {**bodies.get(endpoint.name, {}), "degraded": True, "message": note}
    return JSONResponse(body, headers=out)


async def fallback_answer(store: aioredis.Redis | None, stack: StackSpec,
                          authorization: str | None, endpoint: Endpoint, body: bytes,
                          reason: str, headers: dict[str, str]) -> Response:
    """The dedicated fallback of the gateway that serves `endpoint`'s domain, served by
    whoever stands in for it (the router, the fallback service): the request is
    refused as the gateway would refuse it, the caller known by the key's signature."""
    try:
        payload = validate_payload(endpoint, body, stack.limits)
    except Rejected as rejected:
        rejected.response.headers.update(headers)
        return rejected.response
    key = bearer_key(authorization)
    principal = verify_key(stack.signing_key, key) if key else None
    if principal is None:
        return error_response(401, "missing or invalid API key", "invalid_api_key", headers)
    if endpoint.domain is Domain.IDENTITY:
        answer = await identity_fallback(store, principal, endpoint, headers)
        if answer is not None:
            return answer
        return error_response(503, f"identity unavailable ({reason}) and no cached "
                              "answer for this caller yet", "identity_unavailable", headers)
    return degraded_response(endpoint, headers, payload)
