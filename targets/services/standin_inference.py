"""A stand-in for the inference service (backend `standin`): no model, it
echoes the last user message word by word at a fixed pace, behind the same
OpenAI chat-completions interface. For harness tests that exercise the
gateways and must not pay for a model; the real service is
`targets.inference`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from targets.app import ServiceIdentity, create_app
from targets.payload import Rejected, json_object

__all__ = ["MODEL_ID", "build_app"]

MODEL_ID = "gatecrash-standin"
TOKEN_DELAY_S = 0.002
DEFAULT_MAX_TOKENS = 16


def _answer(payload: dict[str, Any]) -> list[str]:
    users = [m for m in payload.get("messages", []) if m.get("role") == "user"]
    text = str(users[-1].get("content", "")) if users else ""
    words = (text.split() or ["ok"]) * 4
    limit = int(payload.get("max_tokens") or payload.get("max_completion_tokens")
                or DEFAULT_MAX_TOKENS)
    return [w + " " for w in words[:limit]]


def build_app(identity: ServiceIdentity) -> FastAPI:
    app = create_app(identity, title="inference (stand-in)")

    async def health_extra() -> dict[str, Any]:
        return {"device": "none", "model": MODEL_ID}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model",
                                             "created": 0, "owned_by": "gatecrash"}]}

    @app.post("/v1/chat/completions", response_model=None)
    async def completions(request: Request):
        try:
            payload = json_object(await request.body())
        except Rejected as rejected:
            return rejected.response
        tokens = _answer(payload)
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())
        usage = {"prompt_tokens": 1, "completion_tokens": len(tokens),
                 "total_tokens": 1 + len(tokens)}
        model = payload.get("model") or MODEL_ID
        if not payload.get("stream"):
            await asyncio.sleep(TOKEN_DELAY_S * len(tokens))
            return JSONResponse({
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "finish_reason": "length",
                             "message": {"role": "assistant", "content": "".join(tokens)}}],
                "usage": usage})

        def chunk(delta: dict[str, str], finish: str | None) -> str:
            return "data: " + json.dumps({
                "id": cid, "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [{"index": 0, "delta": delta,
                                             "finish_reason": finish}]}) + "\n\n"

        async def events():
            yield chunk({"role": "assistant", "content": ""}, None)
            for token in tokens:
                await asyncio.sleep(TOKEN_DELAY_S)
                yield chunk({"content": token}, None)
            yield chunk({}, "length")
            if (payload.get("stream_options") or {}).get("include_usage"):
                yield "data: " + json.dumps({"id": cid, "object": "chat.completion.chunk",
                                             "created": created, "model": model,
                                             "choices": [], "usage": usage}) + "\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    app.state.health_extra = health_extra
    return app
