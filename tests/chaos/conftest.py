"""Fixtures: the built-in Toxiproxy server, real upstreams, and proxies to them.

Everything binds 127.0.0.1 on free ports; every socket has a timeout.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from chaos.client import Proxy, ToxiproxyClient
from chaos.errors import NotFoundError
from chaos.toxiproxy import BackgroundServer
from tests.chaos.helpers import EchoServer, HelloHandler, unique


@pytest.fixture(scope="session")
def toxiproxy() -> Iterator[BackgroundServer]:
    with BackgroundServer() as server:
        yield server


@pytest.fixture(scope="session")
def client(toxiproxy: BackgroundServer) -> Iterator[ToxiproxyClient]:
    with ToxiproxyClient(toxiproxy.url) as c:
        yield c


@pytest.fixture(scope="session")
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def http_upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), HelloHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(client: ToxiproxyClient, echo: EchoServer) -> Iterator[Proxy]:
    """A fresh proxy to the echo server, deleted afterwards."""
    created = client.create_proxy(unique("echo"), echo.address)
    yield created
    with contextlib.suppress(NotFoundError):
        client.delete_proxy(created.name)
