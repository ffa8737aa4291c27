"""The HTTP fault layer's added latency, against the TCP proxy alone, in one run.

    python benchmarks/httpfault_bench.py [--requests 2000] [--events 200] [--json out.json]

Two paths to the same upstream on 127.0.0.1, each through the built-in
Toxiproxy server (as every hop of a stack):
- tcp:   client -> Toxiproxy -> upstream
- layer: client -> Toxiproxy -> fault layer (no fault, and one rule that never
         matches, so a selector is checked per request) -> upstream
Measured: small keep-alive requests (added p50/p99 per request, goal <= 0.2 ms
p50) and SSE streams of `--events` chunked events sent at once (added time per
event = difference of whole-stream times / events). The proxy server, the layer
server and the upstream each run in their own process, as in a stack; samples
of the two paths are interleaved so that a background blip hits both.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import socket
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chaos.client import ToxiproxyClient  # noqa: E402
from chaos.httpfaults import FaultRule, HttpFaultsClient, LayerConfig, Selector  # noqa: E402

GOAL_P50_MS = 0.2
SMALL_BODY = b'{"ok": true}'
EVENT = b'data: {"choices": [{"delta": {"content": "token "}}]}\n\n'
WARMUP = 200
STREAM_ROUNDS = 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _upstream(port: int) -> None:
    """A tiny HTTP/1.1 server: /small answers a small JSON body, /sse?n=N streams N
    events in chunked encoding then [DONE]."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1]
                if target.startswith(b"/sse"):
                    n = int(target.split(b"n=", 1)[1])
                    chunk = b"%x\r\n%b\r\n" % (len(EVENT), EVENT)
                    done = b"data: [DONE]\n\n"
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                                 b"transfer-encoding: chunked\r\n\r\n" + chunk * n
                                 + b"%x\r\n%b\r\n0\r\n\r\n" % (len(done), done))
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                 b"content-length: %d\r\n\r\n%b" % (len(SMALL_BODY), SMALL_BODY))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        await server.serve_forever()

    import uvloop

    uvloop.run(main())


def _timed(conn: http.client.HTTPConnection, path: str) -> float:
    t0 = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    return (time.perf_counter() - t0) * 1000


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run(requests: int, events: int) -> dict[str, Any]:
    up_port, tp_port, hf_port = _free_port(), _free_port(), _free_port()
    with ExitStack() as stack:
        upstream = multiprocessing.Process(target=_upstream, args=(up_port,), daemon=True)
        upstream.start()
        stack.callback(upstream.terminate)
        for module, port in (("chaos.toxiproxy", tp_port), ("chaos.httpfaults", hf_port)):
            proc = subprocess.Popen([sys.executable, "-m", module, "--port", str(port)],
                                    cwd=ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            stack.callback(proc.wait, 5)
            stack.callback(proc.terminate)
        toxiproxy = stack.enter_context(ToxiproxyClient(f"http://127.0.0.1:{tp_port}"))
        layers = stack.enter_context(HttpFaultsClient(f"http://127.0.0.1:{hf_port}"))
        toxiproxy.wait_ready()
        layers.wait_ready()
        layer = layers.populate([LayerConfig(name="up", listen="127.0.0.1:0",
                                             upstream=f"127.0.0.1:{up_port}")])[0]
        layers.add_fault("up", FaultRule(name="never", type="abort",
                                         match=Selector(path="/never/*")))
        tcp = toxiproxy.create_proxy("tcp", f"127.0.0.1:{up_port}")
        via_layer = toxiproxy.create_proxy("layer", layer.listen)
        conns = {name: http.client.HTTPConnection(*p.listen.rsplit(":", 1))
                 for name, p in (("tcp", tcp), ("layer", via_layer))}
        small: dict[str, list[float]] = {"tcp": [], "layer": []}
        for i in range(WARMUP + requests):
            for name, conn in conns.items():
                ms = _timed(conn, "/small")
                if i >= WARMUP:
                    small[name].append(ms)
        sse: dict[str, list[float]] = {"tcp": [], "layer": []}
        for _ in range(STREAM_ROUNDS):
            for name, conn in conns.items():
                sse[name].append(_timed(conn, f"/sse?n={events}"))
        counted = layers.layer("up").faults[0].counters.matched
    added = {q: _percentile(small["layer"], q) - _percentile(small["tcp"], q) for q in (50, 99)}
    per_event_us = (statistics.median(sse["layer"]) - statistics.median(sse["tcp"])) \
        / events * 1000
    return {
        "requests": requests, "events_per_stream": events, "streams": STREAM_ROUNDS,
        "tcp_p50_ms": _percentile(small["tcp"], 50),
        "layer_p50_ms": _percentile(small["layer"], 50),
        "tcp_p99_ms": _percentile(small["tcp"], 99),
        "layer_p99_ms": _percentile(small["layer"], 99),
        "added_p50_ms": added[50], "added_p99_ms": added[99],
        "stream_tcp_median_ms": statistics.median(sse["tcp"]),
        "stream_layer_median_ms": statistics.median(sse["layer"]),
        "added_per_event_us": per_event_us,
        "goal_p50_ms": GOAL_P50_MS, "goal_met": added[50] <= GOAL_P50_MS,
        "selector_never_matched": counted == 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = run(args.requests, args.events)
    for key, value in result.items():
        print(f"{key:>24}: {value:.4g}" if isinstance(value, float) else f"{key:>24}: {value}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
