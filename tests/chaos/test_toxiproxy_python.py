"""The PyPI client ``toxiproxy-python`` drives the built-in server end to end."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import NotFound, ProxyExists

from chaos.toxiproxy import BackgroundServer
from tests.chaos.helpers import unique

LATENCY_MS = 200


@pytest.fixture
def upstream_client(toxiproxy: BackgroundServer) -> Iterator[Toxiproxy]:
    """The library keeps host/port as class attributes: point them at our server."""
    saved = APIConsumer.host, APIConsumer.port
    url = urlsplit(toxiproxy.url)
    server = Toxiproxy()
    server.update_api_consumer(url.hostname, url.port)
    yield server
    APIConsumer.host, APIConsumer.port = saved


def get_time(http: httpx.Client) -> float:
    started = time.perf_counter()
    assert http.get("/").text == "hello"
    return time.perf_counter() - started


def test_toxiproxy_python_end_to_end(upstream_client: Toxiproxy, http_upstream: str) -> None:
    server = upstream_client
    assert server.running()
    assert b"version" in server.version()

    name = unique("tp")
    proxy = server.create(upstream=http_upstream, name=name, listen="127.0.0.1:0")
    assert proxy.enabled is True and not proxy.listen.endswith(":0")
    with pytest.raises(ProxyExists):
        server.create(upstream=http_upstream, name=name)
    assert name in server.proxies()
    assert server.get_proxy(name).listen == proxy.listen

    with httpx.Client(base_url=f"http://{proxy.listen}", timeout=5.0) as http:
        assert get_time(http) < 0.2
        proxy.add_toxic(type="latency", attributes={"latency": LATENCY_MS})
        toxic = proxy.get_toxic("latency_downstream")
        assert toxic.attributes["latency"] == LATENCY_MS and toxic.stream == "downstream"
        assert get_time(http) >= LATENCY_MS / 1000 * 0.95
        assert proxy.destroy_toxic("latency_downstream")
        assert proxy.toxics() == {}
        assert get_time(http) < 0.2

    with proxy.down():
        assert server.get_proxy(name).enabled is False
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", int(proxy.listen.rsplit(":", 1)[1])), 1)
    assert server.get_proxy(name).enabled is True

    proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 0})
    assert server.reset()
    assert server.get_proxy(name).toxics() == {}

    assert server.destroy(proxy)
    assert server.get_proxy(name) is None
    with pytest.raises(NotFound):
        proxy.destroy()


def test_toxiproxy_python_populate(upstream_client: Toxiproxy, http_upstream: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = [{"name": unique("tp"), "upstream": http_upstream, "listen": f"127.0.0.1:{port}"}]
    created = upstream_client.populate(config)
    assert [p.name for p in created] == [config[0]["name"]]
    assert upstream_client.populate(config) == []  # unchanged: nothing recreated
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as http:
        assert http.get("/").text == "hello"
    upstream_client.destroy(created[0])
