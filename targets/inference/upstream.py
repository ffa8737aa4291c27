"""`upstream:URL` — the same API, answered by any OpenAI-compatible server (vLLM, TGI,
llama.cpp, another Gatecrash inference). Streams pass through chunk by chunk.

The upstream batches; this service only bounds how many requests it forwards at once
(`max_batch_size + max_queue`) so an overloaded upstream shows up as 503s here too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response

from targets.inference.httputil import (
    ApiError,
    ClosingStreamingResponse,
    parse_chat_request,
    read_body,
    start_disconnect_watch,
)
from targets.inference.settings import InferenceSettings

__all__ = ["UpstreamProxy", "router", "upstream_base_url"]

CONNECT_TIMEOUT_S = 5.0
# Response headers worth passing on; hop-by-hop and length headers are the server's job.
_PASS_HEADERS = ("content-type", "retry-after")

router = APIRouter()


def upstream_base_url(target: str) -> str:
    """`http://host:port` or `http://host:port/v1` -> the `/v1` base URL."""
    base = target.rstrip("/")
    return base if base.endswith("/v1") else f"{base}/v1"


class UpstreamProxy:
    def __init__(self, settings: InferenceSettings) -> None:
        self.settings = settings
        self.base_url = upstream_base_url(settings.backend_spec.target)
        self.capacity = settings.max_batch_size + settings.max_queue
        self.in_flight = 0
        headers = {}
        if settings.upstream_api_key:
            headers["Authorization"] = f"Bearer {settings.upstream_api_key}"
        timeout = httpx.Timeout(settings.upstream_timeout_s, connect=CONNECT_TIMEOUT_S)
        self.client = httpx.AsyncClient(base_url=self.base_url, headers=headers,
                                        timeout=timeout)

    async def aclose(self) -> None:
        await self.client.aclose()

    def health(self) -> dict[str, Any]:
        return {
            "backend": self.settings.backend,
            "model": self.settings.model_name or "upstream",
            "device": "upstream",
            "upstream": self.base_url,
            "queue_depth": 0,
            "batch_size": self.in_flight,
            "max_batch_size": self.capacity,
            "max_queue": self.settings.max_queue,
        }

    async def send(self, method: str, path: str, body: bytes | None = None) -> httpx.Response:
        headers = {"content-type": "application/json"} if body is not None else {}
        request = self.client.build_request(method, path, content=body, headers=headers)
        try:
            return await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise ApiError(502, f"upstream {self.base_url} did not answer: "
                                f"{type(exc).__name__}: {exc}", type_="server_error",
                           code="upstream_unavailable") from exc


def _proxy(request: Request) -> UpstreamProxy:
    proxy: UpstreamProxy = request.app.state.upstream
    return proxy


def _headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower() in _PASS_HEADERS}


@router.get("/v1/models", response_model=None)
async def list_models(request: Request) -> Response:
    response = await _proxy(request).send("GET", "/models")
    try:
        content = await response.aread()
    finally:
        await response.aclose()
    return Response(content, status_code=response.status_code, headers=_headers(response))


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request) -> Response:
    proxy = _proxy(request)
    body = await read_body(request, proxy.settings.max_request_bytes)
    chat = parse_chat_request(body)  # same 400s as the local backends, before any hop
    if proxy.in_flight >= proxy.capacity:
        raise ApiError(503, f"server busy: {proxy.in_flight} requests in flight upstream; "
                            "retry later", type_="server_error", code="queue_full",
                       headers={"Retry-After": str(proxy.settings.retry_after_s)})
    proxy.in_flight += 1
    try:
        response = await proxy.send("POST", "/chat/completions", body)
    except BaseException:
        proxy.in_flight -= 1
        raise
    if not chat.stream:
        try:
            content = await response.aread()
        finally:
            await response.aclose()
            proxy.in_flight -= 1
        return Response(content, status_code=response.status_code, headers=_headers(response))

    async def release() -> None:
        # Closing our side makes the upstream see a disconnect and free its slot.
        await response.aclose()
        proxy.in_flight -= 1

    return ClosingStreamingResponse(_relay(request, response), on_close=release,
                                    status_code=response.status_code,
                                    headers=_headers(response))


async def _relay(request: Request, response: httpx.Response) -> AsyncIterator[bytes]:
    closed = False

    def client_left() -> None:
        nonlocal closed
        closed = True

    watcher = start_disconnect_watch(request, client_left)
    try:
        async for chunk in response.aiter_raw():
            if closed:
                return
            yield chunk
    except httpx.HTTPError:
        return  # upstream broke mid-stream: end the stream, the client sees no [DONE]
    finally:
        watcher.cancel()
