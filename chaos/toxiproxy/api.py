"""The Toxiproxy 2.x REST API (upstream's ``api.go``), as a Starlette app.

Same routes, JSON fields, defaults and status codes as Shopify Toxiproxy:
errors are ``{"error": message, "status": code}``; proxy create and populate
answer 201, toxic create 200 (as upstream), deletes and reset 204. One
addition: every proxy carries a ``stats`` object, also served at
``GET /proxies/{proxy}/stats``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from chaos.errors import ToxiproxyError
from chaos.toxiproxy.collection import PopulateError, ProxyCollection, ProxySpec
from chaos.toxiproxy.wrapper import parse_toxic, update_toxic

__all__ = ["API_VERSION", "create_app"]

# The upstream release whose API this server reproduces (PATCH updates: 2.6.0).
API_VERSION = "2.6.0"


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, "status": status, **extra}, status_code=status)


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except ValueError as exc:
        detail = "EOF" if not raw.strip() else str(exc)
        raise ToxiproxyError(400, f"bad request body: {detail}") from None


def _collection(request: Request) -> ProxyCollection:
    collection: ProxyCollection = request.app.state.collection
    return collection


# -- proxies -----------------------------------------------------------------


async def version(request: Request) -> Response:
    return JSONResponse({"version": API_VERSION})


async def list_proxies(request: Request) -> Response:
    return JSONResponse({p.name: p.to_json() for p in _collection(request).all()})


async def create_proxy(request: Request) -> Response:
    spec = ProxySpec.parse(await _body(request))
    proxy = await _collection(request).create(spec)
    return JSONResponse(proxy.to_json(), status_code=201)


async def populate(request: Request) -> Response:
    collection = _collection(request)
    try:
        proxies = await collection.populate(await _body(request))
    except PopulateError as exc:
        return _error(exc.status, exc.message, proxies=[p.to_json() for p in exc.proxies])
    return JSONResponse({"proxies": [p.to_json() for p in proxies]}, status_code=201)


async def show_proxy(request: Request) -> Response:
    return JSONResponse(_collection(request).get(request.path_params["proxy"]).to_json())


async def proxy_stats(request: Request) -> Response:
    proxy = _collection(request).get(request.path_params["proxy"])
    return JSONResponse(proxy.stats().to_json())


async def update_proxy(request: Request) -> Response:
    collection = _collection(request)
    name = request.path_params["proxy"]
    collection.get(name)  # 404 before reading the body, as upstream
    proxy = await collection.update(name, await _body(request))
    return JSONResponse(proxy.to_json())


async def delete_proxy(request: Request) -> Response:
    await _collection(request).delete(request.path_params["proxy"])
    return Response(status_code=204)


async def reset(request: Request) -> Response:
    await _collection(request).reset()
    return Response(status_code=204)


# -- toxics ------------------------------------------------------------------


async def list_toxics(request: Request) -> Response:
    proxy = _collection(request).get(request.path_params["proxy"])
    return JSONResponse([t.to_json() for t in proxy.all_toxics()])


async def create_toxic(request: Request) -> Response:
    proxy = _collection(request).get(request.path_params["proxy"])
    toxic = parse_toxic(await _body(request))
    proxy.add_toxic(toxic)
    return JSONResponse(toxic.to_json())


async def show_toxic(request: Request) -> Response:
    proxy = _collection(request).get(request.path_params["proxy"])
    return JSONResponse(proxy.get_toxic(request.path_params["toxic"]).to_json())


async def update_toxic_route(request: Request) -> Response:
    proxy = _collection(request).get(request.path_params["proxy"])
    toxic = proxy.get_toxic(request.path_params["toxic"])
    updated = update_toxic(toxic, await _body(request))
    proxy.replace_toxic(updated)
    return JSONResponse(updated.to_json())


async def delete_toxic(request: Request) -> Response:
    proxy = _collection(request).get(request.path_params["proxy"])
    proxy.remove_toxic(request.path_params["toxic"])
    return Response(status_code=204)


# -- errors and browsers -----------------------------------------------------


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ToxiproxyError)
    return _error(exc.status, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail))


class _RefuseBrowsers:
    """Upstream refuses ``Mozilla/*`` user agents so a web page cannot drive the API."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for key, value in scope["headers"]:
                if key == b"user-agent" and value.startswith(b"Mozilla/"):
                    await _error(403, "User agent not allowed")(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def create_app(collection: ProxyCollection) -> ASGIApp:
    """The API app over ``collection`` (to run on the same event loop as the proxies)."""
    routes = [
        Route("/version", version, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/populate", populate, methods=["POST"]),
        Route("/proxies", list_proxies, methods=["GET"]),
        Route("/proxies", create_proxy, methods=["POST"]),
        Route("/proxies/{proxy}", show_proxy, methods=["GET"]),
        Route("/proxies/{proxy}", update_proxy, methods=["POST", "PATCH"]),
        Route("/proxies/{proxy}", delete_proxy, methods=["DELETE"]),
        Route("/proxies/{proxy}/stats", proxy_stats, methods=["GET"]),
        Route("/proxies/{proxy}/toxics", list_toxics, methods=["GET"]),
        Route("/proxies/{proxy}/toxics", create_toxic, methods=["POST"]),
        Route("/proxies/{proxy}/toxics/{toxic}", show_toxic, methods=["GET"]),
        Route("/proxies/{proxy}/toxics/{toxic}", update_toxic_route, methods=["POST", "PATCH"]),
        Route("/proxies/{proxy}/toxics/{toxic}", delete_toxic, methods=["DELETE"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={ToxiproxyError: _api_error, HTTPException: _http_error},
    )
    app.state.collection = collection
    return _RefuseBrowsers(app)
