"""Running the server: the REST API (uvicorn) and the proxies on one event loop.

Library first: :class:`ToxiproxyServer` (async start/stop), :func:`serve`
(async, until cancelled), :func:`run` (blocking, for the CLI) and
:class:`BackgroundServer` (a thread of its own, for tests and local runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn

from chaos.errors import ChaosError, ToxiproxyError
from chaos.toxiproxy.api import create_app
from chaos.toxiproxy.collection import ProxyCollection
from chaos.toxiproxy.proxy import format_address

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "BackgroundServer",
    "ToxiproxyServer",
    "run",
    "serve",
]

RESOLVER_THREADS = 64

DEFAULT_HOST = "127.0.0.1"  # loopback only unless asked otherwise
DEFAULT_PORT = 8474  # upstream's port
STARTUP_TIMEOUT_S = 10.0
STARTUP_POLL_S = 0.01
SHUTDOWN_TIMEOUT_S = 5.0
# uvicorn waits this long for open API requests on shutdown.
GRACEFUL_SHUTDOWN_S = 1

logger = logging.getLogger(__name__)


class _ApiServer(uvicorn.Server):
    # Signals belong to whoever runs the loop (see run()), not to uvicorn:
    # uvicorn would otherwise re-raise them after shutdown and kill the process
    # before the proxies are closed.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _load_config(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ChaosError(f"cannot read proxy config {path}: {exc}") from exc


class ToxiproxyServer:
    """The API and its proxies, started and stopped on the running event loop."""

    def __init__(
        self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, config: Path | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.config = config
        self.collection = ProxyCollection()
        self._api: _ApiServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.address = ""

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    async def start(self) -> None:
        """Populate from ``config`` (like upstream's ``-config``), then serve the API."""
        if self.config is not None:
            try:
                await self.collection.populate(_load_config(self.config))
            except ToxiproxyError as exc:
                await self.collection.close()
                raise ChaosError(f"invalid proxy config {self.config}: {exc.message}") from exc
        try:
            sock = socket.create_server((self.host, self.port))
        except OSError as exc:
            await self.collection.close()
            raise ChaosError(
                f"cannot listen on {self.host}:{self.port}: {exc}; "
                "is another Toxiproxy running there? pick another --port"
            ) from exc
        self.address = format_address(sock.getsockname())
        config = uvicorn.Config(
            create_app(self.collection),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
        self._api = _ApiServer(config)
        self._task = asyncio.get_running_loop().create_task(self._api.serve(sockets=[sock]))
        for _ in range(int(STARTUP_TIMEOUT_S / STARTUP_POLL_S)):
            if self._api.started or self._task.done():
                break
            await asyncio.sleep(STARTUP_POLL_S)
        if not self._api.started:
            await self.stop()
            raise ChaosError(f"the Toxiproxy API did not start on {self.address}")
        logger.info("Toxiproxy API listening on %s", self.url)

    async def wait(self) -> None:
        """Until the API stops (``stop()`` or an error)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        """Stop the API, then every proxy and its connections."""
        if self._api is not None and self._task is not None:
            self._api.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._task), SHUTDOWN_TIMEOUT_S)
            if not self._task.done():
                self._task.cancel()
        await self.collection.close()


async def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    config: Path | None = None,
    *,
    ready: Callable[[ToxiproxyServer], None] | None = None,
) -> None:
    """Serve the API and proxies until cancelled; ``ready`` is called once listening."""
    server = ToxiproxyServer(host, port, config)
    await server.start()
    try:
        if ready is not None:
            ready(server)
        await server.wait()
    finally:
        await server.stop()


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (it comes with ``uvicorn[standard]``): ~2x the throughput."""
    try:
        import uvloop
    except ImportError:
        loop = asyncio.new_event_loop()
    else:
        loop = uvloop.new_event_loop()
    # Upstream names are resolved in the default executor; a few lookups of a
    # dead container's name that hang must not starve every other hop's dial.
    loop.set_default_executor(ThreadPoolExecutor(max_workers=RESOLVER_THREADS,
                                                 thread_name_prefix="resolve"))
    return loop


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    with asyncio.Runner(loop_factory=_new_loop) as runner:
        runner.run(main)


def run(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, config: Path | None = None) -> None:
    """Blocking :func:`serve`; SIGINT/SIGTERM stop it cleanly."""

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await serve(host, port, config)

    _run_loop(main())


class BackgroundServer:
    """A server on its own thread and event loop; ``with BackgroundServer() as s: s.url``.

    Port 0 (the default here) picks a free port for the API.
    """

    def __init__(self, host: str = DEFAULT_HOST, port: int = 0, config: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.config = config
        self.url = ""
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._main, name="toxiproxy-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT_S):
            raise ChaosError("the background Toxiproxy server did not start in time")
        if self._error is not None:
            raise ChaosError(f"the background Toxiproxy server failed: {self._error}")
        return self

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            await serve(self.host, self.port, self.config, ready=self._on_ready)

        try:
            _run_loop(main())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # reported to start() on the caller's thread
            self._error = exc
        finally:
            self._ready.set()

    def _on_ready(self, server: ToxiproxyServer) -> None:
        self.url = server.url
        self._ready.set()

    def stop(self) -> None:
        loop, task, thread = self._loop, self._task, self._thread
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(task.cancel)
        if thread is not None:
            thread.join(SHUTDOWN_TIMEOUT_S)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
