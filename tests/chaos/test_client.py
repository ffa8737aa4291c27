"""Our typed client: every endpoint, timeouts, and errors as ChaosError subclasses."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chaos.client import DEFAULT_URL, ProxyConfig, ToxiproxyClient
from chaos.errors import (
    BadRequestError,
    ChaosError,
    ConflictError,
    NotFoundError,
    ToxiproxyError,
    ToxiproxyUnavailableError,
)
from tests.chaos.helpers import EchoServer, connect, recv_exact, unique


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections but never answers."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock.getsockname()[1]


def test_proxy_lifecycle(client: ToxiproxyClient, echo: EchoServer) -> None:
    assert client.version().startswith("2.")
    assert client.is_running()
    name = unique("cl")
    created = client.create_proxy(name, echo.address)
    assert created.enabled and created.listen_port > 0
    assert client.proxy(name) == client.proxies()[name]
    assert client.disable_proxy(name).enabled is False
    assert client.enable_proxy(name).enabled is True
    moved = client.update_proxy(name, upstream=f"localhost:{echo.port}")
    assert moved.upstream == f"localhost:{echo.port}"
    with connect(moved.listen_port) as sock:
        sock.sendall(b"c")
        assert recv_exact(sock, 1) == b"c"
    stats = client.stats(name)
    assert stats is not None and stats.bytes_upstream == 1
    client.delete_proxy(name)
    with pytest.raises(NotFoundError) as caught:
        client.proxy(name)
    assert caught.value.status == 404 and "proxy not found" in caught.value.message


def test_toxic_lifecycle(client: ToxiproxyClient, echo: EchoServer) -> None:
    name = unique("cl")
    client.create_proxy(name, echo.address)
    try:
        toxic = client.add_toxic(name, "latency", {"latency": 10}, stream="upstream")
        assert toxic.name == "latency_upstream" and toxic.toxicity == 1.0
        assert client.toxic(name, toxic.name) == toxic
        updated = client.update_toxic(name, toxic.name, {"jitter": 3}, toxicity=0.5)
        assert updated.attributes == {"latency": 10, "jitter": 3} and updated.toxicity == 0.5
        assert client.toxics(name) == [updated]
        assert client.proxy(name).toxics == [updated]
        client.remove_toxic(name, toxic.name)
        assert client.toxics(name) == []
        with pytest.raises(NotFoundError):
            client.remove_toxic(name, toxic.name)
    finally:
        client.delete_proxy(name)


def test_populate(client: ToxiproxyClient, echo: EchoServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    a, b = unique("cl"), unique("cl")
    config: list[ProxyConfig | dict[str, Any]] = [
        ProxyConfig(name=a, upstream=echo.address, listen=f"127.0.0.1:{port}"),
        {"name": b, "upstream": echo.address, "enabled": False},
    ]
    first = client.populate(config)
    assert [p.name for p in first] == [a, b]
    again = client.populate(config[:1])
    assert again[0].listen == f"127.0.0.1:{port}"
    for name in (a, b):
        client.delete_proxy(name)


def test_errors_are_translated(client: ToxiproxyClient) -> None:
    name = unique("cl")
    client.create_proxy(name, "127.0.0.1:9")
    try:
        with pytest.raises(ConflictError) as conflict:
            client.create_proxy(name, "127.0.0.1:9")
        assert conflict.value.status == 409
        with pytest.raises(BadRequestError):
            client.add_toxic(name, "no_such_toxic")
        with pytest.raises(BadRequestError):
            client.add_toxic(name, "latency", {"latency": -1})
        with pytest.raises(ToxiproxyError):
            client.populate([{"name": "", "upstream": "x:1"}])
    finally:
        client.delete_proxy(name)
    assert issubclass(ToxiproxyError, ChaosError)


def test_unreachable_server_fails_fast() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with ToxiproxyClient(f"127.0.0.1:{port}", timeout_s=1.0) as dead:
        assert dead.url == f"http://127.0.0.1:{port}"
        assert not dead.is_running()
        with pytest.raises(ToxiproxyUnavailableError, match=r"python -m chaos\.toxiproxy"):
            dead.proxies()
        started = time.monotonic()
        with pytest.raises(ToxiproxyUnavailableError):
            dead.wait_ready(timeout_s=0.3)
        assert time.monotonic() - started < 3


def test_every_call_has_a_timeout(silent_port: int) -> None:
    with ToxiproxyClient(f"http://127.0.0.1:{silent_port}", timeout_s=0.3) as stuck:
        started = time.monotonic()
        with pytest.raises(ToxiproxyUnavailableError, match="in time"):
            stuck.reset()
        assert time.monotonic() - started < 3


def test_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOXIPROXY_URL", "http://10.1.2.3:8474/")
    with ToxiproxyClient() as env_client:
        assert env_client.url == "http://10.1.2.3:8474"
    monkeypatch.delenv("TOXIPROXY_URL")
    with ToxiproxyClient() as default_client:
        assert default_client.url == DEFAULT_URL


def test_update_falls_back_to_post_on_old_servers() -> None:
    methods: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        methods.append(request.method)
        if request.method == "PATCH":
            return httpx.Response(405, text="405 method not allowed")
        proxy = {"name": "p", "listen": "127.0.0.1:1", "upstream": "127.0.0.1:2", "enabled": False}
        return httpx.Response(200, json=proxy)

    with ToxiproxyClient("http://toxiproxy.test", transport=httpx.MockTransport(handler)) as old:
        proxy = old.disable_proxy("p")
    assert methods == ["PATCH", "POST"]
    assert proxy.enabled is False and proxy.stats is None  # a real Toxiproxy has no stats


def test_plain_text_version_of_old_servers() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="2.1.4\n"))
    with ToxiproxyClient("http://toxiproxy.test", transport=transport) as old:
        assert old.version() == "2.1.4"
