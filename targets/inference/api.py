"""OpenAI-compatible routes over the local batching engine.

`POST /v1/chat/completions` (whole JSON or server-sent events), `GET /v1/models`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from targets.inference.engine import Engine, Event, FinishReason, GenerationStream
from targets.inference.errors import EngineStoppedError, QueueFullError
from targets.inference.httputil import (
    ApiError,
    ClosingStreamingResponse,
    parse_chat_request,
    read_body,
    start_disconnect_watch,
)
from targets.inference.sampling import SamplingParams
from targets.inference.schemas import ChatCompletionRequest, error_body
from targets.inference.settings import InferenceSettings

__all__ = ["SSE_HEADERS", "router"]

# OpenAI's defaults when a request leaves them out.
DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_P = 1.0
# Proxies (nginx) must not buffer an event stream.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SSE_DONE = "data: [DONE]\n\n"
OWNED_BY = "gatecrash"
# Status for a request whose client left before the answer (nobody reads it; logs do).
CLIENT_CLOSED_STATUS = 499

router = APIRouter()


def _engine(request: Request) -> Engine:
    engine: Engine | None = getattr(request.app.state, "engine", None)
    if engine is None or not engine.alive:
        raise ApiError(503, "the model is not loaded or the engine stopped; see /health",
                       type_="server_error", code="engine_unavailable")
    return engine


def _settings(request: Request) -> InferenceSettings:
    settings: InferenceSettings = request.app.state.settings
    return settings


EngineDep = Annotated[Engine, Depends(_engine)]
SettingsDep = Annotated[InferenceSettings, Depends(_settings)]


@router.get("/v1/models")
async def list_models(engine: EngineDep, request: Request) -> dict[str, Any]:
    return {"object": "list", "data": [_model_card(engine, request)]}


@router.get("/v1/models/{model_id}")
async def get_model(model_id: str, engine: EngineDep, request: Request) -> dict[str, Any]:
    if model_id != engine.loaded.name:
        raise ApiError(404, f"model {model_id!r} does not exist; this server serves "
                            f"{engine.loaded.name!r}", param="model", code="model_not_found")
    return _model_card(engine, request)


def _model_card(engine: Engine, request: Request) -> dict[str, Any]:
    return {"id": engine.loaded.name, "object": "model",
            "created": int(request.app.state.started_at), "owned_by": OWNED_BY}


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request, engine: EngineDep,
                           settings: SettingsDep) -> Response:
    chat = parse_chat_request(await read_body(request, settings.max_request_bytes))
    messages = [{"role": m.role, "content": m.text()} for m in chat.messages]
    try:
        prompt_ids = engine.loaded.tokenizer.encode_chat(messages)
    except Exception as exc:  # a chat template may raise anything (jinja, ValueError)
        raise ApiError(400, f"the model's chat template rejected these messages: {exc}",
                       param="messages") from exc
    params = _sampling_params(chat, len(prompt_ids), engine, settings)
    try:
        stream = engine.submit(prompt_ids, params)
    except QueueFullError as exc:
        raise ApiError(503, f"server busy: {exc}; retry later", type_="server_error",
                       code="queue_full",
                       headers={"Retry-After": str(settings.retry_after_s)}) from exc
    except EngineStoppedError as exc:
        raise ApiError(503, str(exc), type_="server_error", code="engine_unavailable") from exc
    meta = _ChunkFormat(engine.loaded.name)
    if chat.stream:

        async def release() -> None:
            stream.cancel()  # no-op once finished; frees the slot when the client left

        return ClosingStreamingResponse(_sse(request, stream, meta, chat.include_usage()),
                                        on_close=release, media_type="text/event-stream",
                                        headers=SSE_HEADERS)
    return await _whole(request, stream, meta)


def _sampling_params(chat: ChatCompletionRequest, prompt_tokens: int, engine: Engine,
                     settings: InferenceSettings) -> SamplingParams:
    """Check the limits (400 with OpenAI's codes) and build the engine's parameters."""
    context_len = engine.loaded.context_len
    if prompt_tokens > settings.max_input_tokens or prompt_tokens >= context_len:
        limit = min(settings.max_input_tokens, context_len - 1)
        raise ApiError(400, f"the messages are {prompt_tokens} tokens long; this server "
                            f"accepts at most {limit} input tokens. Shorten the messages.",
                       param="messages", code="context_length_exceeded")
    requested = chat.max_completion_tokens or chat.max_tokens
    field = "max_completion_tokens" if chat.max_completion_tokens else "max_tokens"
    if requested is not None and requested > settings.max_tokens_limit:
        raise ApiError(400, f"{field} is {requested}; this server allows at most "
                            f"{settings.max_tokens_limit}", param=field, code="invalid_value")
    room = context_len - prompt_tokens
    if requested is not None and requested > room:
        raise ApiError(400, f"{prompt_tokens} input tokens + {field}={requested} exceed the "
                            f"context length of {context_len} tokens; lower {field}",
                       param=field, code="context_length_exceeded")
    temperature = DEFAULT_TEMPERATURE if chat.temperature is None else chat.temperature
    return SamplingParams(
        max_tokens=requested or min(settings.max_tokens_default, room),
        temperature=temperature,
        top_p=DEFAULT_TOP_P if chat.top_p is None else chat.top_p,
        seed=chat.seed,
        stop=chat.stop_strings(),
        ignore_eos=chat.ignore_eos,
    )


class _ChunkFormat:
    """Pre-rendered JSON around each streamed piece: a chunk is a few string joins."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self._head = (
            f'data: {{"id":"{self.id}","object":"chat.completion.chunk",'
            f'"created":{self.created},"model":{json.dumps(model)},'
            '"system_fingerprint":null,"choices":['
        )

    def role(self) -> str:
        return (self._head + '{"index":0,"delta":{"role":"assistant","content":""},'
                '"logprobs":null,"finish_reason":null}]}\n\n')

    def content(self, text: str) -> str:
        return (self._head + '{"index":0,"delta":{"content":' + json.dumps(text)
                + '},"logprobs":null,"finish_reason":null}]}\n\n')

    def finish(self, reason: str) -> str:
        return (self._head + '{"index":0,"delta":{},"logprobs":null,"finish_reason":'
                + json.dumps(reason) + "}]}\n\n")

    def usage(self, prompt_tokens: int, completion_tokens: int) -> str:
        usage = json.dumps(_usage(prompt_tokens, completion_tokens), separators=(",", ":"))
        return self._head + '],"usage":' + usage + "}\n\n"


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _error_event(event: Event) -> str:
    body = error_body(event.error or "generation failed", "server_error", code="engine_error")
    return f"data: {json.dumps(body)}\n\n"


async def _sse(request: Request, stream: GenerationStream, fmt: _ChunkFormat,
               include_usage: bool) -> AsyncIterator[str]:
    watcher = start_disconnect_watch(request, stream.cancel)
    try:
        yield fmt.role()
        async for events in stream.batches():
            parts = [fmt.content(e.text) for e in events if e.text]
            last = events[-1]
            if last.finish_reason == FinishReason.CANCELLED:
                return
            if last.finish_reason == FinishReason.ERROR:
                parts += [_error_event(last), SSE_DONE]
            elif last.finish_reason is not None:
                parts.append(fmt.finish(last.finish_reason))
                if include_usage:
                    parts.append(fmt.usage(stream.prompt_tokens, last.completion_tokens))
                parts.append(SSE_DONE)
            if parts:
                yield "".join(parts)
    finally:
        watcher.cancel()


async def _whole(request: Request, stream: GenerationStream, fmt: _ChunkFormat) -> Response:
    watcher = start_disconnect_watch(request, stream.cancel)
    texts: list[str] = []
    last = Event()
    try:
        async for events in stream.batches():
            texts.extend(e.text for e in events)
            last = events[-1]
    finally:
        watcher.cancel()
        stream.cancel()
    if last.finish_reason == FinishReason.CANCELLED:
        return Response(status_code=CLIENT_CLOSED_STATUS)
    if last.finish_reason == FinishReason.ERROR:
        return JSONResponse(error_body(last.error or "generation failed", "server_error",
                                       code="engine_error"), status_code=500)
    return JSONResponse({
        "id": fmt.id,
        "object": "chat.completion",
        "created": fmt.created,
        "model": fmt.model,
        "system_fingerprint": None,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "".join(texts)},
            "logprobs": None,
            "finish_reason": last.finish_reason,
        }],
        "usage": _usage(stream.prompt_tokens, last.completion_tokens),
    })
