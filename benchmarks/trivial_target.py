"""The benchmarks' trivial endpoint: a tiny raw-asyncio HTTP server in its own process.

It answers every request with a fixed JSON body and the X-Gatecrash-* headers,
at a small fraction of the load generator's cost per request, so a benchmark of
the generator measures the generator.

    python benchmarks/trivial_target.py PORT     # serve until killed
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from typing import cast

__all__ = ["free_port", "serve", "start_target"]

START_S = 10.0
BODY = b'{"ok":true}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n"
    b"X-Gatecrash-Route: primary\r\nX-Gatecrash-Instance: bench-1\r\n"
    b"X-Gatecrash-Gateway: bench\r\n\r\n" + BODY
)


class _Http(asyncio.Protocol):
    """Keep-alive HTTP/1.1: one fixed answer per request (bodies skipped by Content-Length)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        out = []
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head = self.buf[:end].lower()
            length = 0
            if (i := head.find(b"content-length:")) >= 0:
                length = int(head[i + 15:].split(b"\r\n", 1)[0])
            if len(self.buf) < end + 4 + length:
                break
            self.buf = self.buf[end + 4 + length:]
            out.append(RESPONSE)
        if out:
            self.transport.write(b"".join(out))


def serve(port: int) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Http, "127.0.0.1", port, backlog=1024)
        await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_target() -> tuple[subprocess.Popen[bytes], str]:
    """The endpoint in its own process, and its URL once it accepts connections."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, str(port)])
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("benchmark target did not start")


if __name__ == "__main__":
    serve(int(sys.argv[1]))
