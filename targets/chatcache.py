"""The response cache of seed 000 §2 steps 6 and 10, for chat answers.

Only deterministic requests are cached (temperature 0, or a fixed seed):
the same question then has one answer, so a hit can return it at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from fastapi.responses import JSONResponse, Response, StreamingResponse

from targets.connection import HopResponse
from targets.sse import guarded
from targets.store import REDIS_ERRORS

__all__ = ["CachedAnswer", "answer_from_sse", "cache_key", "lookup", "relay_and_store", "render",
           "store"]

log = logging.getLogger(__name__)

CACHE_PREFIX = "gc:chat:"
# Streams longer than this are relayed but not cached.
MAX_CACHED_BYTES = 256 * 1024
KEY_FIELDS = ("model", "messages", "max_tokens", "max_completion_tokens", "temperature",
              "top_p", "seed")

CachedAnswer = dict[str, Any]


def cache_key(payload: dict[str, Any]) -> str | None:
    """The cache key of a request, or None when its answer is not deterministic."""
    temperature = payload.get("temperature", 1.0)
    if temperature not in (0, 0.0) and payload.get("seed") is None:
        return None
    material = json.dumps({k: payload.get(k) for k in KEY_FIELDS}, sort_keys=True)
    return CACHE_PREFIX + hashlib.sha256(material.encode()).hexdigest()


async def lookup(store: aioredis.Redis, key: str) -> CachedAnswer | None:
    try:
        raw = await store.get(key)
    except REDIS_ERRORS:
        return None  # a cache that is down is a miss, never an error
    return json.loads(raw) if raw else None


async def store(store: aioredis.Redis, key: str, answer: CachedAnswer, ttl_s: int) -> None:
    try:
        await store.set(key, json.dumps(answer), ex=ttl_s)
    except REDIS_ERRORS:
        log.warning("chat cache write skipped: redis unavailable")


def answer_from_json(body: bytes) -> CachedAnswer | None:
    try:
        data = json.loads(body)
        choice = data["choices"][0]
        return {"model": data.get("model"), "content": choice["message"]["content"],
                "finish_reason": choice.get("finish_reason"), "usage": data.get("usage")}
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def answer_from_sse(raw: bytes) -> CachedAnswer | None:
    """Rebuild the answer from a relayed SSE stream; None unless it ended with [DONE]."""
    parts: list[str] = []
    model = finish = None
    usage = None
    done = False
    for line in raw.decode(errors="replace").splitlines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            continue
        try:
            chunk = json.loads(data)
        except ValueError:
            return None
        model = chunk.get("model", model)
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            parts.append((choice.get("delta") or {}).get("content") or "")
            finish = choice.get("finish_reason") or finish
    if not done:
        return None
    return {"model": model, "content": "".join(parts), "finish_reason": finish, "usage": usage}


def render(answer: CachedAnswer, *, stream: bool, include_usage: bool,
           headers: dict[str, str]) -> Response:
    created = int(time.time())
    cid = f"chatcmpl-cache-{uuid.uuid4().hex[:12]}"
    model = answer.get("model") or "cached"
    usage = answer.get("usage")
    if not stream:
        return JSONResponse({
            "id": cid, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "finish_reason": answer.get("finish_reason") or "stop",
                         "message": {"role": "assistant", "content": answer["content"]}}],
            "usage": usage,
        }, headers=headers)

    def chunk(delta: dict[str, str], finish: str | None) -> str:
        return "data: " + json.dumps({
            "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + "\n\n"

    events = [chunk({"role": "assistant", "content": ""}, None),
              chunk({"content": answer["content"]}, None),
              chunk({}, answer.get("finish_reason") or "stop")]
    if include_usage and usage:
        events.append("data: " + json.dumps({
            "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [], "usage": usage}) + "\n\n")
    events.append("data: [DONE]\n\n")
    return StreamingResponse(iter(events), headers=headers, media_type="text/event-stream")


async def relay_and_store(upstream: HopResponse, redis: aioredis.Redis | None,
                          key: str | None, ttl_s: int, *, source: str,
                          first: bytes = b"",
                          rest: AsyncIterator[bytes] | None = None) -> AsyncIterator[bytes]:
    """Pass chunks on as they come (never buffer the answer before sending),
    keeping a copy to store in the cache once the stream ended well; a stream that
    breaks off ends with an explicit error event (targets/sse.py), and is not kept.

    `first` and `rest`: a stream whose first bytes were already read (to retry one
    that failed before them); by default the upstream's whole body.
    """
    copy = bytearray(first) if key is not None and redis is not None else None
    try:
        if first:
            yield first
        async for chunk in guarded(rest if rest is not None else upstream.aiter_raw(), source):
            if copy is not None:
                copy += chunk
                if len(copy) > MAX_CACHED_BYTES:
                    copy = None
            yield chunk
    finally:
        await upstream.aclose()
    if copy is not None and key is not None and redis is not None:
        answer = answer_from_sse(bytes(copy))
        if answer is not None:
            await store(redis, key, answer, ttl_s)
