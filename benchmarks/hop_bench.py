"""What one hop costs in CPU: the client that makes it, the framework that serves it.

    python benchmarks/hop_bench.py [--requests 2000] [--json out.json]

- client: CPU per request of the hop client (targets/hop.py) and of httpx as the
  services used it before (one AsyncClient, a 256-connection pool), sequential
  GETs to 4 tiny servers (each its own process, raw ASGI under uvicorn with
  httptools and uvloop, as the services run), after a burst has left 0, 16 or 64
  connections in the pool: httpx scans its whole pool on every request.
- server: CPU per call of one POST handler in-process (no socket): as a FastAPI
  route with a body model, as a plain route on the same FastAPI app
  (targets.app.plain_route, as the services now are), and as bare ASGI.

CPU is this process's user+system time (resource.getrusage) over the timed loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvloop  # noqa: E402
from pydantic import BaseModel  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, Response  # noqa: E402

from targets.app import ServiceIdentity, create_app, plain_route  # noqa: E402
from targets.hop import HopClient, HopTimeout  # noqa: E402
from targets.payload import parse_model  # noqa: E402

SERVERS = 4
POOLED = (0, 16, 64)
READY_TIMEOUT_S = 20.0

# A tiny upstream: what auth answers, as bare ASGI under the services' server setup.
SERVER_CODE = """
import sys, uvicorn
BODY = b'{"tenant":"demo","user":"demo-user","key_id":"abc"}'
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]})
    await send({"type": "http.response.body", "body": BODY})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
            access_log=False, log_level="warning")
"""


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_servers() -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    ports = [free_port() for _ in range(SERVERS)]
    procs = [subprocess.Popen([sys.executable, "-c", SERVER_CODE, str(p)]) for p in ports]
    deadline = time.monotonic() + READY_TIMEOUT_S
    for port in ports:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"test server on {port} did not start") from None
                time.sleep(0.05)
    return procs, ports


async def _get(client: httpx.AsyncClient | HopClient, port: int) -> Any:
    return await client.get(f"http://127.0.0.1:{port}/x")


async def client_costs(ports: list[int], n: int) -> dict[str, dict[int, float]]:
    """µs of CPU per sequential request, by client and connections left in its pool."""
    out: dict[str, dict[int, float]] = {"hop": {}, "httpx": {}}
    for pooled in POOLED:
        for kind in out:
            client: httpx.AsyncClient | HopClient
            if kind == "httpx":
                client = httpx.AsyncClient(limits=httpx.Limits(
                    max_connections=256, max_keepalive_connections=256), trust_env=False)
            else:
                client = HopClient(HopTimeout(read_s=2.0, connect_s=1.0))
            send: Callable[[int], Awaitable[Any]] = partial(_get, client)
            if pooled:  # a burst opens this many connections; they stay in the pool
                await asyncio.gather(*(send(ports[i % len(ports)]) for i in range(pooled)))
            for i in range(n // 10):  # warm
                await send(ports[i % len(ports)])
            start = cpu_s()
            for i in range(n):
                await send(ports[i % len(ports)])
            out[kind][pooled] = (cpu_s() - start) * 1e6 / n
            await client.aclose()
    return out


class Verify(BaseModel):
    api_key: str
    tenant: str | None = None


def _apps() -> dict[str, Callable[..., Awaitable[None]]]:
    identity = ServiceIdentity("auth-1", "auth")
    routed = create_app(identity)

    @routed.post("/v1/verify", response_model=None)
    async def verify(body: Verify) -> dict[str, str]:
        return {"tenant": "demo", "user": "u", "key_id": body.api_key[:4]}

    plain = create_app(identity)

    @plain_route(plain, "POST", "/v1/verify")
    async def verify_plain(request: Request) -> Response:
        body = parse_model(await request.body(), Verify)
        return JSONResponse({"tenant": "demo", "user": "u", "key_id": body.api_key[:4]})

    async def bare(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        body = Verify.model_validate_json(message["body"])
        answer = json.dumps({"tenant": "demo", "user": "u", "key_id": body.api_key[:4]})
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": answer.encode()})

    return {"FastAPI route": routed, "plain route (FastAPI app)": plain, "bare ASGI": bare}


async def _call(app: Callable[..., Awaitable[None]], body: bytes) -> int:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v1/verify",
             "raw_path": b"/v1/verify", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2), "state": {}}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status = 0

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def server_costs(n: int) -> dict[str, float]:
    body = json.dumps({"api_key": "gck." + "x" * 100, "tenant": None}).encode()
    out = {}
    for name, app in _apps().items():
        for _ in range(n // 10):
            assert await _call(app, body) == 200
        start = cpu_s()
        for _ in range(n):
            await _call(app, body)
        out[name] = (cpu_s() - start) * 1e6 / n
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    procs, ports = start_servers()
    try:
        clients = uvloop.run(client_costs(ports, args.requests))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)
    servers = uvloop.run(server_costs(args.requests * 2))
    print(f"client: µs of CPU per hop request (sequential; load average "
          f"{os.getloadavg()[0]:.1f})")
    print(f"  {'connections in pool':<22}" + "".join(f"{p:>8}" for p in POOLED))
    for kind, by_pool in clients.items():
        print(f"  {kind:<22}" + "".join(f"{by_pool[p]:>8.0f}" for p in POOLED))
    print("server: µs of CPU per call of one POST handler, in-process")
    for name, us in servers.items():
        print(f"  {name:<28}{us:>8.0f}")
    if args.json:
        args.json.write_text(json.dumps({"client_us": clients, "server_us": servers},
                                        indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
