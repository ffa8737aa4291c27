"""The fault layers of one stack and their control API, on one event loop.

The API takes Toxiproxy's shape (DESIGN.md §8): layers are created by
`POST /populate`, faults added to a layer by `POST /layers/{layer}/faults`
and removed by `DELETE .../faults/{fault}` (which answers the fault with its
final counters, so nothing is lost between reading and removing), `POST
/reset` removes every fault. Errors are `{"error": message, "status": code}`.

Run it with `python -m chaos.httpfaults --host 127.0.0.1 --port 8475`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Any, Self

import uvicorn
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chaos.errors import ChaosError
from chaos.httpfaults.faults import FaultRule, HttpFaultError
from chaos.httpfaults.layer import Layer

__all__ = ["API_VERSION", "BackgroundLayers", "LayerConfig", "LayerSet", "create_app", "run"]

API_VERSION = "gatecrash-httpfaults/1"
STARTUP_TIMEOUT_S = 10.0
STARTUP_POLL_S = 0.01
GRACEFUL_SHUTDOWN_S = 1

log = logging.getLogger(__name__)


class LayerConfig(BaseModel):
    """One layer as `/populate` takes it: a name, where it listens, what it fronts."""

    model_config = ConfigDict(extra="ignore")
    name: str
    listen: str
    upstream: str


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def layer_json(layer: Layer) -> dict[str, Any]:
    return {"name": layer.name, "listen": layer.listen, "upstream": layer.upstream,
            "faults": [a.rule.model_dump() for a in layer.rules],
            "stats": layer.stats.model_dump()}


class LayerSet:
    """Every layer of a server, by name."""

    def __init__(self) -> None:
        self.layers: dict[str, Layer] = {}

    def get(self, name: str) -> Layer:
        layer = self.layers.get(name)
        if layer is None:
            raise ApiError(404, f"layer not found: {name}")
        return layer

    async def populate(self, configs: list[LayerConfig]) -> list[Layer]:
        """Create or replace layers; one whose listen and upstream match stays."""
        out = []
        for config in configs:
            old = self.layers.get(config.name)
            if old is not None and (old.upstream, old.listen) == (config.upstream, config.listen):
                out.append(old)
                continue
            if old is not None:
                await old.close()
            layer = Layer(config.name, config.listen, config.upstream)
            try:
                await layer.start()
            except OSError as exc:
                raise ApiError(409, f"layer {config.name}: cannot listen on "
                                    f"{config.listen}: {exc}") from exc
            self.layers[config.name] = layer
            out.append(layer)
        return out

    def reset(self) -> None:
        for layer in self.layers.values():
            layer.reset()

    async def close(self) -> None:
        for layer in self.layers.values():
            await layer.close()
        self.layers.clear()


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError as exc:
        raise ApiError(400, f"bad request body: {exc}") from None


def create_app(layers: LayerSet) -> Starlette:
    """The control API over `layers`."""

    async def version(request: Request) -> Response:
        return JSONResponse({"version": API_VERSION})

    async def list_layers(request: Request) -> Response:
        return JSONResponse({n: layer_json(v) for n, v in layers.layers.items()})

    async def populate(request: Request) -> Response:
        body = await _json_body(request)
        try:
            configs = [LayerConfig.model_validate(c) for c in body]
        except (ValidationError, TypeError) as exc:
            raise ApiError(400, f"populate takes a list of {{name, listen, upstream}}: {exc}"
                           ) from None
        created = await layers.populate(configs)
        return JSONResponse({"layers": [layer_json(x) for x in created]}, status_code=201)

    async def show_layer(request: Request) -> Response:
        return JSONResponse(layer_json(layers.get(request.path_params["layer"])))

    async def list_faults(request: Request) -> Response:
        layer = layers.get(request.path_params["layer"])
        return JSONResponse([a.rule.model_dump() for a in layer.rules])

    async def add_fault(request: Request) -> Response:
        layer = layers.get(request.path_params["layer"])
        try:
            rule = FaultRule.model_validate(await _json_body(request))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "fault"
            raise ApiError(400, f"{where}: {first['msg'].removeprefix('Value error, ')}"
                           ) from None
        try:
            layer.add(rule)
        except HttpFaultError as exc:
            raise ApiError(409, str(exc)) from None
        return JSONResponse(rule.model_dump())

    async def show_fault(request: Request) -> Response:
        layer = layers.get(request.path_params["layer"])
        name = request.path_params["fault"]
        rule = next((a.rule for a in layer.rules if a.rule.name == name), None)
        if rule is None:
            raise ApiError(404, f"fault not found: {name}")
        return JSONResponse(rule.model_dump())

    async def remove_fault(request: Request) -> Response:
        layer = layers.get(request.path_params["layer"])
        try:
            rule = layer.remove(request.path_params["fault"])
        except KeyError:
            raise ApiError(404, f"fault not found: {request.path_params['fault']}") from None
        return JSONResponse(rule.model_dump())

    async def reset(request: Request) -> Response:
        layers.reset()
        return Response(status_code=204)

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return JSONResponse({"error": exc.message, "status": exc.status},
                            status_code=exc.status)

    return Starlette(routes=[
        Route("/version", version),
        Route("/reset", reset, methods=["POST"]),
        Route("/populate", populate, methods=["POST"]),
        Route("/layers", list_layers),
        Route("/layers/{layer}", show_layer),
        Route("/layers/{layer}/faults", list_faults),
        Route("/layers/{layer}/faults", add_fault, methods=["POST"]),
        Route("/layers/{layer}/faults/{fault}", show_fault),
        Route("/layers/{layer}/faults/{fault}", remove_fault, methods=["DELETE"]),
    ], exception_handlers={ApiError: api_error})


class _ApiServer(uvicorn.Server):
    # Signals belong to whoever runs the loop (run()): the layers close first.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(host: str, port: int, ready: threading.Event | None = None,
                bound: list[str] | None = None) -> None:
    """The API and its layers until cancelled; `bound` gets the API's address."""
    layers = LayerSet()
    try:
        sock = socket.create_server((host, port))
    except OSError as exc:
        raise ChaosError(f"cannot listen on {host}:{port}: {exc}; pick another --port") from exc
    api = _ApiServer(uvicorn.Config(create_app(layers), log_config=None, log_level="warning",
                                    access_log=False, lifespan="off",
                                    timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S))
    task = asyncio.get_running_loop().create_task(api.serve(sockets=[sock]))
    try:
        for _ in range(int(STARTUP_TIMEOUT_S / STARTUP_POLL_S)):
            if api.started or task.done():
                break
            await asyncio.sleep(STARTUP_POLL_S)
        if not api.started:
            raise ChaosError(f"the fault-layer API did not start on {host}:{port}")
        if bound is not None:
            name = sock.getsockname()
            bound.append(f"{name[0]}:{name[1]}")
        if ready is not None:
            ready.set()
        await asyncio.shield(task)
    finally:
        api.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(task), GRACEFUL_SHUTDOWN_S + 1)
        task.cancel()
        await layers.close()


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed: the layer's per-request cost is mostly the loop's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(host: str, port: int) -> None:
    """Blocking `serve`; SIGINT/SIGTERM stop it, layers closed."""

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await serve(host, port)

    with asyncio.Runner(loop_factory=_new_loop) as runner:
        runner.run(main())


class BackgroundLayers:
    """A layer server on its own thread (tests, benchmarks): `with BackgroundLayers() as s`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.url = ""
        self._ready = threading.Event()
        self._bound: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._main, name="httpfaults", daemon=True)
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT_S) or self._error is not None:
            raise ChaosError(f"the fault-layer server did not start: {self._error}")
        self.url = f"http://{self._bound[0]}"
        return self

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            await serve(self.host, self.port, self._ready, self._bound)

        try:
            with asyncio.Runner(loop_factory=_new_loop) as runner:
                runner.run(main())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # reported to start() on the caller's thread
            self._error = exc
        finally:
            self._ready.set()

    def stop(self) -> None:
        if self._loop is not None and self._task is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._task.cancel)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
