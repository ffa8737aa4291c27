"""Batching, cancellation and the bounded queue, observed through /health and /metrics."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import httpx
import openai
import pytest

from tests.inference.conftest import LONG_TOKENS, POLL_INTERVAL_S, RunningServer

pytestmark = pytest.mark.timeout(60)

HELLO: Any = [{"role": "user", "content": "hello"}]


def long_stream(server: RunningServer, client: httpx.Client) -> Any:
    body = {"messages": HELLO, "max_tokens": LONG_TOKENS, "stream": True, "ignore_eos": True}
    return client.stream("POST", f"{server.v1}/chat/completions", json=body)


def wait_for(server: RunningServer, key: str, value: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while server.health()[key] != value:
        if time.monotonic() > deadline:
            pytest.fail(f"{key} never reached {value}: {server.health()}")
        time.sleep(POLL_INTERVAL_S)


def metric(server: RunningServer, name: str) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def test_concurrent_requests_share_decode_steps(tiny_server: RunningServer) -> None:
    tiny_server.wait_idle()
    api = openai.OpenAI(base_url=tiny_server.v1, api_key="unused", max_retries=0, timeout=30)
    steps_before = metric(tiny_server, "gatecrash_inference_decode_steps_total")
    n, tokens = 8, 30

    def ask(seed: int) -> int:
        answer = api.chat.completions.create(
            model="m", messages=HELLO, max_tokens=tokens, seed=seed,
            extra_body={"ignore_eos": True})
        assert answer.usage is not None
        return answer.usage.completion_tokens

    with ThreadPoolExecutor(n) as pool:
        assert list(pool.map(ask, range(n))) == [tokens] * n
    steps = metric(tiny_server, "gatecrash_inference_decode_steps_total") - steps_before
    # One at a time would take n * (tokens - 1) steps; batches of 4 need about a quarter.
    assert steps < n * (tokens - 1) * 0.6, steps
    tiny_server.wait_idle()


def test_client_disconnect_frees_the_slot(tiny_server: RunningServer) -> None:
    tiny_server.wait_idle()
    cancelled_before = metric(tiny_server, "gatecrash_inference_cancelled_requests_total")
    with httpx.Client(timeout=30) as client, long_stream(tiny_server, client) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        received = [next(lines) for _ in range(12)]
        assert any('"content"' in line for line in received)
        assert tiny_server.health()["batch_size"] == 1
    # Leaving the block closed the connection mid-stream.
    tiny_server.wait_idle()
    assert metric(tiny_server, "gatecrash_inference_cancelled_requests_total") \
        == cancelled_before + 1


def test_queue_full_answers_503_at_once(narrow_server: RunningServer) -> None:
    narrow_server.wait_idle()
    with ExitStack() as stack:
        client = stack.enter_context(httpx.Client(timeout=30))
        running = stack.enter_context(long_stream(narrow_server, client))
        assert running.status_code == 200
        wait_for(narrow_server, "batch_size", 1)
        queued = stack.enter_context(long_stream(narrow_server, client))
        assert queued.status_code == 200  # headers go out at once; tokens come later
        wait_for(narrow_server, "queue_depth", 1)

        started = time.monotonic()
        refused = httpx.post(f"{narrow_server.v1}/chat/completions",
                             json={"messages": HELLO, "max_tokens": 4}, timeout=30)
        assert time.monotonic() - started < 5, "a full queue must answer at once"
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "2"
        error = refused.json()["error"]
        assert error["code"] == "queue_full" and "retry later" in error["message"]

        api = openai.OpenAI(base_url=narrow_server.v1, api_key="unused", max_retries=0)
        with pytest.raises(openai.InternalServerError) as info:
            api.chat.completions.create(model="m", messages=HELLO)
        assert info.value.status_code == 503
    # Both streams closed: the running one leaves the batch, the queued one the queue.
    narrow_server.wait_idle()


def test_disconnect_while_queued_leaves_the_queue(narrow_server: RunningServer) -> None:
    narrow_server.wait_idle()
    with httpx.Client(timeout=30) as client, long_stream(narrow_server, client):
        wait_for(narrow_server, "batch_size", 1)
        with httpx.Client(timeout=30) as other, long_stream(narrow_server, other):
            wait_for(narrow_server, "queue_depth", 1)
        wait_for(narrow_server, "queue_depth", 0)
        assert narrow_server.health()["batch_size"] == 1
    narrow_server.wait_idle()


def test_non_stream_disconnect_cancels(narrow_server: RunningServer) -> None:
    narrow_server.wait_idle()
    body = {"messages": HELLO, "max_tokens": LONG_TOKENS, "ignore_eos": True}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{narrow_server.v1}/chat/completions", json=body, timeout=0.5)
    narrow_server.wait_idle()
