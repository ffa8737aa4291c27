"""Toxics: small typed values registered by their Toxiproxy wire name.

Modelled on Shopify Toxiproxy's ``toxics/*.go``: a toxic holds only its own
parameters (the wire ``attributes``) and a ``pipe`` coroutine that moves data
through one :class:`Stage` of one direction of one connection. The fields
shared by every toxic (name, type, stream, toxicity) live once, in
:class:`chaos.toxiproxy.wrapper.Toxic`, which also parses and validates the
JSON bodies.

Python field names carry their unit (``latency_ms``); the wire name is kept in
the field's metadata so the JSON stays exactly upstream's (``latency``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, TypeVar

__all__ = [
    "TOXICS",
    "Bandwidth",
    "Chunk",
    "Latency",
    "LimitData",
    "Noop",
    "ResetPeer",
    "Slicer",
    "SlowClose",
    "Stage",
    "Timeout",
    "ToxicKind",
]

# Bandwidth: a chunk larger than 100 ms worth of data is sent in 100 ms pieces,
# as upstream does, so a low rate still produces a steady trickle.
BANDWIDTH_SLICE_S = 0.1


class Chunk:
    """A piece of data moving through a link, stamped with its arrival time.

    ``at`` (``time.monotonic()`` seconds) lets the latency toxic delay data
    relative to when it arrived, so pipelined chunks are not delayed twice.
    """

    __slots__ = ("at", "data")

    def __init__(self, data: bytes | memoryview, at: float) -> None:
        self.data = data
        self.at = at


class Stage(Protocol):
    """What a toxic sees of the link it runs on (implemented in ``link.py``)."""

    state: dict[str, Any]

    async def recv(self) -> Chunk | None:
        """Next chunk (held as *pending* until sent or dropped); None at end of stream."""
        ...

    def send(self, chunk: Chunk) -> None:
        """Forward a chunk to the next stage (clears *pending* if it is that chunk)."""
        ...

    def send_head(self, size: int) -> None:
        """Forward the first ``size`` bytes of the pending chunk; keep the rest pending."""
        ...

    def drop(self) -> None:
        """Discard the pending chunk."""
        ...

    def close(self) -> None:
        """End the stream: the connection closes once the rest of the chain has drained."""
        ...

    def reset(self) -> None:
        """Abort the whole connection with a TCP RST on both sides."""
        ...


class ToxicKind(Protocol):
    """A toxic's own parameters plus how it moves data."""

    wire_type: ClassVar[str]
    # Upstream's CleanupToxic: removing the toxic closes the connections it
    # affected (the timeout toxic dropped their data, so the stream is broken).
    closes_on_removal: ClassVar[bool]

    async def pipe(self, stage: Stage) -> None: ...


TOXICS: dict[str, type[ToxicKind]] = {}
"""Registry: wire type name -> toxic class (upstream's ``toxics.Register``)."""

_K = TypeVar("_K")


def _register(wire_type: str) -> Callable[[type[_K]], type[_K]]:
    def decorate(cls: type[_K]) -> type[_K]:
        cls.wire_type = wire_type  # type: ignore[attr-defined]
        TOXICS[wire_type] = cls  # type: ignore[assignment]
        return cls

    return decorate


def _attr(wire: str, default: int = 0) -> Any:
    """A non-negative integer attribute named ``wire`` on the wire."""
    return dataclasses.field(default=default, metadata={"wire": wire})


def _seconds(ms: int) -> float:
    return ms / 1000.0


@_register("noop")
@dataclasses.dataclass(frozen=True, slots=True)
class Noop:
    """Passes data through unchanged (upstream registers it too)."""

    wire_type: ClassVar[str]
    closes_on_removal: ClassVar[bool] = False

    async def pipe(self, stage: Stage) -> None:
        while (chunk := await stage.recv()) is not None:
            stage.send(chunk)
        stage.close()


@_register("latency")
@dataclasses.dataclass(frozen=True, slots=True)
class Latency:
    """Delays every chunk by ``latency_ms`` +/- ``jitter_ms`` (uniform), from its arrival."""

    wire_type: ClassVar[str]
    closes_on_removal: ClassVar[bool] = False
    latency_ms: int = _attr("latency")
    jitter_ms: int = _attr("jitter")

    def delay_s(self) -> float:
        delay = self.latency_ms
        if self.jitter_ms > 0:
            delay += random.randrange(-self.jitter_ms, self.jitter_ms)
        return _seconds(delay)

    async def pipe(self, stage: Stage) -> None:
        while (chunk := await stage.recv()) is not None:
            sleep = self.delay_s() - (time.monotonic() - chunk.at)
            if sleep > 0:
                await asyncio.sleep(sleep)
                chunk.at += sleep
            stage.send(chunk)
        stage.close()


@_register("bandwidth")
@dataclasses.dataclass(frozen=True, slots=True)
class Bandwidth:
    """Limits throughput to ``rate_kbps`` KB/s (1 KB = 1000 bytes, as upstream); 0 = no limit."""

    wire_type: ClassVar[str]
    closes_on_removal: ClassVar[bool] = False
    rate_kbps: int = _attr("rate")

    async def pipe(self, stage: Stage) -> None:
        bytes_per_s = self.rate_kbps * 1000
        piece = int(bytes_per_s * BANDWIDTH_SLICE_S)
        owed_s = 0.0  # time this link still owes for data already sent
        while (chunk := await stage.recv()) is not None:
            if bytes_per_s <= 0:
                stage.send(chunk)
                continue
            owed_s += len(chunk.data) / bytes_per_s
            while len(chunk.data) > piece:
                await asyncio.sleep(BANDWIDTH_SLICE_S)
                stage.send_head(piece)
                owed_s -= BANDWIDTH_SLICE_S
            started = time.monotonic()
            if owed_s > 0:
                await asyncio.sleep(owed_s)
            # Sleeps overshoot; carry the error over to the next chunk.
            owed_s -= time.monotonic() - started
            stage.send(chunk)
        stage.close()


@_register("slow_close")
@dataclasses.dataclass(frozen=True, slots=True)
class SlowClose:
    """Delays the TCP close by ``delay_ms`` once the stream has ended."""

    wire_type: ClassVar[str]
    closes_on_removal: ClassVar[bool] = False
    delay_ms: int = _attr("delay")

    async def pipe(self, stage: Stage) -> None:
        while (chunk := await stage.recv()) is not None:
            stage.send(chunk)
        await asyncio.sleep(_seconds(self.delay_ms))
        stage.close()


@_register("timeout")
@dataclasses.dataclass(frozen=True, slots=True)
class Timeout:
    """Drops all data; closes the connection after ``timeout_ms`` (0 = hold it open forever)."""

    wire_type: ClassVar[str]
    closes_on_removal: ClassVar[bool] = True
    timeout_ms: int = _attr("timeout")

    async def _swallow(self, stage: Stage) -> None:
        while await stage.recv() is not None:
            stage.drop()

    async def pipe(self, stage: Stage) -> None:
        if self.timeout_ms > 0:
            try:
                async with asyncio.timeout(_seconds(self.timeout_ms)):
                    await self._swallow(stage)
            except TimeoutError:
                pass
        else:
            await self._swallow(stage)
        stage.close()


@_register("reset_peer")
@dataclasses.dataclass(frozen=True, slots=True)
class ResetPeer:
    """On the first data (or end of stream), waits ``timeout_ms`` then resets the connection."""

    wire_type: ClassVar[str]
    closes_on_removal: ClassVar[bool] = False
    timeout_ms: int = _attr("timeout")

    async def pipe(self, stage: Stage) -> None:
        await stage.recv()
        stage.drop()
        if self.timeout_ms > 0:
            await asyncio.sleep(_seconds(self.timeout_ms))
        stage.reset()


@_register("slicer")
@dataclasses.dataclass(frozen=True, slots=True)
class Slicer:
    """Slices data into ``average_size`` +/- ``size_variation`` byte writes, ``delay_us`` apart."""

    wire_type: ClassVar[str]
    closes_on_removal: ClassVar[bool] = False
    average_size: int = _attr("average_size", 1)
    size_variation: int = _attr("size_variation")
    delay_us: int = _attr("delay")

    def sizes(self, total: int) -> list[int]:
        """Slice sizes for ``total`` bytes: halve recursively, as upstream's ``chunk``."""
        sizes: list[int] = []
        todo = [total]  # a stack of pieces, the leftmost on top
        while todo:
            size = todo.pop()
            if size - self.average_size <= self.size_variation or size < 2:
                sizes.append(size)
                continue
            mid = size // 2
            if self.size_variation > 0:
                mid += random.randrange(-self.size_variation, self.size_variation)
            mid = min(max(mid, 1), size - 1)
            todo.append(size - mid)
            todo.append(mid)
        return sizes

    async def pipe(self, stage: Stage) -> None:
        delay_s = self.delay_us / 1_000_000
        while (chunk := await stage.recv()) is not None:
            for size in self.sizes(len(chunk.data)):
                stage.send_head(size)
                if delay_s > 0:
                    await asyncio.sleep(delay_s)
            stage.drop()  # nothing is left of it
        stage.close()


@_register("limit_data")
@dataclasses.dataclass(frozen=True, slots=True)
class LimitData:
    """Closes the connection once ``bytes`` bytes have passed (counted per connection)."""

    wire_type: ClassVar[str]
    closes_on_removal: ClassVar[bool] = False
    bytes: int = _attr("bytes")

    async def pipe(self, stage: Stage) -> None:
        # The count lives in the link's state so it survives updates of this toxic.
        while (chunk := await stage.recv()) is not None:
            sent: int = stage.state.get("sent", 0)
            remaining = max(self.bytes - sent, 0)
            if len(chunk.data) > remaining:
                chunk.data = memoryview(chunk.data)[:remaining]
            if len(chunk.data) > 0:
                sent += len(chunk.data)
                stage.state["sent"] = sent
                stage.send(chunk)
            else:
                stage.drop()
            if sent >= self.bytes:
                break
        stage.close()
