"""`upstream:URL`: the same API proxied to another OpenAI-compatible server (here: tiny)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from targets.headers import HEADER_INSTANCE
from targets.inference import InferenceSettings
from targets.inference.upstream import upstream_base_url
from tests.inference.conftest import LONG_TOKENS, RunningServer, free_port, start_server

pytestmark = pytest.mark.timeout(60)

HELLO: Any = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def proxy_server(tiny_server: RunningServer) -> Iterator[RunningServer]:
    settings = InferenceSettings(backend=f"upstream:{tiny_server.url}", max_batch_size=2,
                                 max_queue=2, model_name="via-proxy")
    server = start_server(settings, instance="inference-proxy")
    yield server
    server.stop()


def test_base_url_forms() -> None:
    assert upstream_base_url("http://h:1") == "http://h:1/v1"
    assert upstream_base_url("http://h:1/v1/") == "http://h:1/v1"


def test_openai_client_through_proxy(proxy_server: RunningServer,
                                     tiny_server: RunningServer) -> None:
    api = openai.OpenAI(base_url=proxy_server.v1, api_key="unused", max_retries=0, timeout=30)
    direct = openai.OpenAI(base_url=tiny_server.v1, api_key="unused", max_retries=0)
    kwargs = {"model": "m", "messages": HELLO, "max_tokens": 8, "seed": 21,
              "extra_body": {"ignore_eos": True}}
    whole = api.chat.completions.create(**kwargs)
    assert whole.choices[0].message.content == \
        direct.chat.completions.create(**kwargs).choices[0].message.content
    chunks = list(api.chat.completions.create(
        stream=True, stream_options={"include_usage": True}, **kwargs))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8
    assert [m.id for m in api.models.list().data] == ["gatecrash-tiny"]


def test_proxy_headers_errors_and_health(proxy_server: RunningServer) -> None:
    response = httpx.post(f"{proxy_server.v1}/chat/completions",
                          json={"messages": HELLO, "max_tokens": 2}, timeout=30)
    assert response.headers[HEADER_INSTANCE] == proxy_server.instance
    bad = httpx.post(f"{proxy_server.v1}/chat/completions", json={"messages": []}, timeout=30)
    assert bad.status_code == 400 and "messages" in bad.json()["error"]["message"]
    health = proxy_server.health()
    assert health["device"] == "upstream" and health["model"] == "via-proxy"


def test_client_disconnect_reaches_upstream(proxy_server: RunningServer,
                                            tiny_server: RunningServer) -> None:
    tiny_server.wait_idle()
    body = {"messages": HELLO, "max_tokens": LONG_TOKENS, "stream": True, "ignore_eos": True}
    with httpx.Client(timeout=30) as client, \
            client.stream("POST", f"{proxy_server.v1}/chat/completions", json=body) as response:
        lines = response.iter_lines()
        assert any('"content"' in next(lines) for _ in range(10))
        assert tiny_server.health()["batch_size"] == 1
    tiny_server.wait_idle()
    assert proxy_server.wait_idle()["batch_size"] == 0


def test_unreachable_upstream_is_502() -> None:
    settings = InferenceSettings(backend=f"upstream:http://127.0.0.1:{free_port()}")
    server = start_server(settings, instance="inference-orphan")
    try:
        response = httpx.post(f"{server.v1}/chat/completions",
                              json={"messages": HELLO}, timeout=30)
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "upstream_unavailable"
    finally:
        server.stop()
