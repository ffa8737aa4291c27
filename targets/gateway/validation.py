"""Edge validation: size limits (413) and request schemas (422)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from targets.endpoints import Endpoint
from targets.payload import Rejected, first_error, json_object
from targets.stack import Limits

__all__ = ["read_body", "validate_payload"]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[Any] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    temperature: float | None = Field(default=None, ge=0, le=2)


class NewOrder(BaseModel):
    article_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=1000)


SCHEMAS: dict[str, type[BaseModel]] = {"chat.completions": ChatRequest,
                                       "orders.create": NewOrder}


async def read_body(request: Request, limits: Limits) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise Rejected(413, f"body of {declared} bytes exceeds the limit of "
                       f"{limits.max_body_bytes} bytes", "body_too_large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limits.max_body_bytes:
            raise Rejected(413, f"body exceeds the limit of {limits.max_body_bytes} bytes",
                           "body_too_large")
    return bytes(body)


def validate_payload(endpoint: Endpoint, body: bytes, limits: Limits) -> dict[str, Any] | None:
    """The parsed JSON body of a POST, checked against the endpoint's schema.

    The gateways and the router's fallbacks both call this, so a request is
    refused alike whether its gateway is up or down.
    """
    if endpoint.method != "POST":
        return None
    payload = json_object(body)
    schema = SCHEMAS.get(endpoint.name)
    if schema is not None:
        try:
            schema.model_validate(payload)
        except ValidationError as exc:
            raise Rejected(422, first_error(exc), "invalid_schema") from None
    if endpoint.name == "chat.completions":
        messages = payload["messages"]
        if len(messages) > limits.max_messages:
            raise Rejected(413, f"{len(messages)} messages exceed the limit of "
                           f"{limits.max_messages}", "too_many_messages")
        for m in messages:
            if isinstance(m.get("content"), str) and len(m["content"]) > limits.max_message_chars:
                raise Rejected(413, f"a message exceeds {limits.max_message_chars} characters",
                               "message_too_long")
    return payload
