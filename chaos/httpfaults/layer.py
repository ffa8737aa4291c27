"""One fault layer: an HTTP/1.1 proxy in front of one instance, with its fault rules.

Chained on the instance's hop after the TCP proxy (caller -> Toxiproxy ->
layer -> instance), so it works whichever Toxiproxy serves the TCP hop. With
no rule, a request costs a head parse and a framed copy each way; a rule's
selector is checked per request, and only a firing stream fault reads the
answer's body: as SSE events, or as bytes for a cut after `after_bytes`.

Each client connection has its own upstream connection (as a TCP proxy would),
opened at its first request and reopened when the instance closed it between
two requests, so the layer never turns an idle close into a failed request.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from chaos.httpfaults.faults import (
    Abort,
    FaultRule,
    FirstByteDelay,
    Flap,
    HttpError,
    HttpFault,
    HttpFaultError,
    MalformedEvent,
    RequestInfo,
    StreamCut,
    StreamErrorEvent,
    StreamFault,
    StreamStall,
)
from chaos.httpfaults.sse import event_end, has_content
from chaos.httpfaults.wire import (
    HEAD_END,
    BodySink,
    Head,
    ProtocolError,
    copy_body,
    has_body,
    parse_head,
    payload,
    read_body,
)

__all__ = ["Layer", "LayerStats"]

# Heads larger than this are refused (431): no real request comes near it.
HEAD_LIMIT = 256 * 1024
CONNECT_TIMEOUT_S = 10.0
LISTEN_BACKLOG = 1024
HOLD_POLL_S = 0.05
SSE_TYPE = b"text/event-stream"
# SO_LINGER on, 0 s: close() sends RST (abort).
_LINGER_RESET = struct.pack("ii", 1, 0)
_REASONS = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout"}


class LayerStats(BaseModel):
    """Everything that crossed the layer, faulted or not."""

    connections_total: int = 0
    connections_active: int = 0
    requests: int = 0
    bytes_upstream: int = 0
    bytes_downstream: int = 0


@dataclass
class _Active:
    """A rule in force: its value, when it was added, and a signal for its removal."""

    rule: FaultRule
    fault: HttpFault
    added: float = field(default_factory=time.monotonic)
    removed: asyncio.Event = field(default_factory=asyncio.Event)

    def effective(self) -> HttpFault | None:
        """The fault to apply now (a flap's inner fault while it is on)."""
        if isinstance(self.fault, Flap):
            return self.fault.inner() if self.fault.is_on(time.monotonic() - self.added) else None
        return self.fault


@dataclass
class _Outcome:
    keep_client: bool
    keep_upstream: bool


class Layer:
    """Listens at `listen`, forwards to `upstream` (both `host:port`)."""

    def __init__(self, name: str, listen: str, upstream: str) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.rules: list[_Active] = []
        self.stats = LayerStats()
        self.rng = random.Random()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- life cycle ------------------------------------------------------------
    async def start(self) -> None:
        host, port = _split(self.listen)
        self._server = await asyncio.start_server(self._serve, host, port, limit=HEAD_LIMIT,
                                                  backlog=LISTEN_BACKLOG)
        sock = self._server.sockets[0].getsockname()
        self.listen = f"{sock[0]}:{sock[1]}"

    async def close(self) -> None:
        for active in self.rules:
            active.removed.set()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    # -- rules -----------------------------------------------------------------
    def add(self, rule: FaultRule) -> FaultRule:
        if any(a.rule.name == rule.name for a in self.rules):
            raise HttpFaultError(f"layer {self.name}: a fault named {rule.name!r} exists")
        self.rules.append(_Active(rule, rule.fault()))
        return rule

    def remove(self, name: str) -> FaultRule:
        for active in self.rules:
            if active.rule.name == name:
                self.rules.remove(active)
                active.removed.set()  # releases streams it holds stalled
                return active.rule
        raise KeyError(name)

    def reset(self) -> None:
        for active in list(self.rules):
            self.remove(active.rule.name)

    def _pick(self, request: RequestInfo) -> tuple[list[_Active], HttpFault | None]:
        """Every rule whose selector matches (counted), and the first one that fires."""
        matched: list[_Active] = []
        firing: HttpFault | None = None
        for active in self.rules:
            if not active.rule.match.matches(request):
                continue
            matched.append(active)
            counters = active.rule.counters
            counters.matched += 1
            if firing is not None:
                continue
            fault = active.effective()
            if fault is not None and self.rng.random() < active.rule.probability:
                counters.fired += 1
                firing = fault
        return matched, firing

    # -- connections -----------------------------------------------------------
    async def _serve(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        stats = self.stats
        stats.connections_total += 1
        stats.connections_active += 1
        self._writers.add(cwriter)
        up: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                try:
                    raw_head = await creader.readuntil(HEAD_END)
                except asyncio.LimitOverrunError:
                    cwriter.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                  b"content-length: 0\r\nconnection: close\r\n\r\n")
                    break
                head = parse_head(raw_head)
                raw_body, body = await read_body(creader, head)
                stats.requests += 1
                stats.bytes_upstream += len(raw_head) + len(raw_body)
                matched: list[_Active] = []
                fault: HttpFault | None = None
                if self.rules:
                    path = head.first[1].split(b"?", 1)[0].decode("latin-1")
                    matched, fault = self._pick(
                        RequestInfo(head.first[0].decode("latin-1"), path, body))
                if isinstance(fault, Abort):
                    _reset(cwriter)
                    return
                if isinstance(fault, HttpError):
                    sent = await _answer(cwriter, fault, head.close)
                    _count(matched, sent, stats)
                    if head.close:
                        break
                    continue
                if isinstance(fault, FirstByteDelay):
                    await asyncio.sleep(fault.delay_ms / 1000)
                if up is None or up[0].at_eof() or up[1].is_closing():
                    if up is not None:
                        up[1].close()
                    up = await self._dial()
                up[1].write(raw_head + raw_body)
                outcome = await self._respond(up[0], creader, cwriter, head, fault, matched)
                if not outcome.keep_upstream:
                    up[1].close()
                    up = None
                if not outcome.keep_client or head.close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ProtocolError, OSError,
                TimeoutError):
            pass  # either side went away or spoke nonsense: close both, like a TCP proxy
        finally:
            stats.connections_active -= 1
            self._writers.discard(cwriter)
            if up is not None:
                up[1].close()
            cwriter.close()

    async def _dial(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host, port = _split(self.upstream)
        return await asyncio.wait_for(
            asyncio.open_connection(host, port, limit=HEAD_LIMIT), CONNECT_TIMEOUT_S)

    async def _respond(self, ureader: asyncio.StreamReader, creader: asyncio.StreamReader,
                       cwriter: asyncio.StreamWriter, request: Head, fault: HttpFault | None,
                       matched: list[_Active]) -> _Outcome:
        raw = await ureader.readuntil(HEAD_END)
        head = parse_head(raw)
        while 100 <= head.status < 200 and head.status != 101:  # interim answers
            cwriter.write(raw)
            raw = await ureader.readuntil(HEAD_END)
            head = parse_head(raw)
        cwriter.write(raw)
        sent = len(raw)
        keep = not head.close
        try:
            if not has_body(request.first[0], head.status):
                await cwriter.drain()
                return _Outcome(keep, keep)
            stream = isinstance(fault, StreamFault) and (
                head.content_type.startswith(SSE_TYPE)
                or (isinstance(fault, StreamCut) and fault.after_bytes is not None))
            if not stream:
                written, framed = await copy_body(ureader, cwriter, head)
                sent += written
                return _Outcome(keep and framed, keep and framed)
            assert isinstance(fault, StreamFault)
            sink = BodySink(cwriter, head)
            try:
                if isinstance(fault, StreamCut) and fault.after_bytes is not None:
                    keep_client = await _cut_after_bytes(ureader, sink, head, fault.after_bytes)
                else:
                    keep_client = await self._fault_stream(ureader, creader, sink, head, fault,
                                                           matched)
            finally:
                sent += sink.written
            # A stream fault leaves the upstream's body unread: that connection is done.
            return _Outcome(keep and keep_client, False)
        finally:
            _count(matched, sent, self.stats)

    async def _fault_stream(self, ureader: asyncio.StreamReader, creader: asyncio.StreamReader,
                            sink: BodySink, head: Head, fault: StreamFault,
                            matched: list[_Active]) -> bool:
        """Forward the SSE body event by event and act after `after_events`; whether
        the client connection may carry another request."""
        counted = 0
        done = False  # the fault has acted (it acts once)
        buffer = b""
        if fault.after_events == 0:
            done, keep = await self._act(fault, sink, creader, matched)
            if not keep:
                return False
        async for piece in payload(ureader, head):
            buffer += piece
            while buffer:
                end = event_end(buffer)
                if end < 0:
                    break
                event, buffer = buffer[:end], buffer[end:]
                await sink.send(event)
                if not done and has_content(event):
                    counted += 1
                    if counted >= fault.after_events:
                        done, keep = await self._act(fault, sink, creader, matched)
                        if not keep:
                            return False
                        if isinstance(fault, StreamErrorEvent):
                            return await sink.end()
        if buffer:
            await sink.send(buffer)
        return await sink.end()

    async def _act(self, fault: StreamFault, sink: BodySink, creader: asyncio.StreamReader,
                   matched: list[_Active]) -> tuple[bool, bool]:
        """Apply a stream fault at its point: (acted, whether the stream goes on)."""
        if isinstance(fault, StreamCut):
            return True, False
        if isinstance(fault, StreamErrorEvent):
            await sink.send(fault.event())
            return True, True
        if isinstance(fault, MalformedEvent):
            await sink.send(fault.event())
            return True, True
        assert isinstance(fault, StreamStall)
        if fault.stall_ms:
            await asyncio.sleep(fault.stall_ms / 1000)
            return True, True
        await _hold(creader, sink.writer, [a.removed for a in matched])
        return True, False


async def _cut_after_bytes(ureader: asyncio.StreamReader, sink: BodySink, head: Head,
                           limit: int) -> bool:
    """Forward `limit` bytes of the body, then close (False: the client connection
    is done). Counted in bytes as they come: a body that is not SSE (a whole JSON
    answer) has no event boundary to wait for."""
    async for piece in payload(ureader, head):
        if sink.written + len(piece) > limit:
            await sink.send(piece[:max(0, limit - sink.written)])
            return False  # cut inside the body
        await sink.send(piece)
    return await sink.end()


# -- helpers ---------------------------------------------------------------------
def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _count(matched: list[_Active], sent: int, stats: LayerStats) -> None:
    stats.bytes_downstream += sent
    for active in matched:
        active.rule.counters.bytes_forwarded += sent


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    writer.transport.abort()


async def _answer(writer: asyncio.StreamWriter, fault: HttpError, close: bool) -> int:
    body = fault.body.encode()
    lines = [f"HTTP/1.1 {fault.status} {_REASONS.get(fault.status, 'Error')}",
             f"content-length: {len(body)}"]
    if body[:1] in (b"{", b"["):
        lines.append("content-type: application/json")
    if fault.retry_after_s is not None:
        lines.append(f"retry-after: {fault.retry_after_s}")
    if close:
        lines.append("connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    writer.write(data)
    await writer.drain()
    return len(data)


async def _hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                removed: list[asyncio.Event]) -> None:
    """Until the client leaves or a matched rule is removed."""
    waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(e.wait()) for e in removed]

    async def client_gone() -> None:
        # Polled: the client sends nothing while it waits for the answer, so its
        # end shows only as EOF (or a closed transport after a reset).
        while not (reader.at_eof() or writer.transport.is_closing()):
            await asyncio.sleep(HOLD_POLL_S)

    waits.append(asyncio.ensure_future(client_gone()))
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
