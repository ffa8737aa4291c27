"""A FAKE of the stack's public API (docs/contracts.md), for the traffic tests only.

Not the system under test: it answers every contract endpoint with canned JSON
and the X-Gatecrash-* headers, and streams chat completions with known timing
so that the measured TTFT/ITL can be checked. Chat knobs ride in the model
name, e.g. `fake:ttft=0.2:itl=0.05:cut_every=3:cut_after=2:whole_every=4`:
every `cut_every`-th stream is cut (connection dropped) after `cut_after` chunks,
every `whole_every`-th stream request gets a whole JSON answer instead (as a
fallback might send).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

__all__ = ["FAKE_API_KEY", "main", "make_fake_app"]

FAKE_API_KEY = "fake-key"
FAKE_GATEWAY = "fake-gw"
FAKE_INSTANCES = ("fake-1", "fake-2")
QUOTA_REJECT_EVERY = 4
DEFAULT_TTFT_S = 0.05
DEFAULT_ITL_S = 0.02


def _knobs(model: str) -> dict[str, float]:
    knobs = {"ttft": DEFAULT_TTFT_S, "itl": DEFAULT_ITL_S, "cut_every": 0.0, "cut_after": 1.0,
             "whole_every": 0.0}
    for part in model.split(":")[1:]:
        key, _, value = part.partition("=")
        knobs[key] = float(value)
    return knobs


def _chunk(content: str | None, finish: str | None = None) -> bytes:
    delta: dict[str, Any] = {} if content is None else {"content": content}
    event = {"object": "chat.completion.chunk",
             "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(event).encode() + b"\n\n"


class _StreamCutByFake(Exception):
    """Raised inside the streaming body: uvicorn then drops the connection mid-response."""


def make_fake_app(delay_s: float = 0.0) -> FastAPI:
    """The fake; `delay_s` is added to every non-chat answer (to saturate a small pool)."""
    app = FastAPI()
    instances = itertools.cycle(FAKE_INSTANCES)
    streams = itertools.count(1)
    quota_calls = itertools.count(1)

    @app.middleware("http")
    async def headers_and_auth(request: Request, call_next: Any) -> Response:
        if request.headers.get("authorization") != f"Bearer {FAKE_API_KEY}":
            response: Response = JSONResponse({"detail": "bad key"}, status_code=401)
        else:
            if delay_s and not request.url.path.startswith("/v1/chat"):
                await asyncio.sleep(delay_s)
            response = await call_next(request)
        response.headers["X-Gatecrash-Instance"] = next(instances)
        response.headers["X-Gatecrash-Gateway"] = FAKE_GATEWAY
        route = "cache-hit" if request.url.path.startswith("/v1/articles/") else "primary"
        response.headers.setdefault("X-Gatecrash-Route", route)
        return response

    @app.post("/v1/identity/login")
    async def login() -> dict[str, str]:
        return {"tenant": "t1", "user": "u1", "key_id": "k1"}

    @app.get("/v1/identity/profile")
    async def profile() -> dict[str, str]:
        return {"tenant": "t1", "user": "u1", "display_name": "U One", "plan": "pro"}

    @app.get("/v1/identity/quota")
    async def quota() -> Response:
        if next(quota_calls) % QUOTA_REJECT_EVERY == 0:
            return JSONResponse({"detail": "quota"}, status_code=429, headers={"Retry-After": "1"})
        return JSONResponse({"limit": 100, "used": 1, "remaining": 99, "reset_s": 60})

    @app.get("/v1/orders")
    async def orders() -> dict[str, list[Any]]:
        return {"orders": []}

    @app.post("/v1/orders", status_code=201)
    async def create_order(body: dict[str, Any]) -> dict[str, Any]:
        return {"id": "o1", **body}

    @app.get("/v1/articles")
    async def articles() -> dict[str, Any]:
        return {"articles": [{"id": "a000"}], "total": 1}

    @app.get("/v1/articles/{article_id}")
    async def article(article_id: str) -> dict[str, str]:
        return {"id": article_id}

    @app.get("/v1/analytics/summary")
    async def analytics() -> dict[str, int]:
        return {"orders": 0}

    @app.post("/v1/chat/completions")
    async def chat(body: dict[str, Any]) -> Response:
        knobs = _knobs(str(body.get("model", "fake")))
        n_tokens = int(body.get("max_tokens", 4))
        n = next(streams) if body.get("stream") else 0
        whole_every = int(knobs["whole_every"])
        if not body.get("stream") or (whole_every and n % whole_every == 0):
            await asyncio.sleep(knobs["ttft"] + knobs["itl"] * (n_tokens - 1))
            return JSONResponse({
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": n_tokens,
                          "total_tokens": n_tokens + 3},
            })
        cut_every = int(knobs["cut_every"])
        cut_after = int(knobs["cut_after"]) if cut_every and n % cut_every == 0 else None

        async def events() -> AsyncIterator[bytes]:
            yield b"data: " + json.dumps({"choices": [{"index": 0, "delta": {
                "role": "assistant"}}]}).encode() + b"\n\n"
            await asyncio.sleep(knobs["ttft"])
            for i in range(n_tokens):
                if cut_after is not None and i == cut_after:
                    raise _StreamCutByFake(f"fake cut after {i} chunks")
                if i:
                    await asyncio.sleep(knobs["itl"])
                yield _chunk(f"t{i} ")
            yield _chunk(None, finish="stop")
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def main(argv: list[str] | None = None) -> None:
    """`python -m tests.loadtests.fake_service PORT [DELAY_S]`: serve the fake in this process."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    delay = float(args[1]) if len(args) > 1 else 0.0
    uvicorn.run(make_fake_app(delay), host="127.0.0.1", port=int(args[0]), log_level="critical",
                access_log=False)


if __name__ == "__main__":
    main()
