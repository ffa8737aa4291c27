"""The hop client against real sockets: a scripted HTTP/1.1 server on 127.0.0.1
that answers each request with the bytes a test gives it (or drops, or stalls).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
import uvloop

from targets.connection import (
    READ_HIGH_WATER,
    HopConnectError,
    HopProtocolError,
    HopTimeoutError,
)
from targets.hop import IDLE_EXPIRY_S, HopClient, HopTimeout

UVICORN_KEEP_ALIVE_S = 5  # uvicorn's default `timeout_keep_alive`
TIMEOUT = HopTimeout(read_s=1.0, connect_s=1.0)
OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}"

# What the server does with one request: write these bytes (then keep the
# connection), or a coroutine that takes the writer and does what it likes.
Answer = bytes | Callable[[asyncio.StreamWriter], Awaitable[None]]


class ScriptedServer:
    """Reads each request whole, logs it, answers with `next answer`."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> ScriptedServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                self.requests.append((head, body))
                answer = self.answers.pop(0) if self.answers else OK
                if isinstance(answer, bytes):
                    writer.write(answer)
                    await writer.drain()
                else:
                    await answer(writer)
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def run(scenario: Callable[[HopClient, ScriptedServer], Coroutine[Any, Any, None]]) -> None:
    async def main() -> None:
        client = HopClient(TIMEOUT)
        try:
            async with ScriptedServer() as server:
                await scenario(client, server)
        finally:
            await client.aclose()

    uvloop.run(main())  # the services' loop (uvicorn --loop uvloop)


def test_keep_alive_reuses_one_connection_and_sends_what_it_is_given() -> None:
    async def scenario(client: HopClient, server: ScriptedServer) -> None:
        for i in range(5):
            r = await client.request("POST", f"{server.url}/v1/verify", json={"n": i, "é": 1},
                                     headers={"X-Gatecrash-Tenant": "demo"}, query="a=1&a=2")
            assert (r.status_code, r.json()) == (200, {"ok": True})
            assert r.headers["Content-Type"] == "application/json"
            assert "CONTENT-LENGTH" in r.headers
        assert server.connections == 1
        head, body = server.requests[-1]
        assert head.startswith(b"POST /v1/verify?a=1&a=2 HTTP/1.1\r\n")
        assert b"\r\nX-Gatecrash-Tenant: demo\r\n" in head
        assert b"\r\ncontent-type: application/json\r\n" in head
        assert json.loads(body) == {"n": 4, "é": 1}

    run(scenario)


def test_a_get_has_no_body_and_a_bodyless_post_says_length_zero() -> None:
    async def scenario(client: HopClient, server: ScriptedServer) -> None:
        await client.get(f"{server.url}/health")
        await client.request("POST", f"{server.url}/v1/x")
        assert b"content-length" not in server.requests[0][0].lower()
        assert b"\r\ncontent-length: 0\r\n" in server.requests[1][0]

    run(scenario)


def test_chunked_stream_arrives_piece_by_piece() -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n"
                     b"content-type: text/event-stream\r\n\r\n")
        for part in (b"data: 1\n\n", b"data: 2\n\n"):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.2)

    async def scenario(client: HopClient, server: ScriptedServer) -> None:
        server.answers.append(answer)
        r = await client.request("POST", f"{server.url}/v1/chat", json={}, stream=True)
        assert r.headers.get("content-type") == "text/event-stream"
        chunks = [c async for c in r.aiter_raw()]
        assert chunks == [b"data: 1\n\n", b"data: 2\n\n"]  # framing removed, not merged

    run(scenario)


def test_refused_connection_is_a_connect_error() -> None:
    async def scenario(client: HopClient, server: ScriptedServer) -> None:
        url = server.url
        assert server.server is not None
        server.server.close()
        await server.server.wait_closed()
        with pytest.raises(HopConnectError, match="cannot connect"):
            await client.get(f"{url}/health")

    run(scenario)


def test_silence_is_a_timeout_and_the_connection_is_not_reused() -> None:
    async def stall(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(1.0)

    async def scenario(client: HopClient, server: ScriptedServer) -> None:
        server.answers.append(stall)
        with pytest.raises(HopTimeoutError, match=r"no answer within 0\.1 s"):
            await client.get(f"{server.url}/slow", timeout=0.1)
        assert (await client.get(f"{server.url}/fast")).status_code == 200
        assert server.connections == 2

    run(scenario)


def test_connection_dropped_mid_body_is_a_protocol_error() -> None:
    async def cut(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
        await writer.drain()

    async def scenario(client: HopClient, server: ScriptedServer) -> None:
        server.answers.append(cut)
        with pytest.raises(HopProtocolError, match="before the answer ended"):
            await client.get(f"{server.url}/cut")

    run(scenario)


def test_body_delimited_by_close_is_read_to_the_end() -> None:
    async def close_delimited(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it")
        await writer.drain()

    async def scenario(client: HopClient, server: ScriptedServer) -> None:
        server.answers.append(close_delimited)
        assert (await client.get(f"{server.url}/x")).content == b"all of it"
        await client.get(f"{server.url}/x")
        assert server.connections == 2  # `connection: close` is honoured

    run(scenario)


def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def answer_then_close(writer: asyncio.StreamWriter) -> None:
        writer.write(OK)
        await writer.drain()  # then the server closes: an idle timeout

    async def scenario(client: HopClient, server: ScriptedServer) -> None:
        server.answers.append(answer_then_close)
        await client.get(f"{server.url}/a")
        await asyncio.sleep(0.05)
        assert (await client.get(f"{server.url}/b")).status_code == 200
        assert server.connections == 2

    run(scenario)


def test_idle_connections_expire_before_the_servers_keep_alive(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert IDLE_EXPIRY_S < UVICORN_KEEP_ALIVE_S

    async def scenario(client: HopClient, server: ScriptedServer) -> None:
        await client.get(f"{server.url}/a")
        await client.get(f"{server.url}/b")
        monkeypatch.setattr("targets.hop.IDLE_EXPIRY_S", 0.0)
        await client.get(f"{server.url}/c")
        assert server.connections == 2

    run(scenario)


def test_a_large_stream_is_relayed_whole_with_reading_paused_between() -> None:
    size = READ_HIGH_WATER * 4

    async def big(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
        writer.write(b"x" * size)
        await writer.drain()

    async def scenario(client: HopClient, server: ScriptedServer) -> None:
        server.answers.append(big)
        r = await client.request("GET", f"{server.url}/big", stream=True)
        received = 0
        async for chunk in r.aiter_raw():
            received += len(chunk)
            await asyncio.sleep(0.01)  # a slow reader
        assert received == size

    run(scenario)


def test_closing_a_stream_early_drops_its_connection() -> None:
    async def scenario(client: HopClient, server: ScriptedServer) -> None:
        server.answers.append(b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\nhalf")
        r = await client.request("GET", f"{server.url}/s", stream=True)
        await r.aclose()
        assert (await client.get(f"{server.url}/next")).status_code == 200
        assert server.connections == 2

    run(scenario)


def test_a_header_with_a_line_break_is_refused_before_sending() -> None:
    async def scenario(client: HopClient, server: ScriptedServer) -> None:
        with pytest.raises(ValueError, match="line break"):
            await client.request("GET", f"{server.url}/x",
                                 headers={"Idempotency-Key": "a\r\nX-Evil: 1"})
        assert server.requests == []

    run(scenario)


def test_garbage_answer_is_a_protocol_error() -> None:
    async def scenario(client: HopClient, server: ScriptedServer) -> None:
        server.answers.append(b"SSH-2.0-OpenSSH\r\n\r\n")
        with pytest.raises(HopProtocolError, match="invalid HTTP answer"):
            await client.get(f"{server.url}/x")

    run(scenario)


def test_an_idle_connection_closing_under_the_pool_is_not_written_to() -> None:
    """uvloop refuses (RuntimeError) a write on a transport that closed before
    connection_lost reached the protocol: the pool must skip such a connection."""

    async def scenario(client: HopClient, server: ScriptedServer) -> None:
        await client.get(f"{server.url}/a")
        (idle,) = [c for conns in client._idle.values() for c in conns]
        assert idle.transport is not None
        idle.transport.close()  # its connection_lost is still to come
        assert (await client.get(f"{server.url}/b")).status_code == 200
        assert server.connections == 2

    run(scenario)
