"""The real `tiny` model behind both architectures, driven by the official openai client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from gatecrash.runtimes import deployed_stack
from gatecrash.stacks import Stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["single", "dual"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    with deployed_stack(request.param, inference_backend="tiny", timeout_s=240) as (stack, _):
        yield stack


def client(stack: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stack.spec.entry_url}/v1", api_key=stack.api_key,
                         max_retries=0, timeout=60.0,
                         http_client=httpx.Client(trust_env=False, timeout=60.0))


def test_models_list_through_the_gateways(stack: Stack) -> None:
    models = client(stack).models.list()
    assert [m.id for m in models.data] == ["gatecrash-tiny"]


def test_non_streamed_completion_with_usage(stack: Stack) -> None:
    raw = client(stack).chat.completions.with_raw_response.create(
        model="tiny", messages=[{"role": "user", "content": "hello"}], max_tokens=6,
        temperature=0.5, seed=11)
    answer = raw.parse()
    assert answer.choices[0].message.content is not None
    assert answer.usage is not None and 1 <= answer.usage.completion_tokens <= 6
    assert raw.headers["x-gatecrash-route"] in ("primary", "retry")
    assert raw.headers["x-gatecrash-inference"].startswith("inference-")


def test_streamed_completion_arrives_in_chunks(stack: Stack) -> None:
    stream = client(stack).chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "stream please"}], max_tokens=8,
        stream=True, stream_options={"include_usage": True}, temperature=0.7, seed=5)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(chunks) >= 3 and text
    assert usage and usage[-1].completion_tokens >= 1


def test_a_fixed_seed_gives_the_same_answer_and_temperature_zero_is_cached(stack: Stack) -> None:
    ask = {"model": "tiny", "messages": [{"role": "user", "content": "same question"}],
           "max_tokens": 6, "temperature": 0}
    c = client(stack)
    first = c.chat.completions.with_raw_response.create(**ask)
    second = c.chat.completions.with_raw_response.create(**ask)
    assert first.parse().choices[0].message.content == second.parse().choices[0].message.content
    assert second.headers["x-gatecrash-route"] == "cache-hit"
