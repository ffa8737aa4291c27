"""Changes applied to live connections: enable/disable, toxics added and removed."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from chaos.client import Proxy, ToxiproxyClient
from tests.chaos.helpers import connect, recv_exact

STREAM_BYTES = 2 * 1024 * 1024
PIECE = 16 * 1024
CHURN_S = 1.5


def _closed(sock: socket.socket) -> bool:
    """True once the peer closed (EOF or reset) within the socket timeout."""
    try:
        return sock.recv(10) == b""
    except ConnectionResetError:
        return True


def test_disable_closes_live_connections_and_listener(
    client: ToxiproxyClient, proxy: Proxy
) -> None:
    with connect(proxy.listen_port, timeout=3) as sock:
        sock.sendall(b"hi")
        assert recv_exact(sock, 2) == b"hi"
        started = time.perf_counter()
        disabled = client.disable_proxy(proxy.name)
        assert disabled.enabled is False
        assert _closed(sock)
        assert time.perf_counter() - started < 2
    with pytest.raises(ConnectionRefusedError):
        connect(proxy.listen_port)
    assert client.stats(proxy.name).connections_active == 0  # type: ignore[union-attr]
    client.enable_proxy(proxy.name)
    with connect(proxy.listen_port) as sock:
        sock.sendall(b"back")
        assert recv_exact(sock, 4) == b"back"


def test_delete_closes_live_connections(client: ToxiproxyClient, proxy: Proxy) -> None:
    with connect(proxy.listen_port, timeout=3) as sock:
        sock.sendall(b"hi")
        assert recv_exact(sock, 2) == b"hi"
        client.delete_proxy(proxy.name)
        assert _closed(sock)


def test_toxic_added_and_removed_on_a_live_connection(
    client: ToxiproxyClient, proxy: Proxy
) -> None:
    with connect(proxy.listen_port) as sock:

        def rtt() -> float:
            started = time.perf_counter()
            sock.sendall(b"ping")
            assert recv_exact(sock, 4) == b"ping"
            return time.perf_counter() - started

        # Under load a plain round trip can take a while: keep the toxics large.
        fast, slow = 0.3, 0.4
        assert rtt() < fast
        client.add_toxic(proxy.name, "latency", {"latency": 400})
        assert rtt() >= slow * 0.95
        client.update_toxic(proxy.name, "latency_downstream", {"latency": 100})
        assert 0.095 <= rtt() < slow
        client.remove_toxic(proxy.name, "latency_downstream")
        assert rtt() < fast
        client.add_toxic(proxy.name, "latency", {"latency": 400}, stream="upstream")
        assert rtt() >= slow * 0.95
        client.reset()
        assert rtt() < fast


def test_removing_a_toxic_mid_delay_delivers_held_data(
    client: ToxiproxyClient, proxy: Proxy
) -> None:
    client.add_toxic(proxy.name, "latency", {"latency": 5000})
    with connect(proxy.listen_port) as sock:
        sock.sendall(b"held")
        time.sleep(0.2)  # the chunk is now inside the latency toxic
        started = time.perf_counter()
        client.remove_toxic(proxy.name, "latency_downstream")
        assert recv_exact(sock, 4) == b"held"
        assert time.perf_counter() - started < 2


def test_no_data_lost_while_toxics_churn(client: ToxiproxyClient, proxy: Proxy) -> None:
    pattern = bytes(range(251)) * (STREAM_BYTES // 251 + 1)
    payload = pattern[:STREAM_BYTES]
    received = bytearray()
    with connect(proxy.listen_port, timeout=10) as sock:

        def send() -> None:
            with contextlib.suppress(OSError):
                for offset in range(0, len(payload), PIECE):
                    sock.sendall(payload[offset : offset + PIECE])
                    time.sleep(0.001)

        def receive() -> None:
            with contextlib.suppress(OSError):
                while len(received) < len(payload):
                    data = sock.recv(65536)
                    if not data:
                        return
                    received.extend(data)

        threads = [threading.Thread(target=send), threading.Thread(target=receive)]
        for thread in threads:
            thread.start()
        toxics = [
            ("latency", {"latency": 5, "jitter": 2}),
            ("slicer", {"average_size": 2000, "size_variation": 500, "delay": 0}),
            ("bandwidth", {"rate": 20_000}),
            ("noop", {}),
        ]
        deadline = time.monotonic() + CHURN_S
        rounds = 0
        while time.monotonic() < deadline:
            for stream in ("upstream", "downstream"):
                for kind, attributes in toxics:
                    client.add_toxic(proxy.name, kind, attributes, stream=stream)
            client.update_toxic(proxy.name, "latency_downstream", {"latency": 1})
            client.update_toxic(proxy.name, "slicer_upstream", toxicity=0.0)
            for stream in ("upstream", "downstream"):
                for kind, _ in reversed(toxics):
                    client.remove_toxic(proxy.name, f"{kind}_{stream}")
            rounds += 1
        for thread in threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in threads)
    assert rounds >= 2
    assert len(received) == len(payload)
    assert bytes(received) == payload
