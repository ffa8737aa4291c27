"""The OpenAI API against the tiny backend: openai client, SSE framing, usage, seeds."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from targets.headers import HEADER_INSTANCE
from targets.inference.tokenizer import CharTokenizer
from tests.inference.conftest import RunningServer

pytestmark = pytest.mark.timeout(60)

MODEL = "gatecrash-tiny"
HELLO: Any = [{"role": "user", "content": "hello"}]


def client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.v1, api_key="unused", max_retries=0, timeout=30)


def prompt_tokens(messages: list[dict[str, str]]) -> int:
    return len(CharTokenizer().encode_chat(messages))


def sse_events(text: str) -> list[str]:
    """The `data:` payloads of an event stream, checking the framing on the way."""
    assert text.endswith("\n\n"), "an event stream ends with a blank line"
    events = text.split("\n\n")[:-1]
    assert all(e.startswith("data: ") for e in events), events
    return [e.removeprefix("data: ") for e in events]


def test_openai_client_non_stream(tiny_server: RunningServer) -> None:
    answer = client(tiny_server).chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=12, seed=7, extra_body={"ignore_eos": True},
    )
    assert answer.object == "chat.completion"
    assert answer.model == MODEL
    choice = answer.choices[0]
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content
    assert choice.finish_reason == "length"
    assert answer.usage is not None
    assert answer.usage.prompt_tokens == prompt_tokens(HELLO)
    assert answer.usage.completion_tokens == 12
    assert answer.usage.total_tokens == prompt_tokens(HELLO) + 12


def test_openai_client_stream_matches_non_stream(tiny_server: RunningServer) -> None:
    api = client(tiny_server)
    kwargs = {"model": MODEL, "messages": HELLO, "max_tokens": 10, "seed": 11,
              "extra_body": {"ignore_eos": True}}
    whole = api.chat.completions.create(**kwargs)
    chunks = list(api.chat.completions.create(
        stream=True, stream_options={"include_usage": True}, **kwargs))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "length" and not any(finishes[:-1])
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens == 10
    assert usage_chunk.usage.prompt_tokens == prompt_tokens(HELLO)
    assert len({c.id for c in chunks}) == 1


def test_sse_framing(tiny_server: RunningServer) -> None:
    body = {"model": MODEL, "messages": HELLO, "max_tokens": 6, "stream": True,
            "seed": 1, "ignore_eos": True}
    response = httpx.post(f"{tiny_server.v1}/chat/completions", json=body, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers[HEADER_INSTANCE] == tiny_server.instance
    payloads = sse_events(response.text)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None,
                                        "finish_reason": "length"}
    assert all("usage" not in c for c in chunks), "usage only with include_usage"
    # Each of the 6 tokens is one printable character, sent in its own chunk.
    assert len(chunks) == 1 + 6 + 1


def test_usage_without_ignore_eos_is_consistent(tiny_server: RunningServer) -> None:
    messages = [{"role": "system", "content": "be brief"}, *HELLO]
    answer = client(tiny_server).chat.completions.create(
        model=MODEL, messages=messages, max_tokens=40, seed=3)
    assert answer.usage is not None
    assert answer.usage.prompt_tokens == prompt_tokens(messages)
    assert 1 <= answer.usage.completion_tokens <= 40
    assert answer.choices[0].finish_reason in ("stop", "length")
    if answer.choices[0].finish_reason == "length":
        assert answer.usage.completion_tokens == 40


def test_default_max_tokens(tiny_server: RunningServer) -> None:
    answer = client(tiny_server).chat.completions.create(
        model=MODEL, messages=HELLO, seed=5, extra_body={"ignore_eos": True})
    assert answer.usage is not None
    assert answer.usage.completion_tokens == tiny_server.settings.max_tokens_default


def test_fixed_seed_is_deterministic(tiny_server: RunningServer) -> None:
    api = client(tiny_server)

    def run(seed: int | None, temperature: float = 1.0) -> str:
        answer = api.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=24, seed=seed, temperature=temperature,
            extra_body={"ignore_eos": True})
        return answer.choices[0].message.content or ""

    assert run(42) == run(42)
    assert run(42) != run(43)
    assert run(None, temperature=0) == run(1, temperature=0) == run(2, temperature=0)


def test_max_completion_tokens_and_stop(tiny_server: RunningServer) -> None:
    api = client(tiny_server)
    full = api.chat.completions.create(
        model=MODEL, messages=HELLO, max_completion_tokens=20, seed=9,
        extra_body={"ignore_eos": True}).choices[0].message.content or ""
    assert len(full) <= 20
    stop = full[5:7]
    cut = api.chat.completions.create(
        model=MODEL, messages=HELLO, max_completion_tokens=20, seed=9, stop=[stop],
        extra_body={"ignore_eos": True})
    assert cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].message.content == full[: full.index(stop)]


def test_top_p_tiny_is_greedy(tiny_server: RunningServer) -> None:
    api = client(tiny_server)
    kwargs = {"model": MODEL, "messages": HELLO, "max_tokens": 16,
              "extra_body": {"ignore_eos": True}}
    greedy = api.chat.completions.create(temperature=0, **kwargs)
    nucleus = api.chat.completions.create(top_p=1e-6, seed=4, **kwargs)
    assert nucleus.choices[0].message.content == greedy.choices[0].message.content


def test_models_and_health(tiny_server: RunningServer) -> None:
    models = client(tiny_server).models.list()
    assert [m.id for m in models.data] == [MODEL]
    assert client(tiny_server).models.retrieve(MODEL).id == MODEL
    with pytest.raises(openai.NotFoundError):
        client(tiny_server).models.retrieve("gpt-nope")
    health = tiny_server.health()
    assert health["status"] == "ok"
    assert health["device"] == "cpu" or str(health["device"]).startswith("cuda")
    assert health["model"] == MODEL
    assert health["max_batch_size"] == 4
    assert {"queue_depth", "batch_size", "backend", "dtype"} <= set(health)
    metrics = httpx.get(f"{tiny_server.url}/metrics", timeout=10).text
    assert "gatecrash_inference_queue_depth" in metrics
