"""Just enough HTTP/1.1 to find where a message ends (RFC 9112 §6).

The layer never rewrites a message it forwards untouched: it reads a head,
learns the body's framing (Content-Length, chunked, or until close) and copies
the body in that framing. Only a fault that acts inside a body reads it as
payload (`payload`) and writes it back in the answer's own framing (`BodySink`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

__all__ = [
    "HEAD_END",
    "BodySink",
    "Head",
    "ProtocolError",
    "copy_body",
    "has_body",
    "parse_head",
    "payload",
    "read_body",
]

HEAD_END = b"\r\n\r\n"
CRLF = b"\r\n"
COPY_BYTES = 64 * 1024
LAST_CHUNK = b"0\r\n\r\n"
NO_BODY_STATUSES = frozenset({204, 304})


class ProtocolError(Exception):
    """A message the layer cannot frame (it then closes the connection)."""


@dataclass(slots=True)
class Head:
    """The parts of a request or response head the layer acts on."""

    # A request's method, target, version; a response's version, status, reason.
    first: tuple[bytes, bytes, bytes]
    content_length: int | None
    chunked: bool
    close: bool
    content_type: bytes

    @property
    def status(self) -> int:
        return int(self.first[1])


def parse_head(head: bytes) -> Head:
    """The start line and framing headers of one head (ending with CRLF CRLF)."""
    lines = head[:-4].split(CRLF)
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2:
        raise ProtocolError(f"bad start line {lines[0][:80]!r}")
    first = (parts[0], parts[1], parts[2] if len(parts) > 2 else b"")
    length: int | None = None
    chunked = False
    # HTTP/1.0 closes unless asked to keep alive; HTTP/1.1 keeps alive unless asked to close.
    version = first[0] if first[0].startswith(b"HTTP/") else first[2]
    close = version == b"HTTP/1.0"
    content_type = b""
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                raise ProtocolError(f"bad Content-Length {value[:40]!r}") from None
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            token = value.strip().lower()
            close = token == b"close" or (close and token != b"keep-alive")
        elif name == b"content-type":
            content_type = value.strip().lower()
    return Head(first, None if chunked else length, chunked, close, content_type)


async def read_body(reader: asyncio.StreamReader, head: Head) -> tuple[bytes, bytes]:
    """A request's whole body: (raw as received, payload). Requests are small."""
    if head.chunked:
        raw = bytearray()
        data = bytearray()
        async for piece, framed in _chunks(reader):
            raw += framed
            data += piece
        return bytes(raw), bytes(data)
    if head.content_length:
        body = await reader.readexactly(head.content_length)
        return body, body
    return b"", b""


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[tuple[bytes, bytes]]:
    """(payload, raw bytes) of each chunk, the last chunk and its trailers included."""
    while True:
        line = await reader.readuntil(CRLF)
        try:
            size = int(line.split(b";", 1)[0], 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size line {line[:40]!r}") from None
        if size == 0:
            trailers = bytearray(line)
            while True:
                trailer = await reader.readuntil(CRLF)
                trailers += trailer
                if trailer == CRLF:
                    break
            yield b"", bytes(trailers)
            return
        data = await reader.readexactly(size + 2)
        yield data[:-2], line + data


async def copy_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    head: Head) -> tuple[int, bool]:
    """Copy a response body unchanged: (bytes written, whether it ended by framing:
    False means it ran until the upstream closed)."""
    written = 0
    if head.chunked:
        async for _, framed in _chunks(reader):
            writer.write(framed)
            written += len(framed)
            await writer.drain()
        return written, True
    if head.content_length is not None:
        left = head.content_length
        while left:
            data = await reader.read(min(left, COPY_BYTES))
            if not data:
                raise asyncio.IncompleteReadError(b"", left)
            writer.write(data)
            written += len(data)
            left -= len(data)
            await writer.drain()
        return written, True
    while data := await reader.read(COPY_BYTES):
        writer.write(data)
        written += len(data)
        await writer.drain()
    return written, False


async def payload(reader: asyncio.StreamReader, head: Head) -> AsyncIterator[bytes]:
    """A response body's payload pieces, whatever its framing."""
    if head.chunked:
        async for piece, _ in _chunks(reader):
            if piece:
                yield piece
        return
    left = head.content_length
    while left is None or left > 0:
        data = await reader.read(COPY_BYTES if left is None else min(left, COPY_BYTES))
        if not data:
            if left:
                raise asyncio.IncompleteReadError(b"", left)
            return
        if left is not None:
            left -= len(data)
        yield data


class BodySink:
    """Writes payload to the client in the answer's own framing."""

    def __init__(self, writer: asyncio.StreamWriter, head: Head) -> None:
        self.writer = writer
        self.chunked = head.chunked
        self.written = 0

    async def send(self, data: bytes) -> None:
        if not data:
            return
        framed = b"%x\r\n%b\r\n" % (len(data), data) if self.chunked else data
        self.writer.write(framed)
        self.written += len(framed)
        await self.writer.drain()

    async def end(self) -> bool:
        """End the body; whether the connection can carry another message."""
        if self.chunked:
            self.writer.write(LAST_CHUNK)
            self.written += len(LAST_CHUNK)
            await self.writer.drain()
        return self.chunked


def has_body(request_method: bytes, status: int) -> bool:
    return request_method != b"HEAD" and status not in NO_BODY_STATUSES and status >= 200
