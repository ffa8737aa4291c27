"""A link: one direction of one proxied connection, through its chain of toxics.

Like upstream's ``link.go``, a link is ``source -> stage -> stage -> dest``,
one stage per toxic of that direction, in the order the toxics were added.
Unlike upstream there is no hidden noop stage and no goroutine per stage when
nothing is toxic: with no active stage, ``head`` is None and the socket
protocol writes each received buffer straight into the destination transport
(see ``proxy._Side.data_received``) -- the fast path that the benchmark
measures. A stage whose toxicity roll failed for this connection is kept (so
updates can re-roll it) but is not wired into the chain.

Everything here runs on the event loop thread and rewiring is synchronous, so
adding, updating or removing a toxic never loses or reorders data: a stage
being taken out first forwards the chunk it was holding, then its queue.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from chaos.toxiproxy.toxics import Chunk
from chaos.toxiproxy.wrapper import Stream, Toxic

__all__ = ["ByteCounter", "Link"]

# Bytes queued inside a link's stages before the source socket stops being
# read. Upstream buffers up to 1024 chunks per latency toxic; 16 MiB keeps a
# 100 ms latency toxic from capping a bulk transfer below ~160 MB/s.
QUEUE_HIGH_WATER = 16 * 1024 * 1024
QUEUE_LOW_WATER = 8 * 1024 * 1024

logger = logging.getLogger(__name__)


class ByteCounter:
    """A mutable byte count shared by all links of one proxy and direction."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


class _Sink(Protocol):
    def push(self, chunk: Chunk | None) -> None: ...


class _Stage:
    """One toxic on one link: an inbox, the chunk in hand, and the toxic's task."""

    def __init__(self, link: Link, toxic: Toxic) -> None:
        self.link = link
        self.toxic = toxic
        self.output: _Sink = link
        self.inbox: deque[Chunk | None] = deque()
        self.pending: Chunk | None = None
        self.state: dict[str, Any] = {}
        self.active = False
        self.closed = False
        self._task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[None] | None = None

    # -- lifecycle, driven by the link ------------------------------------

    def start(self) -> None:
        """Roll toxicity for this connection; run the toxic if it hits."""
        self.active = random.random() < self.toxic.toxicity
        if self.active:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            await self.toxic.kind.pipe(self)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("toxic %s failed; closing the connection", self.toxic.name)
        self.close()

    def interrupt(self) -> None:
        """Stop the toxic; forward the chunk it held, as upstream's interrupt does."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._waiter = None
        held, self.pending = self.pending, None
        if held is not None and not self.closed:
            self.output.push(held)

    def flush(self) -> None:
        """Hand every queued chunk (and end of stream) to the next stage, in order."""
        while self.inbox:
            chunk = self.inbox.popleft()
            if chunk is not None:
                self.link.dequeued(len(chunk.data))
            self.output.push(chunk)

    # -- the sink side: the previous stage or the socket pushes here ------

    def push(self, chunk: Chunk | None) -> None:
        if self.closed:
            return
        self.inbox.append(chunk)
        if chunk is not None:
            self.link.queued(len(chunk.data))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the toxics.Stage protocol: what a toxic's pipe() calls ------------

    async def recv(self) -> Chunk | None:
        while not self.inbox:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
        chunk = self.inbox.popleft()
        if chunk is not None:
            self.link.dequeued(len(chunk.data))
        self.pending = chunk
        return chunk

    def send(self, chunk: Chunk) -> None:
        if chunk is self.pending:
            self.pending = None
        self.output.push(chunk)

    def send_head(self, size: int) -> None:
        held = self.pending
        if held is None:
            return
        if size >= len(held.data):
            self.send(held)
            return
        view = memoryview(held.data)
        self.output.push(Chunk(view[:size], held.at))
        held.data = view[size:]

    def drop(self) -> None:
        self.pending = None

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.pending = None
        for chunk in self.inbox:
            if chunk is not None:
                self.link.dequeued(len(chunk.data))
        self.inbox.clear()
        self.output.push(None)

    def reset(self) -> None:
        self.closed = True
        self.link.reset()

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


class Link:
    """``source`` transport -> active stages -> ``dest`` transport, for one direction."""

    def __init__(
        self,
        stream: Stream,
        source: asyncio.Transport,
        dest: asyncio.Transport,
        counter: ByteCounter,
        reset: Callable[[], None],
    ) -> None:
        self.stream = stream
        self.source = source
        self.dest = dest
        self.counter = counter
        self.reset = reset
        # First active stage, or None: the socket then writes straight to dest.
        self.head: _Stage | None = None
        self.stages: list[_Stage] = []
        self.ended = False  # end of stream has entered the link
        self.finished = False  # end of stream has reached dest (or dest is gone)
        self._queued = 0
        self._queue_full = False
        self._dest_paused = False
        self._reading_paused = False

    # -- data in, from the source socket ------------------------------------

    def feed_eof(self) -> None:
        if self.ended:
            return
        self.ended = True
        (self.head or self).push(None)

    # -- data out: the link itself is the last sink of the chain ------------

    def push(self, chunk: Chunk | None) -> None:
        if self.finished:
            return
        if chunk is None:
            # Upstream closes the destination fully once its input ended.
            self.finished = True
            if not self.dest.is_closing():
                self.dest.close()
            return
        self.dest.write(chunk.data)

    def dest_lost(self) -> None:
        """The destination socket is gone: nothing more can be delivered."""
        self.finished = True
        self.stop()
        self._dest_paused = True
        self._update_reading()

    def stop(self) -> None:
        for stage in self.stages:
            stage.cancel()

    # -- backpressure -------------------------------------------------------

    def queued(self, size: int) -> None:
        self._queued += size
        if not self._queue_full and self._queued > QUEUE_HIGH_WATER:
            self._queue_full = True
            self._update_reading()

    def dequeued(self, size: int) -> None:
        self._queued -= size
        if self._queue_full and self._queued <= QUEUE_LOW_WATER:
            self._queue_full = False
            self._update_reading()

    def set_dest_paused(self, paused: bool) -> None:
        self._dest_paused = paused
        self._update_reading()

    @property
    def reading_paused(self) -> bool:
        return self._reading_paused

    def _update_reading(self) -> None:
        pause = self._queue_full or self._dest_paused
        if pause == self._reading_paused or self.source.is_closing():
            return
        self._reading_paused = pause
        if pause:
            self.source.pause_reading()
        else:
            self.source.resume_reading()

    # -- toxics, applied to this live link ----------------------------------

    def add_toxics(self, toxics: Iterable[Toxic]) -> None:
        for toxic in toxics:
            self.add_toxic(toxic)

    def add_toxic(self, toxic: Toxic) -> None:
        stage = _Stage(self, toxic)
        self.stages.append(stage)
        if self.finished:
            stage.closed = True
            return
        stage.start()
        if stage.active:
            self._rewire()

    def update_toxic(self, toxic: Toxic) -> None:
        stage = self._find(toxic.name)
        if stage is None:
            return
        was_active = stage.active
        stage.interrupt()
        stage.toxic = toxic
        if stage.closed:
            return
        stage.start()
        if not stage.active:
            stage.flush()
        if stage.active != was_active:
            self._rewire()

    def remove_toxic(self, name: str) -> None:
        stage = self._find(name)
        if stage is None:
            return
        self.stages.remove(stage)
        if not stage.active:
            return
        stage.interrupt()
        if stage.toxic.kind.closes_on_removal:
            stage.close()
        else:
            stage.flush()
        stage.active = False
        self._rewire()

    def _find(self, name: str) -> _Stage | None:
        for stage in self.stages:
            if stage.toxic.name == name:
                return stage
        return None

    def _rewire(self) -> None:
        nxt: _Sink = self
        head: _Stage | None = None
        for stage in reversed(self.stages):
            if stage.active:
                stage.output = nxt
                nxt = head = stage
        self.head = head
