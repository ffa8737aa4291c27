"""Bad requests and input limits -> 4xx with OpenAI's error envelope and a clear message."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.inference.conftest import LONG_TOKENS, RunningServer

pytestmark = pytest.mark.timeout(60)

HELLO: Any = [{"role": "user", "content": "hello"}]


def post(server: RunningServer, body: Any = None, content: bytes | None = None) -> httpx.Response:
    return httpx.post(f"{server.v1}/chat/completions", json=body, content=content, timeout=30)


def assert_error(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    for word in words:
        assert word in error["message"], error["message"]
    return dict(error)


@pytest.mark.parametrize(
    ("body", "words", "param"),
    [
        ({}, ["messages", "Field required"], "messages"),
        ({"messages": []}, ["messages", "at least 1"], "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, ["messages.0.role"],
         "messages.0.role"),
        ({"messages": HELLO, "max_tokens": 0}, ["max_tokens", "greater than or equal to 1"],
         "max_tokens"),
        ({"messages": HELLO, "temperature": 3}, ["temperature"], "temperature"),
        ({"messages": HELLO, "top_p": 0}, ["top_p"], "top_p"),
        ({"messages": HELLO, "n": 2}, ["n"], "n"),
        ({"messages": HELLO, "logprobs": True}, ["logprobs are not supported"], None),
        ({"messages": HELLO, "stop": ["a", "b", "c", "d", "e"]}, ["at most 4"], None),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
         ["messages.0.content"], "messages.0.content.str"),
    ],
)
def test_bad_schema_is_400(tiny_server: RunningServer, body: dict[str, Any],
                           words: list[str], param: str | None) -> None:
    error = assert_error(post(tiny_server, body), 400, *words)
    assert error["param"] == param


def test_invalid_json_is_400(tiny_server: RunningServer) -> None:
    assert_error(post(tiny_server, content=b"{not json"), 400, "JSON")
    assert_error(post(tiny_server, content=b""), 400, "empty request body")


def test_openai_client_sees_bad_request(tiny_server: RunningServer) -> None:
    api = openai.OpenAI(base_url=tiny_server.v1, api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="temperature"):
        api.chat.completions.create(model="m", messages=HELLO,
                                    temperature=5)


def test_body_over_limit_is_413(narrow_server: RunningServer) -> None:
    big = [{"role": "user", "content": "x" * 5000}]
    error = assert_error(post(narrow_server, {"messages": big}), 413, "larger than 4096 bytes")
    assert error["code"] == "request_too_large"


def test_prompt_over_limit_is_400(narrow_server: RunningServer) -> None:
    long = [{"role": "user", "content": "y" * 100}]  # > max_input_tokens=64
    error = assert_error(post(narrow_server, {"messages": long}), 400,
                         "at most 64 input tokens")
    assert error["code"] == "context_length_exceeded"
    assert error["param"] == "messages"


def test_max_tokens_over_limit_is_400(narrow_server: RunningServer) -> None:
    error = assert_error(post(narrow_server, {"messages": HELLO, "max_tokens": 5000}), 400,
                         f"at most {LONG_TOKENS}")
    assert error["param"] == "max_tokens"
    error = assert_error(
        post(narrow_server, {"messages": HELLO, "max_completion_tokens": 5000}), 400,
        "max_completion_tokens")
    assert error["param"] == "max_completion_tokens"


def test_unknown_fields_are_ignored(tiny_server: RunningServer) -> None:
    body = {"messages": HELLO, "max_tokens": 2, "user": "u1", "frequency_penalty": 0,
            "logit_bias": {}, "response_format": {"type": "text"}}
    assert post(tiny_server, body).status_code == 200
