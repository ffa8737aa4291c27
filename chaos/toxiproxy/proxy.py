"""A proxy: one listener, its live connections, its toxics and counters.

Mirrors upstream's ``proxy.go``: accept a client, dial the upstream, and join
the two sockets with two links (upstream: client -> server, downstream:
server -> client). Disabling the proxy closes the listener and every live
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import struct
import time
from typing import Any, cast

from chaos.errors import ToxiproxyError
from chaos.toxiproxy.link import ByteCounter, Link
from chaos.toxiproxy.toxics import Chunk
from chaos.toxiproxy.wrapper import Stream, Toxic

__all__ = ["Proxy", "ProxyStats", "format_address", "split_address"]

# Upstream dials without a deadline; a dead upstream should fail a client in
# bounded time instead of holding its socket open for the OS default (~2 min).
CONNECT_TIMEOUT_S = 10.0
# Transport write buffer: large enough that a 256 KiB read is written without
# pausing the source on every chunk, small enough to bound memory per socket.
WRITE_HIGH_WATER = 1024 * 1024
WRITE_LOW_WATER = 256 * 1024
LISTEN_BACKLOG = 1024
# SO_LINGER on, 0 s: close() sends RST instead of FIN (reset_peer).
_LINGER_RESET = struct.pack("ii", 1, 0)

logger = logging.getLogger(__name__)


def split_address(address: str, *, what: str) -> tuple[str, int]:
    """``host:port`` / ``[v6]:port`` -> (host, port); a 400 error names ``what``."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ToxiproxyError(400, f"invalid {what} address {address!r}: expected host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port_text)


def format_address(sockname: Any) -> str:
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclasses.dataclass(frozen=True, slots=True)
class ProxyStats:
    """Counters proving that traffic went (or still goes) through a proxy."""

    connections_total: int
    connections_active: int
    connect_errors: int
    bytes_upstream: int
    bytes_downstream: int

    def to_json(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class _Side(asyncio.Protocol):
    """One socket of a connection: it feeds ``outbound`` and is written by ``inbound``."""

    def __init__(self, conn: _Connection | None, proxy: Proxy) -> None:
        self.conn = conn
        self.proxy = proxy
        self.transport: asyncio.Transport | None = None
        self.outbound: Link | None = None
        self.inbound: Link | None = None
        # Data that arrived before the links existed (see data_received).
        self._early: list[bytes] = []
        self._early_eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)
        if self.conn is None:  # a client: hold its data until the upstream is dialled
            transport.pause_reading()
            self.conn = _Connection(self.proxy, self)

    def data_received(self, data: bytes) -> None:
        # The hot path: with no active toxic this is one write per read.
        link = self.outbound
        if link is None:
            # uvloop starts reading right after connection_made even if it
            # paused, and an upstream may greet before create_connection()
            # returns: keep the data until the links are wired.
            self._early.append(data)
            if self.transport is not None:
                self.transport.pause_reading()
            return
        link.counter.n += len(data)
        head = link.head
        if head is None:
            link.dest.write(data)
        else:
            head.push(Chunk(data, time.monotonic()))

    def eof_received(self) -> bool:
        if self.outbound is not None:
            self.outbound.feed_eof()
        else:
            self._early_eof = True
        return True  # keep the socket open: the other direction may still be flushing

    def connection_lost(self, exc: Exception | None) -> None:
        if self.outbound is not None:
            self.outbound.feed_eof()
        if self.inbound is not None:
            self.inbound.dest_lost()
        if self.conn is not None:
            self.conn.side_lost(self)

    def replay_early(self) -> None:
        """Feed what arrived before the links existed, then start reading."""
        early, self._early = self._early, []
        for data in early:
            self.data_received(data)
        link, transport = self.outbound, self.transport
        if link is None or transport is None:
            return
        if self._early_eof:
            link.feed_eof()
        elif not link.reading_paused and not transport.is_closing():
            transport.resume_reading()

    def pause_writing(self) -> None:
        if self.inbound is not None:
            self.inbound.set_dest_paused(True)

    def resume_writing(self) -> None:
        if self.inbound is not None:
            self.inbound.set_dest_paused(False)


class _Connection:
    """A client socket, its upstream socket, and the two links between them."""

    def __init__(self, proxy: Proxy, client: _Side) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream: _Side | None = None
        self.links: dict[Stream, Link] = {}
        self._lost: set[int] = set()
        self._aborted = False
        proxy.connection_opened(self)
        self._dial = asyncio.get_running_loop().create_task(self._open())

    async def _open(self) -> None:
        proxy = self.proxy
        loop = asyncio.get_running_loop()
        try:
            host, port = split_address(proxy.upstream, what="upstream")
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                _, side = await loop.create_connection(lambda: _Side(self, proxy), host, port)
        except (OSError, TimeoutError, ToxiproxyError) as exc:
            proxy.connect_errors += 1
            logger.warning(
                "proxy %s: cannot reach upstream %s: %s", proxy.name, proxy.upstream, exc
            )
            self._close_client()
            return
        self.upstream = side
        client_t, upstream_t = self.client.transport, side.transport
        assert client_t is not None and upstream_t is not None
        if self._aborted or client_t.is_closing():
            upstream_t.abort()
            return
        up = Link(Stream.UPSTREAM, client_t, upstream_t, proxy.bytes_upstream, self.reset)
        down = Link(Stream.DOWNSTREAM, upstream_t, client_t, proxy.bytes_downstream, self.reset)
        self.links = {Stream.UPSTREAM: up, Stream.DOWNSTREAM: down}
        self.client.outbound = side.inbound = up
        side.outbound = self.client.inbound = down
        up.add_toxics(proxy.toxics[Stream.UPSTREAM])
        down.add_toxics(proxy.toxics[Stream.DOWNSTREAM])
        side.replay_early()
        self.client.replay_early()

    def _close_client(self) -> None:
        transport = self.client.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    def _transports(self) -> list[asyncio.Transport]:
        sides = [self.client, self.upstream]
        return [s.transport for s in sides if s is not None and s.transport is not None]

    def abort(self) -> None:
        """Drop the connection now (proxy disabled or deleted)."""
        self._aborted = True
        self._dial.cancel()
        for link in self.links.values():
            link.stop()
        for transport in self._transports():
            transport.abort()
        # Count it closed now, so the API answering the disable already shows 0 active.
        self.proxy.connection_closed(self)

    def reset(self) -> None:
        """Abort both sockets with RST (reset_peer toxic)."""
        for transport in self._transports():
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # Already closed by the peer: nothing left to reset.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            transport.abort()

    def side_lost(self, side: _Side) -> None:
        self._lost.add(id(side))
        if side is self.client and self.upstream is None:
            self._dial.cancel()
            self.proxy.connection_closed(self)
        elif len(self._lost) == 2:
            self.proxy.connection_closed(self)


class Proxy:
    """A named listener forwarding to ``upstream``, with its toxics and counters."""

    def __init__(self, name: str, listen: str, upstream: str) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics: dict[Stream, list[Toxic]] = {Stream.UPSTREAM: [], Stream.DOWNSTREAM: []}
        self.bytes_upstream = ByteCounter()
        self.bytes_downstream = ByteCounter()
        self.connections_total = 0
        self.connect_errors = 0
        self._connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None

    # -- listener ------------------------------------------------------------

    async def start(self) -> None:
        """Listen on ``listen`` (port 0 picks a free port; ``listen`` then shows it)."""
        if self.enabled:
            return
        host, port = split_address(self.listen, what="listen")
        loop = asyncio.get_running_loop()
        try:
            # Bind one address, as Go's net.Listen does; "" means loopback
            # here (upstream binds every interface), by design of this harness.
            infos = await loop.getaddrinfo(
                host or "127.0.0.1", port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            address = str(infos[0][4][0])
            self._server = await loop.create_server(
                lambda: _Side(None, self),
                address,
                port,
                backlog=LISTEN_BACKLOG,
                reuse_address=True,
            )
        except OSError as exc:
            raise ToxiproxyError(500, f"listen tcp {self.listen}: {exc}") from exc
        self.listen = format_address(self._server.sockets[0].getsockname())
        self.enabled = True
        logger.info("proxy %s listening on %s -> %s", self.name, self.listen, self.upstream)

    def stop(self) -> None:
        """Close the listener and every live connection."""
        if not self.enabled:
            return
        self.enabled = False
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._connections):
            conn.abort()
        logger.info("proxy %s stopped", self.name)

    def connection_opened(self, conn: _Connection) -> None:
        self.connections_total += 1
        self._connections.add(conn)

    def connection_closed(self, conn: _Connection) -> None:
        self._connections.discard(conn)

    # -- toxics --------------------------------------------------------------

    def all_toxics(self) -> list[Toxic]:
        return [*self.toxics[Stream.UPSTREAM], *self.toxics[Stream.DOWNSTREAM]]

    def get_toxic(self, name: str) -> Toxic:
        for toxic in self.all_toxics():
            if toxic.name == name:
                return toxic
        raise ToxiproxyError(404, "toxic not found")

    def _links(self, stream: Stream) -> list[Link]:
        return [c.links[stream] for c in self._connections if stream in c.links]

    def add_toxic(self, toxic: Toxic) -> None:
        if any(t.name == toxic.name for t in self.all_toxics()):
            raise ToxiproxyError(409, "toxic already exists")
        self.toxics[toxic.stream].append(toxic)
        for link in self._links(toxic.stream):
            link.add_toxic(toxic)

    def replace_toxic(self, toxic: Toxic) -> None:
        chain = self.toxics[toxic.stream]
        chain[[t.name for t in chain].index(toxic.name)] = toxic
        for link in self._links(toxic.stream):
            link.update_toxic(toxic)

    def remove_toxic(self, name: str) -> None:
        toxic = self.get_toxic(name)
        self.toxics[toxic.stream].remove(toxic)
        for link in self._links(toxic.stream):
            link.remove_toxic(name)

    def remove_all_toxics(self) -> None:
        for toxic in self.all_toxics():
            self.remove_toxic(toxic.name)

    # -- views ---------------------------------------------------------------

    def stats(self) -> ProxyStats:
        return ProxyStats(
            connections_total=self.connections_total,
            connections_active=len(self._connections),
            connect_errors=self.connect_errors,
            bytes_upstream=self.bytes_upstream.n,
            bytes_downstream=self.bytes_downstream.n,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.to_json() for t in self.all_toxics()],
            # Not in upstream Toxiproxy: clients must tolerate its absence.
            "stats": self.stats().to_json(),
        }
