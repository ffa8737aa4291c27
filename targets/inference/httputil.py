"""HTTP plumbing shared by the local and the upstream routes.

Errors leave as OpenAI's envelope `{"error": {"message", "type", "param", "code"}}`,
which the `openai` client turns into its typed exceptions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from targets.inference.errors import InferenceError
from targets.inference.schemas import ChatCompletionRequest, error_body, validation_message

__all__ = [
    "ApiError",
    "ClosingStreamingResponse",
    "api_error_response",
    "parse_chat_request",
    "read_body",
    "start_disconnect_watch",
    "watch_disconnect",
]


class ApiError(InferenceError):
    """An error answered to the client, with its HTTP status and OpenAI error fields."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.headers = headers or {}


async def api_error_response(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI exception handler for ApiError."""
    assert isinstance(exc, ApiError)
    return JSONResponse(error_body(exc.message, exc.type, exc.param, exc.code),
                        status_code=exc.status, headers=exc.headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"request body is larger than {limit} bytes; send a shorter prompt",
                    code="request_too_large")


def parse_chat_request(body: bytes) -> ChatCompletionRequest:
    """Validated request, or 400 with a message naming each bad field."""
    if not body.strip():
        raise ApiError(400, "empty request body: send a JSON chat-completions request")
    try:
        return ChatCompletionRequest.model_validate_json(body)
    except ValidationError as exc:
        message, param = validation_message(exc)
        raise ApiError(400, message, param=param) from exc


async def watch_disconnect(request: Request, on_disconnect: Callable[[], object]) -> None:
    """Call `on_disconnect` when the client goes away (run as a task; cancel when done).

    Starlette only notices a vanished client when a write fails, and only closes our
    generator later; a queued request writes nothing, so we listen ourselves.
    """
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            on_disconnect()
            return


def start_disconnect_watch(
    request: Request, on_disconnect: Callable[[], object]
) -> asyncio.Task[None]:
    return asyncio.create_task(watch_disconnect(request, on_disconnect))


class ClosingStreamingResponse(StreamingResponse):
    """A StreamingResponse that always runs `on_close`, also when its body generator
    never started (the client left before the headers went out), which a generator's
    own `finally` cannot cover."""

    def __init__(self, content: Any, *, on_close: Callable[[], Awaitable[None]],
                 **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._on_close()
