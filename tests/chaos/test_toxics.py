"""Each toxic's measurable effect on real TCP traffic, as Toxiproxy 2.x documents it.

Tolerances are generous on purpose: the machine has 2 cores shared with other
work, so a bound says "the toxic acted", never "the scheduler was idle".
"""

from __future__ import annotations

import socket
import statistics
import time

import httpx
import pytest

from chaos.client import Proxy, ToxiproxyClient
from tests.chaos.helpers import connect, recv_all, recv_exact, unique

LATENCY_MS = 200
SLACK_S = 1.0  # upper bound slack for a busy machine


def roundtrip(sock: socket.socket, payload: bytes = b"ping") -> float:
    started = time.perf_counter()
    sock.sendall(payload)
    assert recv_exact(sock, len(payload)) == payload
    return time.perf_counter() - started


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_latency_adds_delay(client: ToxiproxyClient, proxy: Proxy, stream: str) -> None:
    with connect(proxy.listen_port) as sock:
        baseline = min(roundtrip(sock) for _ in range(3))
        client.add_toxic(proxy.name, "latency", {"latency": LATENCY_MS}, stream=stream)
        delayed = statistics.median(roundtrip(sock) for _ in range(3))
    assert baseline < SLACK_S / 2
    assert LATENCY_MS / 1000 * 0.95 <= delayed <= LATENCY_MS / 1000 + SLACK_S


def test_latency_jitter_spreads_delays(client: ToxiproxyClient, proxy: Proxy) -> None:
    client.add_toxic(proxy.name, "latency", {"latency": 100, "jitter": 50})
    with connect(proxy.listen_port) as sock:
        samples = [roundtrip(sock) for _ in range(8)]
    assert min(samples) >= 0.045
    assert max(samples) <= 0.15 + SLACK_S
    assert max(samples) - min(samples) > 0.01


def test_latency_on_http_requests(client: ToxiproxyClient, http_upstream: str) -> None:
    proxy = client.create_proxy(unique("http"), http_upstream)
    try:
        with httpx.Client(base_url=f"http://{proxy.listen}", timeout=5.0) as http:
            started = time.perf_counter()
            assert http.get("/").text == "hello"
            baseline = time.perf_counter() - started
            client.add_toxic(proxy.name, "latency", {"latency": LATENCY_MS})
            started = time.perf_counter()
            assert http.get("/").text == "hello"  # the same keep-alive connection
            delayed = time.perf_counter() - started
    finally:
        client.delete_proxy(proxy.name)
    assert baseline < SLACK_S
    assert delayed >= LATENCY_MS / 1000 * 0.95


def test_bandwidth_caps_throughput(client: ToxiproxyClient, proxy: Proxy) -> None:
    rate_kbps, size = 500, 250_000  # ~0.5 s at 500 KB/s (1 KB = 1000 bytes)
    client.add_toxic(proxy.name, "bandwidth", {"rate": rate_kbps})
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    with connect(proxy.listen_port, timeout=10) as sock:
        started = time.perf_counter()
        sock.sendall(payload)
        assert recv_exact(sock, size) == payload
        elapsed = time.perf_counter() - started
    assert size / elapsed <= rate_kbps * 1000 * 1.3
    assert elapsed <= size / (rate_kbps * 1000) + 3 * SLACK_S


def test_bandwidth_zero_means_unlimited(client: ToxiproxyClient, proxy: Proxy) -> None:
    client.add_toxic(proxy.name, "bandwidth", {"rate": 0})
    with connect(proxy.listen_port) as sock:
        assert roundtrip(sock, b"y" * 100_000) < SLACK_S


def test_timeout_zero_holds_data_forever(client: ToxiproxyClient, proxy: Proxy) -> None:
    client.add_toxic(proxy.name, "timeout", {"timeout": 0})
    with connect(proxy.listen_port, timeout=0.5) as sock:
        sock.sendall(b"lost")
        with pytest.raises(TimeoutError):
            sock.recv(10)  # no data, and no close either
        # Upstream's timeout toxic closes the connections it held when removed.
        client.remove_toxic(proxy.name, "timeout_downstream")
        sock.settimeout(5)
        assert recv_all(sock) == b""


def test_timeout_closes_after_delay(client: ToxiproxyClient, proxy: Proxy) -> None:
    client.add_toxic(proxy.name, "timeout", {"timeout": 300}, stream="upstream")
    started = time.perf_counter()
    with connect(proxy.listen_port) as sock:
        sock.sendall(b"dropped")
        try:
            data = recv_all(sock)
        except ConnectionResetError:
            data = b""
        elapsed = time.perf_counter() - started
    assert data == b""
    assert 0.25 <= elapsed <= 0.3 + SLACK_S


@pytest.mark.parametrize(("timeout_ms", "min_s"), [(0, 0.0), (200, 0.18)])
def test_reset_peer_resets(
    client: ToxiproxyClient, proxy: Proxy, timeout_ms: int, min_s: float
) -> None:
    client.add_toxic(proxy.name, "reset_peer", {"timeout": timeout_ms}, stream="upstream")
    with connect(proxy.listen_port) as sock:
        started = time.perf_counter()
        sock.sendall(b"boom")
        with pytest.raises(ConnectionResetError):
            sock.recv(10)
        elapsed = time.perf_counter() - started
    assert min_s <= elapsed <= min_s + SLACK_S


def test_limit_data_closes_after_n_bytes(client: ToxiproxyClient, proxy: Proxy) -> None:
    client.add_toxic(proxy.name, "limit_data", {"bytes": 100})
    with connect(proxy.listen_port) as sock:
        sock.sendall(bytes(300))
        assert len(recv_all(sock)) == 100


def test_limit_data_counts_across_writes(client: ToxiproxyClient, proxy: Proxy) -> None:
    client.add_toxic(proxy.name, "limit_data", {"bytes": 10})
    with connect(proxy.listen_port) as sock:
        assert roundtrip(sock, b"12345") < SLACK_S
        sock.sendall(b"6789abcdef")
        assert recv_all(sock) == b"6789a"


def test_slicer_slices_into_several_writes(client: ToxiproxyClient, proxy: Proxy) -> None:
    client.add_toxic(
        proxy.name, "slicer", {"average_size": 100, "size_variation": 20, "delay": 5000}
    )
    payload = bytes(range(256)) * 8  # 2048 bytes -> ~20 slices, 5 ms apart
    reads: list[bytes] = []
    with connect(proxy.listen_port) as sock:
        sock.sendall(payload)
        while sum(map(len, reads)) < len(payload):
            data = sock.recv(65536)
            assert data
            reads.append(data)
    assert b"".join(reads) == payload
    assert len(reads) >= 5
    assert statistics.median(map(len, reads)) <= 240


def test_slow_close_delays_the_close(client: ToxiproxyClient, proxy: Proxy) -> None:
    client.add_toxic(proxy.name, "slow_close", {"delay": 300})
    with connect(proxy.listen_port) as sock:
        assert roundtrip(sock) < SLACK_S
        sock.shutdown(socket.SHUT_WR)
        started = time.perf_counter()
        assert recv_all(sock) == b""
        elapsed = time.perf_counter() - started
    assert 0.28 <= elapsed <= 0.3 + SLACK_S


def _affected(client: ToxiproxyClient, proxy: Proxy, connections: int, latency_s: float) -> int:
    count = 0
    for _ in range(connections):
        with connect(proxy.listen_port) as sock:
            count += roundtrip(sock) >= latency_s * 0.95
    return count


def test_toxicity_zero_and_one(client: ToxiproxyClient, proxy: Proxy) -> None:
    client.add_toxic(proxy.name, "latency", {"latency": 300}, toxicity=0.0)
    assert _affected(client, proxy, 5, 0.3) == 0
    client.update_toxic(proxy.name, "latency_downstream", toxicity=1.0)
    assert _affected(client, proxy, 5, 0.3) == 5


def test_toxicity_half_is_a_per_connection_probability(
    client: ToxiproxyClient, proxy: Proxy
) -> None:
    client.add_toxic(proxy.name, "latency", {"latency": 100}, toxicity=0.5)
    connections = 40
    affected = _affected(client, proxy, connections, 0.1)
    # Binomial(40, 0.5): P(outside [8, 32]) < 1e-4.
    assert 8 <= affected <= 32
