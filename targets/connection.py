"""One keep-alive connection of the hop client, and the answers read from it.

The connection is an asyncio protocol fed by httptools (the parser uvicorn
already uses): no per-request task; the head of an answer resolves a future,
the body is buffered until the caller reads it (`HopResponse.aiter_raw`), and
every wait for data is bounded by a timer. The pool that opens and reuses
these connections is `HopClient`, in `targets.hop`.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

import httptools

from targets.errors import TargetsError

if TYPE_CHECKING:
    from targets.hop import HopClient

__all__ = [
    "Connection",
    "HopConnectError",
    "HopError",
    "HopHeaders",
    "HopProtocolError",
    "HopResponse",
    "HopTimeoutError",
    "wait_at_most",
]

# A streamed body stops being read from the socket beyond this much unread data.
READ_HIGH_WATER = 256 * 1024


class HopError(TargetsError):
    """A hop failed below HTTP: no (complete) answer came back."""


class HopConnectError(HopError):
    """The connection could not be made: the request never reached the server."""


class HopTimeoutError(HopError):
    """The server was silent longer than the read timeout."""


class HopProtocolError(HopError):
    """The server closed the connection or sent something that is not HTTP/1.1."""


class HopHeaders(Mapping[str, str]):
    """Response headers, looked up case-insensitively; names are lower-case."""

    __slots__ = ("_items",)

    def __init__(self, items: dict[str, str]) -> None:
        self._items = items

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def get(self, name: str, default: Any = None) -> Any:
        return self._items.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"HopHeaders({self._items!r})"


class HopResponse:
    """One answer: the head at once; the body whole (`aread`) or as it comes."""

    def __init__(self, conn: Connection | None, status_code: int, headers: HopHeaders) -> None:
        self.status_code = status_code
        self.headers = headers
        self._conn = conn
        self._content: bytes | None = None

    @classmethod
    def complete(cls, status_code: int, headers: Mapping[str, str],
                 content: bytes) -> HopResponse:
        """An answer already read in full, on no connection (what a fake replica returns)."""
        response = cls(None, status_code, HopHeaders({k.lower(): v for k, v in headers.items()}))
        response._content = content
        return response

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise HopProtocolError("the body was not read (call aread() first)")
        return self._content

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    async def aread(self) -> bytes:
        if self._content is None:
            parts = [chunk async for chunk in self.aiter_raw()]
            self._content = b"".join(parts)
        return self._content

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body as it arrives (chunked framing removed, nothing decoded)."""
        conn = self._conn
        if conn is None:
            if self._content is not None:
                yield self._content
            return
        try:
            while True:
                chunk = await conn.next_chunk()
                if chunk is None:
                    break
                yield chunk
        except BaseException:
            self._release(reusable=False)
            raise
        self._release(reusable=True)

    async def aclose(self) -> None:
        """Done with this answer; a body not read to its end closes the connection."""
        self._release(reusable=False)

    def _release(self, *, reusable: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.release(reusable=reusable)

    def __repr__(self) -> str:
        return f"<HopResponse [{self.status_code}]>"


class Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self, client: HopClient, origin: str,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.origin = origin
        # Kept: asyncio.get_running_loop() costs a getpid() system call on 3.11.
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.read_s = 0.0
        # The answer in progress.
        self._names: list[bytes] = []
        self._values: list[bytes] = []
        self._head: asyncio.Future[HopResponse] | None = None
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._complete = False
        self._keep_alive = False
        self._error: HopError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    # -- asyncio.Protocol --------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Small requests must not wait for an ACK (Nagle + delayed ACK: ~40 ms).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HopProtocolError(f"{self.origin}: invalid HTTP answer: {exc}"))
            self.close()

    def eof_received(self) -> bool | None:
        self.closed = True  # at once: connection_lost comes a loop turn later
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.client.forget(self)
        if self._head is None and self._waiter is None and not self._chunks:
            return
        if not self._complete and self._reads_until_close():
            self.on_message_complete()
            return
        if not self._complete:
            what = "closed the connection" if exc is None else f"dropped the connection ({exc})"
            self._fail(HopProtocolError(f"{self.origin} {what} before the answer ended"))

    # -- httptools callbacks -------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self._names.append(name)
        self._values.append(value)

    def on_headers_complete(self) -> None:
        items: dict[str, str] = {}
        for raw_name, raw_value in zip(self._names, self._values, strict=True):
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            items[name] = f"{items[name]}, {value}" if name in items else value
        response = HopResponse(self, self.parser.get_status_code(), HopHeaders(items))
        if self._head is not None and not self._head.done():
            self._head.set_result(response)

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > READ_HIGH_WATER and not self._paused and self.transport:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        # Asked now: once the message is complete the parser no longer knows.
        self._keep_alive = self.parser.should_keep_alive()
        self._complete = True
        self._wake()

    # -- the client's side -------------------------------------------------
    def start(self, data: bytes, read_s: float) -> asyncio.Future[HopResponse]:
        """Send one request; the future holds the answer's head."""
        assert self.transport is not None
        self.read_s = read_s
        self._names, self._values = [], []
        self._chunks, self._buffered = [], 0
        self._complete, self._keep_alive, self._error = False, False, None
        self._head = self.loop.create_future()
        if self.closed or self.transport.is_closing():
            raise HopProtocolError(f"{self.origin}: the connection closed before the request")
        self.transport.write(data)
        return self._head

    async def next_chunk(self) -> bytes | None:
        """The next piece of the body; None at its end."""
        while True:
            if self._chunks:
                chunk = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
                self._chunks, self._buffered = [], 0
                if self._paused and self.transport is not None:
                    self._paused = False
                    self.transport.resume_reading()
                return chunk
            if self._complete:
                return None
            if self._error is not None:
                raise self._error
            self._waiter = self.loop.create_future()
            try:
                await wait_at_most(self.loop, self._waiter, self.read_s, self.origin)
            finally:
                self._waiter = None

    def release(self, *, reusable: bool) -> None:
        self._head = None
        if (reusable and self._complete and self._keep_alive and not self.closed
                and not self._chunks):
            self.parser = httptools.HttpResponseParser(self)
            self.client.keep(self)
        else:
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            self.client.forget(self)

    def _reads_until_close(self) -> bool:
        """An HTTP/1.0-style body: no length, not chunked, ends when the server closes."""
        head = self._head
        if head is None or not head.done() or head.cancelled() or head.exception() is not None:
            return False
        headers = head.result().headers
        return "content-length" not in headers and "chunked" not in headers.get(
            "transfer-encoding", "")

    def _fail(self, error: HopError) -> None:
        self._error = error
        if self._head is not None and not self._head.done():
            self._head.set_exception(error)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


async def wait_at_most(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any],
                       timeout_s: float, origin: str) -> Any:
    """Await `future` for at most `timeout_s` (a timer, not a task per wait)."""

    def expire() -> None:
        if not future.done():
            future.set_exception(HopTimeoutError(f"{origin}: no answer within {timeout_s:g} s"))

    timer = loop.call_later(timeout_s, expire)
    try:
        return await future
    finally:
        timer.cancel()

