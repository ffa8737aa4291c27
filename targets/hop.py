"""The HTTP/1.1 client of the hops between services.

Keep-alive connections per upstream address, parsed by httptools (the parser
uvicorn already uses), written as an asyncio protocol: no per-request task,
no scan of the pool, no cookie or redirect machinery. Measured against httpx
in docs/performance.md: a hop costs the caller about a tenth of the CPU.

It speaks only what the hops need: plain `http://` to a service of the stack,
request bodies given whole, responses read whole or streamed (`aiter_raw`).

The connection, the answers read from it and the errors of a hop are in
`targets.connection`; this module holds the pool and writes the requests.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from targets.connection import Connection, HopConnectError, HopResponse, wait_at_most

__all__ = ["HopClient", "HopTimeout"]

# Idle connections are dropped before the server's keep-alive timeout
# (uvicorn's is 5 s) would close them under a request being written.
IDLE_EXPIRY_S = 4.0
MAX_IDLE_PER_ORIGIN = 128
_NO_BODY_METHODS = frozenset({"GET", "DELETE", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class HopTimeout:
    """`read_s` bounds every wait for data (the first byte, then each gap)."""

    read_s: float
    connect_s: float


def _split_url(url: str) -> tuple[str, str]:
    """`http://host:port/path?q` → (`host:port`, `/path?q`)."""
    if not url.startswith("http://"):
        raise ValueError(f"hops speak plain http://, not {url!r}")
    origin, slash, target = url[7:].partition("/")
    return origin, slash + target if slash else "/"


class HopClient:
    """One per process: pooled keep-alive connections to every upstream address."""

    def __init__(self, timeout: HopTimeout, *,
                 max_idle_per_origin: int = MAX_IDLE_PER_ORIGIN) -> None:
        self.timeout = timeout
        self.max_idle_per_origin = max_idle_per_origin
        self._idle: dict[str, list[Connection]] = {}
        self._open: set[Connection] = set()

    async def request(self, method: str, url: str, *, content: bytes | None = None,
                      json: Any = None, headers: Mapping[str, str] | None = None,
                      query: str = "", timeout: HopTimeout | float | None = None,
                      stream: bool = False) -> HopResponse:
        """Send one request. With `stream=True` the body is left to the caller,
        who must read it to its end or `aclose()` the response."""
        timeouts = (self.timeout if timeout is None else timeout
                    if isinstance(timeout, HopTimeout) else HopTimeout(timeout, timeout))
        origin, target = _split_url(url)
        if query:
            target = f"{target}?{query}"
        data = _encode(method, origin, target, content, json, headers)
        conn = await self._checkout(origin, timeouts.connect_s)
        try:
            response = await wait_at_most(conn.loop, conn.start(data, timeouts.read_s),
                                          timeouts.read_s, origin)
            if not stream:
                await response.aread()
        except BaseException:
            conn.close()
            raise
        return response

    async def get(self, url: str, *, timeout: HopTimeout | float | None = None) -> HopResponse:
        return await self.request("GET", url, timeout=timeout)

    async def aclose(self) -> None:
        for conn in list(self._open):
            conn.close()
        self._idle.clear()

    # -- the pool ------------------------------------------------------------
    async def _checkout(self, origin: str, connect_s: float) -> Connection:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if (not conn.closed and now - conn.idle_since < IDLE_EXPIRY_S
                    and conn.transport is not None and not conn.transport.is_closing()):
                return conn
            conn.close()
        host, _, port = origin.rpartition(":")
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: Connection(self, origin, loop), host, int(port)),
                connect_s)
        except (OSError, TimeoutError) as exc:
            raise HopConnectError(f"{origin}: cannot connect "
                                  f"({type(exc).__name__}: {exc})") from exc
        self._open.add(conn)
        return conn

    def keep(self, conn: Connection) -> None:
        idle = self._idle.setdefault(conn.origin, [])
        if len(idle) >= self.max_idle_per_origin:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    def forget(self, conn: Connection) -> None:
        self._open.discard(conn)


def _encode(method: str, origin: str, target: str, content: bytes | None, json: Any,
            headers: Mapping[str, str] | None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1\r\nhost: {origin}\r\n"]
    if json is not None:
        content = jsonlib.dumps(json, separators=(",", ":"), ensure_ascii=False).encode()
        if headers is None or not any(k.lower() == "content-type" for k in headers):
            lines.append("content-type: application/json\r\n")
    if headers:
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r} holds a line break")
            lines.append(f"{name}: {value}\r\n")
    if content or method not in _NO_BODY_METHODS:
        lines.append(f"content-length: {len(content or b'')}\r\n")
    lines.append("\r\n")
    head = "".join(lines).encode("latin-1")
    return head + content if content else head
