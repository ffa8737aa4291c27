"""OpenAI chat-completions request schema, and the error body OpenAI clients expect.

Unknown fields are accepted and ignored (clients send many: `user`, `logit_bias`, ...);
fields we cannot honour (`n` > 1, `logprobs`, non-text content) are refused with 400.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "ChatCompletionRequest",
    "ChatMessage",
    "StreamOptions",
    "error_body",
    "validation_message",
]

MAX_STOP_STRINGS = 4  # as OpenAI


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, ge=1, le=1, description="only 1 is supported")
    logprobs: bool | None = None
    ignore_eos: bool = False  # vLLM extension, used by benchmarks

    @model_validator(mode="after")
    def _supported(self) -> ChatCompletionRequest:
        if self.logprobs:
            raise ValueError("logprobs are not supported by this server")
        if isinstance(self.stop, list) and len(self.stop) > MAX_STOP_STRINGS:
            raise ValueError(f"stop: at most {MAX_STOP_STRINGS} stop strings")
        return self

    def stop_strings(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


def error_body(message: str, type_: str, param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """OpenAI's error envelope: the `openai` client reads `error.message`."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def validation_message(exc: ValidationError) -> tuple[str, str | None]:
    """A one-line message naming each bad field, and the first field's path (OpenAI `param`)."""
    parts: list[str] = []
    first: str | None = None
    for error in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in error["loc"])
        if first is None and loc:
            first = loc
        msg = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request body", first
