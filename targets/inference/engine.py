"""Continuous batching: one thread decodes every running sequence together.

Requests wait in a bounded queue; between two decode steps the engine thread admits
as many as there are free slots (one batched prefill for the group), merges them
into the running batch and goes on decoding everyone at once. Finished and
cancelled sequences leave at the next step boundary, freeing their slot.

The model runs on this thread, never on the event loop, so the HTTP side stays
responsive. Text reaches each request through its own asyncio queue; the events of
one step are handed to the loop in a single `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import torch

from targets.inference.backends import LoadedModel
from targets.inference.errors import EngineStoppedError, QueueFullError
from targets.inference.kvbatch import RunningBatch
from targets.inference.sampling import SamplingParams, SamplingRows, sample_next, sequence_key
from targets.inference.stops import StopMatcher
from targets.inference.tokenizer import IncrementalDecoder

__all__ = [
    "Engine",
    "EngineStats",
    "Event",
    "FinishReason",
    "GenerationStream",
    "engine_summary",
]

# How long `stop()` waits for the engine thread to leave its current step.
STOP_JOIN_TIMEOUT_S = 30.0
_THREAD_NAME = "gatecrash-inference-engine"

_log = logging.getLogger(__name__)


class FinishReason(StrEnum):
    STOP = "stop"  # end-of-sequence token or a stop string
    LENGTH = "length"  # max_tokens or the context limit
    CANCELLED = "cancelled"  # the client went away
    ERROR = "error"  # the engine failed or shut down


@dataclass(frozen=True)
class Event:
    """Text for one request; the last event of a stream has a `finish_reason`."""

    text: str = ""
    completion_tokens: int = 0
    finish_reason: FinishReason | None = None
    error: str | None = None


@dataclass
class EngineStats:
    """Counters; each field is written by one thread only (the loop or the engine)."""

    generated_tokens: int = 0
    finished_requests: int = 0
    cancelled_running: int = 0  # engine thread
    cancelled_queued: int = 0  # event loop
    rejected_requests: int = 0  # event loop
    decode_steps: int = 0
    failed_steps: int = 0

    @property
    def cancelled_requests(self) -> int:
        return self.cancelled_running + self.cancelled_queued


class GenerationStream:
    """A request's handle on the event loop: read its events, or cancel it."""

    def __init__(self, engine: Engine, request_id: int, prompt_ids: list[int],
                 params: SamplingParams) -> None:
        self.request_id = request_id
        self.prompt_ids = prompt_ids
        self.params = params
        self.cancelled = False  # set on the loop, read by the engine thread
        # Set once the last event is emitted: by the engine thread, or by `Engine.cancel`
        # on the loop for a stream that never left the queue.
        self.done = False
        self._engine = engine
        self._queue: asyncio.Queue[Event] = asyncio.Queue()

    @property
    def prompt_tokens(self) -> int:
        return len(self.prompt_ids)

    def cancel(self) -> None:
        """Free this request's queue place or batch slot (idempotent)."""
        self._engine.cancel(self)

    async def batches(self) -> AsyncIterator[list[Event]]:
        """Events as they come, several at once when the reader fell behind."""
        while True:
            events = [await self._queue.get()]
            while not self._queue.empty():
                events.append(self._queue.get_nowait())
            yield events
            if events[-1].finish_reason is not None:
                return

    def _deliver(self, event: Event) -> None:
        self._queue.put_nowait(event)


@dataclass
class _Sequence:
    """Engine-thread state of one running request."""

    stream: GenerationStream
    decoder: IncrementalDecoder
    stopper: StopMatcher
    key: int  # of its sampling noise (from the request's seed)
    generated: int = 0
    finished: bool = False


class Engine:
    """The batching scheduler. `submit`/`cancel` on the event loop; `start` runs the thread.

    `max_batch_size` sequences decode together; up to `max_queue` more wait for a slot.
    """

    def __init__(self, loaded: LoadedModel, *, max_batch_size: int, max_queue: int) -> None:
        self.loaded = loaded
        self.max_batch_size = max_batch_size
        self.max_queue = max_queue
        self.stats = EngineStats()
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._waiting: deque[GenerationStream] = deque()
        self._running: list[_Sequence] = []
        self._batch = RunningBatch(loaded.device)
        self._rows: SamplingRows | None = None  # rebuilt when the batch's rows change
        self._outbox: list[tuple[GenerationStream, Event]] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---- event-loop side -------------------------------------------------

    @property
    def queue_depth(self) -> int:
        return len(self._waiting)

    @property
    def batch_size(self) -> int:
        return len(self._running)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name=_THREAD_NAME, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread; every pending request ends with an error event."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(STOP_JOIN_TIMEOUT_S)

    def submit(self, prompt_ids: list[int], params: SamplingParams) -> GenerationStream:
        """Queue a request; QueueFullError at once when `max_queue` are already waiting."""
        if not self.alive:
            raise EngineStoppedError("the inference engine is not running")
        with self._cond:
            if len(self._waiting) >= self.max_queue:
                self.stats.rejected_requests += 1
                raise QueueFullError(
                    f"{len(self._waiting)} requests already waiting (max_queue={self.max_queue})"
                )
            stream = GenerationStream(self, next(self._ids), prompt_ids, params)
            self._waiting.append(stream)
            self._cond.notify()
        return stream

    def cancel(self, stream: GenerationStream) -> None:
        """Called on the event loop. A queued stream ends here; a running one at the next step."""
        if stream.cancelled:
            return
        stream.cancelled = True
        with self._cond:
            try:
                self._waiting.remove(stream)
            except ValueError:
                return  # running (the thread drops it at the next step) or already done
        self.stats.cancelled_queued += 1
        stream.done = True
        stream._deliver(Event(finish_reason=FinishReason.CANCELLED))

    # ---- engine thread -----------------------------------------------------

    def _run(self) -> None:
        try:
            with torch.inference_mode():
                while (admitted := self._next_work()) is not None:
                    try:
                        self._drop_cancelled()
                        if admitted:
                            self._prefill(admitted)
                            self._flush()
                        if self._running:
                            self._decode_step()
                    except Exception as exc:  # a failed step must not kill the service
                        _log.exception("inference step failed; failing the running batch")
                        self.stats.failed_steps += 1
                        message = f"inference failed: {type(exc).__name__}: {exc}"
                        self._fail([*admitted, *(s.stream for s in self._running)], message)
                        self._running = []
                        self._batch = RunningBatch(self.loaded.device)
                        self._rows = None
                    self._flush()
        finally:
            self._stopping = True
            with self._cond:
                waiting, self._waiting = list(self._waiting), deque()
            self._fail([*waiting, *(s.stream for s in self._running)],
                       "the inference engine stopped")
            self._flush()

    def _next_work(self) -> list[GenerationStream] | None:
        """Streams to admit now (maybe none); None when stopping."""
        with self._cond:
            while not self._stopping and not self._waiting and not self._running:
                self._cond.wait()
            if self._stopping:
                return None
            admitted: list[GenerationStream] = []
            while self._waiting and len(self._running) + len(admitted) < self.max_batch_size:
                admitted.append(self._waiting.popleft())
            return admitted

    def _new_sequence(self, stream: GenerationStream) -> _Sequence:
        return _Sequence(
            stream=stream,
            decoder=self.loaded.tokenizer.decoder(),
            stopper=StopMatcher(stream.params.stop),
            key=sequence_key(stream.params.seed),
        )

    def _prefill(self, streams: list[GenerationStream]) -> None:
        from transformers import DynamicCache

        device = self.loaded.device
        length = max(s.prompt_tokens for s in streams)
        ids = torch.full((len(streams), length), self.loaded.tokenizer.pad_token_id,
                         dtype=torch.long)
        mask = torch.zeros((len(streams), length), dtype=torch.long)
        for row, stream in enumerate(streams):
            ids[row, length - stream.prompt_tokens:] = torch.tensor(stream.prompt_ids)
            mask[row, length - stream.prompt_tokens:] = 1
        ids, mask = ids.to(device), mask.to(device)
        extra = {"logits_to_keep": 1} if self.loaded.accepts_logits_to_keep else {}
        cache = DynamicCache()
        out = self.loaded.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=(mask.cumsum(dim=1) - 1).clamp(min=0),
            past_key_values=cache,
            use_cache=True,
            **extra,
        )
        sequences = [self._new_sequence(s) for s in streams]
        next_ids = sample_next(out.logits[:, -1, :], self._sampling_rows(sequences))
        self._batch.join(out.past_key_values, mask, next_ids)
        self._running.extend(sequences)
        self._rows = None
        self._accept(sequences, next_ids.tolist())

    def _decode_step(self) -> None:
        out = self.loaded.model(**self._batch.decode_inputs())
        self.stats.decode_steps += 1
        if self._rows is None:
            self._rows = self._sampling_rows(self._running)
        next_ids = sample_next(out.logits[:, -1, :], self._rows)
        self._rows.advance()
        self._batch.advance(next_ids)
        self._accept(self._running, next_ids.tolist())  # the step's one device sync

    def _sampling_rows(self, sequences: list[_Sequence]) -> SamplingRows:
        return SamplingRows.build([s.stream.params for s in sequences],
                                  [s.key for s in sequences],
                                  [s.generated for s in sequences], self.loaded.device)

    def _accept(self, sequences: list[_Sequence], tokens: list[int]) -> None:
        """Turn each sequence's new token into text and events, then drop finished rows."""
        eos = self.loaded.tokenizer.eos_token_ids
        context_len = self.loaded.context_len
        for seq, token in zip(sequences, tokens, strict=True):
            seq.generated += 1
            params = seq.stream.params
            if token in eos and not params.ignore_eos:
                self._finish(seq, seq.stopper.feed(seq.decoder.flush())[0]
                             + seq.stopper.flush(), FinishReason.STOP)
                continue
            text, stopped = seq.stopper.feed(seq.decoder.push(token))
            if stopped:
                self._finish(seq, text, FinishReason.STOP)
            elif (seq.generated >= params.max_tokens
                  or seq.stream.prompt_tokens + seq.generated >= context_len):
                tail, _ = seq.stopper.feed(seq.decoder.flush())
                self._finish(seq, text + tail + seq.stopper.flush(), FinishReason.LENGTH)
            elif text:
                self._emit(seq.stream, Event(text=text, completion_tokens=seq.generated))
        self.stats.generated_tokens += len(tokens)
        self._remove_finished()

    def _finish(self, seq: _Sequence, text: str, reason: FinishReason) -> None:
        seq.finished = True
        self.stats.finished_requests += 1
        self._emit(seq.stream, Event(text=text, completion_tokens=seq.generated,
                                     finish_reason=reason))

    def _drop_cancelled(self) -> None:
        for seq in self._running:
            if seq.stream.cancelled and not seq.finished:
                seq.finished = True
                self.stats.cancelled_running += 1
                self._emit(seq.stream, Event(completion_tokens=seq.generated,
                                             finish_reason=FinishReason.CANCELLED))
        self._remove_finished()

    def _remove_finished(self) -> None:
        keep = [i for i, seq in enumerate(self._running) if not seq.finished]
        if len(keep) != len(self._running):
            self._batch.keep_rows(keep)
            self._running = [self._running[i] for i in keep]
            self._rows = None

    def _fail(self, streams: list[GenerationStream], message: str) -> None:
        for stream in streams:
            if not stream.done:
                self._emit(stream, Event(finish_reason=FinishReason.ERROR, error=message))

    def _emit(self, stream: GenerationStream, event: Event) -> None:
        if event.finish_reason is not None:
            stream.done = True
        self._outbox.append((stream, event))

    def _flush(self) -> None:
        if not self._outbox or self._loop is None:
            return
        outbox, self._outbox = self._outbox, []
        # A closed loop (shutdown) has nobody left to read these events.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(_deliver_all, outbox)


def _deliver_all(outbox: list[tuple[GenerationStream, Event]]) -> None:
    for stream, event in outbox:
        stream._deliver(event)


def engine_summary(engine: Engine) -> dict[str, Any]:
    """What /health says about the engine."""
    loaded = engine.loaded
    return {
        "model": loaded.name,
        "device": str(loaded.device),
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "queue_depth": engine.queue_depth,
        "batch_size": engine.batch_size,
        "max_batch_size": engine.max_batch_size,
        "max_queue": engine.max_queue,
        "context_len": loaded.context_len,
        "load_seconds": round(loaded.load_seconds, 3),
        "engine_alive": engine.alive,
        "generated_tokens": engine.stats.generated_tokens,
    }
