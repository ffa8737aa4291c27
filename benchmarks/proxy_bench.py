"""The built-in Toxiproxy server's own cost, against a direct connection, in one run.

    python benchmarks/proxy_bench.py [--requests 2000] [--mb 512] [--json out.json]

Measures, on 127.0.0.1:
- latency of small keep-alive HTTP requests, sent one after another, to a tiny
  HTTP server: direct, through one proxy, through two chained proxies; the
  added p50/p99 per hop;
- throughput of a large transfer (client -> server and server -> client),
  direct and through one proxy, in MB/s (1 MB = 10^6 bytes).

The proxy server runs as its own process (``python -m chaos.toxiproxy``), as
in a real run, and so do the upstream servers, so the client's GIL does not
share a core with either. Direct and proxied samples are interleaved in
rounds so that a background blip hits both.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from chaos.client import ToxiproxyClient  # noqa: E402

GOAL_ADDED_P50_MS = 0.3
GOAL_THROUGHPUT_MBPS = 200.0
WARMUP_REQUESTS = 200
ROUNDS = 10
CHUNK = 1024 * 1024
SOCKET_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 20.0
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: keep-alive\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
ACK = b"done"


# -- upstream servers (own process) ------------------------------------------


def _serve_http(conn: socket.socket) -> None:
    """Answer each GET on a keep-alive connection with a fixed tiny response."""
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = b""
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buffer += data
            while (end := buffer.find(b"\r\n\r\n")) >= 0:
                buffer = buffer[end + 4 :]
                conn.sendall(RESPONSE)


def _serve_bulk(conn: socket.socket) -> None:
    """First 9 bytes: b"u" + size (read size bytes, then ack) or b"d" + size (send them)."""
    with conn:
        header = _recv_exact(conn, 9)
        size = int.from_bytes(header[1:], "big")
        if header[:1] == b"u":
            _drain(conn, size)
            conn.sendall(ACK)
        else:
            _pour(conn, size)
            _recv_exact(conn, len(ACK))


def _accept_forever(server: socket.socket, handler: Callable[[socket.socket], None]) -> None:
    while True:
        conn, _ = server.accept()
        threading.Thread(target=handler, args=(conn,), daemon=True).start()


def _upstreams(ports: Queue[tuple[int, int]]) -> None:
    http = socket.create_server(("127.0.0.1", 0))
    bulk = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=_accept_forever, args=(bulk, _serve_bulk), daemon=True).start()
    ports.put((http.getsockname()[1], bulk.getsockname()[1]))
    _accept_forever(http, _serve_http)


# -- client side --------------------------------------------------------------


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    parts = []
    while size:
        data = sock.recv(size)
        if not data:
            raise ConnectionError("connection closed early")
        parts.append(data)
        size -= len(data)
    return b"".join(parts)


def _drain(sock: socket.socket, size: int) -> None:
    buffer = memoryview(bytearray(CHUNK))
    while size:
        received = sock.recv_into(buffer, min(size, CHUNK))
        if not received:
            raise ConnectionError("connection closed early")
        size -= received


def _pour(sock: socket.socket, size: int) -> None:
    buffer = memoryview(bytes(CHUNK))
    while size:
        step = min(size, CHUNK)
        sock.sendall(buffer[:step])
        size -= step


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _request_times(sock: socket.socket, count: int) -> list[float]:
    """Sequential keep-alive requests; each sample in milliseconds."""
    samples = []
    size = len(RESPONSE)
    clock = time.perf_counter
    for _ in range(count):
        started = clock()
        sock.sendall(REQUEST)
        if _recv_exact(sock, size) != RESPONSE:
            raise RuntimeError("unexpected HTTP response")
        samples.append((clock() - started) * 1000)
    return samples


def _transfer_mbps(port: int, size: int, direction: str) -> float:
    with _connect(port) as sock:
        started = time.perf_counter()
        sock.sendall(direction.encode() + size.to_bytes(8, "big"))
        if direction == "u":
            _pour(sock, size)
            _recv_exact(sock, len(ACK))
        else:
            _drain(sock, size)
            sock.sendall(ACK)
        elapsed = time.perf_counter() - started
    return size / elapsed / 1e6


def _percentile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=1000, method="inclusive")[int(q * 10) - 1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(requests: int, megabytes: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    ports: Queue[tuple[int, int]] = ctx.Queue()
    upstream = ctx.Process(target=_upstreams, args=(ports,), daemon=True)
    upstream.start()
    api_port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chaos.toxiproxy",
            "--port",
            str(api_port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
    )
    with ExitStack() as cleanup:
        cleanup.callback(upstream.terminate)
        cleanup.callback(server.wait, 10)
        cleanup.callback(server.terminate)
        http_port, bulk_port = ports.get(timeout=READY_TIMEOUT_S)
        client = cleanup.enter_context(ToxiproxyClient(f"http://127.0.0.1:{api_port}"))
        client.wait_ready(READY_TIMEOUT_S)
        hop1 = client.create_proxy("bench_http", f"127.0.0.1:{http_port}")
        hop2 = client.create_proxy("bench_http_2", hop1.listen)
        bulk = client.create_proxy("bench_bulk", f"127.0.0.1:{bulk_port}")

        paths = {"direct": http_port, "proxy": hop1.listen_port, "proxy_2hops": hop2.listen_port}
        socks = {name: cleanup.enter_context(_connect(port)) for name, port in paths.items()}
        for sock in socks.values():
            _request_times(sock, WARMUP_REQUESTS)
        samples: dict[str, list[float]] = {name: [] for name in paths}
        per_round = max(requests // ROUNDS, 1)
        proxy_process = psutil.Process(server.pid)
        cpu_before = sum(proxy_process.cpu_times()[:2])
        for _ in range(ROUNDS):
            for name, sock in socks.items():
                samples[name].extend(_request_times(sock, per_round))
        cpu_s = sum(proxy_process.cpu_times()[:2]) - cpu_before
        # One hop per proxied request, two per chained one.
        hop_requests = len(samples["proxy"]) + 2 * len(samples["proxy_2hops"])

        size = megabytes * 1_000_000
        transfer: dict[str, dict[str, float]] = {}
        for direction, label in (("u", "upload"), ("d", "download")):
            transfer[label] = {
                "direct": _transfer_mbps(bulk_port, size, direction),
                "proxy": _transfer_mbps(bulk.listen_port, size, direction),
            }
        stats = client.stats("bench_bulk")

    latency = {
        name: {
            "p50_ms": statistics.median(values),
            "p99_ms": _percentile(values, 99),
            "mean_ms": statistics.fmean(values),
            "requests": len(values),
        }
        for name, values in samples.items()
    }
    direct = latency["direct"]
    added = {
        "p50_ms_1hop": latency["proxy"]["p50_ms"] - direct["p50_ms"],
        "p99_ms_1hop": latency["proxy"]["p99_ms"] - direct["p99_ms"],
        "p50_ms_per_hop_2hops": (latency["proxy_2hops"]["p50_ms"] - direct["p50_ms"]) / 2,
        "p99_ms_per_hop_2hops": (latency["proxy_2hops"]["p99_ms"] - direct["p99_ms"]) / 2,
        # CPU the proxy process spent per request and hop: its own cost,
        # whatever the scheduler of a busy machine adds on top.
        "proxy_cpu_ms_per_hop": cpu_s * 1000 / hop_requests,
    }
    return {
        "latency": latency,
        "added_per_hop": added,
        "throughput_mbps": transfer,
        "transfer_mb": megabytes,
        "proxy_stats": None if stats is None else stats.model_dump(),
        "goals": {
            "added_p50_ms_per_hop_max": GOAL_ADDED_P50_MS,
            "throughput_mbps_min": GOAL_THROUGHPUT_MBPS,
            "added_p50_met": added["p50_ms_1hop"] <= GOAL_ADDED_P50_MS,
            "throughput_met": min(t["proxy"] for t in transfer.values()) >= GOAL_THROUGHPUT_MBPS,
        },
        "environment": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg_1m": os.getloadavg()[0],
        },
    }


def print_table(result: dict[str, Any]) -> None:
    latency, added = result["latency"], result["added_per_hop"]
    print(f"{'':28}{'direct':>12}{'proxy (1 hop)':>16}{'proxy (2 hops)':>16}")
    for key, label in (("p50_ms", "p50 latency (ms)"), ("p99_ms", "p99 latency (ms)")):
        row = [latency[name][key] for name in ("direct", "proxy", "proxy_2hops")]
        print(f"{label:28}{row[0]:>12.3f}{row[1]:>16.3f}{row[2]:>16.3f}")
    print(
        f"{'added p50 per hop (ms)':28}{'':>12}{added['p50_ms_1hop']:>16.3f}"
        f"{added['p50_ms_per_hop_2hops']:>16.3f}"
    )
    print(
        f"{'added p99 per hop (ms)':28}{'':>12}{added['p99_ms_1hop']:>16.3f}"
        f"{added['p99_ms_per_hop_2hops']:>16.3f}"
    )
    print(f"{'proxy CPU per hop (ms)':28}{'':>12}{added['proxy_cpu_ms_per_hop']:>16.3f}")
    ratio = latency["proxy"]["p50_ms"] / latency["direct"]["p50_ms"]
    print(f"{'p50 ratio proxy/direct':28}{'':>12}{ratio:>16.2f}")
    print()
    print(f"{'throughput (MB/s)':28}{'direct':>12}{'proxy':>16}{'ratio':>16}")
    for label, values in result["throughput_mbps"].items():
        name = f"{label} {result['transfer_mb']} MB"
        ratio = values["proxy"] / values["direct"]
        print(f"{name:28}{values['direct']:>12.0f}{values['proxy']:>16.0f}{ratio:>16.2f}")
    goals = result["goals"]
    print()
    print(
        f"goal added p50 <= {goals['added_p50_ms_per_hop_max']} ms/hop: "
        f"{'met' if goals['added_p50_met'] else 'NOT met'}; "
        f"goal >= {goals['throughput_mbps_min']:.0f} MB/s: "
        f"{'met' if goals['throughput_met'] else 'NOT met'} "
        f"(load average {result['environment']['load_avg_1m']:.1f}, "
        f"{result['environment']['cpus']} CPUs)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="requests per path")
    parser.add_argument("--mb", type=int, default=512, help="size of each large transfer, MB")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    result = run(args.requests, args.mb)
    print_table(result)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
