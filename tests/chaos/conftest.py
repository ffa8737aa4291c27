"""Fixtures: the built-in Toxiproxy server, real upstreams, and proxies to them.

Everything binds 127.0.0.1 on free ports; every socket has a timeout. With
GATECRASH_CONFORMANCE_BIN set to a real `toxiproxy-server`, the same tests run
against it instead (the conformance check of a real Toxiproxy: see
scripts/build-toxiproxy.sh).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from chaos.client import Proxy, ToxiproxyClient
from chaos.errors import NotFoundError
from chaos.toxiproxy import BackgroundServer
from tests.chaos.helpers import EchoServer, HelloHandler, unique


class RealToxiproxy:
    """A real Toxiproxy server process, with the `url` the tests use."""

    def __init__(self, binary: str) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([binary, "-host", "127.0.0.1", "-port", str(port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with ToxiproxyClient(self.url) as client:
            client.wait_ready()


@pytest.fixture(scope="session")
def toxiproxy() -> Iterator[BackgroundServer | RealToxiproxy]:
    binary = os.environ.get("GATECRASH_CONFORMANCE_BIN")
    if binary:
        real = RealToxiproxy(binary)
        try:
            yield real
        finally:
            real.proc.terminate()
            real.proc.wait(5)
        return
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
