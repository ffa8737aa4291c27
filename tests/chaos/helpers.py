"""Test helpers: real upstreams on 127.0.0.1 and bounded socket reads."""

from __future__ import annotations

import itertools
import socket
import threading
from http.server import BaseHTTPRequestHandler

SOCKET_TIMEOUT_S = 5.0
_names = itertools.count()


class EchoServer:
    """A threaded TCP echo server on 127.0.0.1."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        conn.settimeout(30)
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._sock.close()


class HelloHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_GET(self) -> None:
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def unique(prefix: str = "p") -> str:
    return f"{prefix}_{next(_names)}"


def connect(port: int, timeout: float = SOCKET_TIMEOUT_S) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exact(sock: socket.socket, size: int) -> bytes:
    parts = []
    while size > 0:
        data = sock.recv(min(size, 65536))
        if not data:
            break
        parts.append(data)
        size -= len(data)
    return b"".join(parts)


def recv_all(sock: socket.socket) -> bytes:
    """Read until EOF (bounded by the socket timeout)."""
    parts = []
    while data := sock.recv(65536):
        parts.append(data)
    return b"".join(parts)
