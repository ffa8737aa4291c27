"""The batching engine driven directly (no HTTP): cancellation and failure paths."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from targets.inference.backends import LoadedModel, load_model
from targets.inference.engine import Engine, Event, FinishReason, GenerationStream
from targets.inference.errors import QueueFullError
from targets.inference.sampling import SamplingParams
from targets.inference.settings import InferenceSettings

pytestmark = pytest.mark.timeout(60)

PROMPT = [1, 5, 40, 41, 2, 6]
LONG = SamplingParams(max_tokens=4000, ignore_eos=True)
EVENT_TIMEOUT_S = 20.0


@pytest.fixture(scope="module")
def tiny() -> LoadedModel:
    return load_model(InferenceSettings(backend="tiny", device="cpu"))


async def last_event(stream: GenerationStream) -> Event:
    async def drain() -> Event:
        last = Event()
        async for events in stream.batches():
            last = events[-1]
        return last

    return await asyncio.wait_for(drain(), EVENT_TIMEOUT_S)


async def until(predicate: Any) -> None:
    async with asyncio.timeout(EVENT_TIMEOUT_S):
        while not predicate():
            await asyncio.sleep(0.01)


def test_cancel_queued_and_running_streams(tiny: LoadedModel) -> None:
    async def scenario() -> None:
        engine = Engine(tiny, max_batch_size=1, max_queue=1)
        engine.start(asyncio.get_running_loop())
        try:
            running = engine.submit(PROMPT, LONG)
            await until(lambda: engine.batch_size == 1)
            queued = engine.submit(PROMPT, LONG)
            with pytest.raises(QueueFullError):
                engine.submit(PROMPT, LONG)
            queued.cancel()
            assert engine.queue_depth == 0
            assert (await last_event(queued)).finish_reason == FinishReason.CANCELLED
            running.cancel()
            assert (await last_event(running)).finish_reason == FinishReason.CANCELLED
            await until(lambda: engine.batch_size == 0)
            assert engine.stats.cancelled_requests == 2
            assert engine.stats.rejected_requests == 1
        finally:
            await asyncio.to_thread(engine.stop)

    asyncio.run(scenario())


class _BrokenModel:
    """Prefill works, every decode step raises (like a CUDA out-of-memory)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, **kwargs: Any) -> Any:
        if kwargs["input_ids"].shape[1] == 1:
            raise RuntimeError("simulated device failure")
        return self.model(**kwargs)


def test_a_failed_step_fails_its_requests_not_the_engine(tiny: LoadedModel) -> None:
    broken = dataclasses.replace(tiny, model=_BrokenModel(tiny.model))

    async def scenario() -> None:
        engine = Engine(broken, max_batch_size=2, max_queue=2)
        engine.start(asyncio.get_running_loop())
        try:
            final = await last_event(engine.submit(PROMPT, LONG))
            assert final.finish_reason == FinishReason.ERROR
            assert final.error is not None and "simulated device failure" in final.error
            assert engine.alive and engine.batch_size == 0
            # A request that needs no decode step still succeeds afterwards.
            ok = await last_event(engine.submit(PROMPT, SamplingParams(max_tokens=1)))
            assert ok.finish_reason in (FinishReason.LENGTH, FinishReason.STOP)
            assert engine.stats.failed_steps == 1
        finally:
            await asyncio.to_thread(engine.stop)

    asyncio.run(scenario())


def test_stop_ends_pending_requests_with_an_error(tiny: LoadedModel) -> None:
    async def scenario() -> None:
        engine = Engine(tiny, max_batch_size=1, max_queue=4)
        engine.start(asyncio.get_running_loop())
        streams = [engine.submit(PROMPT, LONG) for _ in range(3)]
        await until(lambda: engine.batch_size == 1)
        await asyncio.to_thread(engine.stop)
        for stream in streams:
            final = await last_event(stream)
            assert final.finish_reason == FinishReason.ERROR
        assert not engine.alive

    asyncio.run(scenario())
