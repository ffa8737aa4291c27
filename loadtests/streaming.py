"""Server-sent events of an OpenAI chat-completions stream, measured (pure; no gevent).

The Locust user hands this module an iterator of raw SSE lines; each line is
timestamped as it is read, so TTFT/ITL reflect arrival at the client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = [
    "StreamCut",
    "StreamErrorEvent",
    "StreamOutcome",
    "StreamProtocolError",
    "StreamStalled",
    "completion_tokens",
    "consume_sse",
]

DATA_PREFIX = b"data:"
DONE_MARKER = b"[DONE]"


class StreamCut(Exception):
    """The stream ended (EOF, reset, or an error event) before `data: [DONE]`."""


class StreamErrorEvent(StreamCut):
    """The server gave up mid-stream and said so in-band (`data: {"error": ...}`)."""


class StreamStalled(TimeoutError):
    """The request's deadline passed after the answer began: the stream stalled."""


class StreamProtocolError(Exception):
    """A `data:` payload that is not valid chat-completions JSON."""


@dataclass(slots=True)
class StreamOutcome:
    """What one stream delivered: content-chunk arrival times, tokens, bytes, completion."""

    chunk_times: list[float] = field(default_factory=list)
    usage_tokens: int | None = None
    bytes_read: int = 0
    done: bool = False
    error: Exception | None = None

    @property
    def tokens(self) -> int:
        """Completion tokens as the server counted them, else one per content chunk."""
        return self.usage_tokens if self.usage_tokens is not None else len(self.chunk_times)


def _content_and_usage(payload: bytes) -> tuple[bool, int | None, bool]:
    """(has content, usage tokens, is an error event) of one `data:` JSON payload."""
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise StreamProtocolError(f"bad SSE data: {payload[:80]!r}") from exc
    if not isinstance(event, dict):
        raise StreamProtocolError(f"SSE data is not an object: {payload[:80]!r}")
    if "error" in event:
        return False, None, True
    usage = event.get("usage")
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    has_content = False
    for choice in event.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content"):
            has_content = True
    return has_content, tokens if isinstance(tokens, int) else None, False


def completion_tokens(body: bytes) -> int | None:
    """`usage.completion_tokens` of a whole (non-streamed) chat answer, if it says."""
    try:
        answer = json.loads(body)
    except ValueError as exc:
        raise StreamProtocolError(f"chat answer is not JSON: {body[:80]!r}") from exc
    if not isinstance(answer, dict):
        raise StreamProtocolError(f"chat answer is not an object: {body[:80]!r}")
    usage = answer.get("usage")
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return tokens if isinstance(tokens, int) else None


def consume_sse(
    lines: Iterable[bytes], clock: Callable[[], float] = time.perf_counter
) -> StreamOutcome:
    """Read SSE lines until `data: [DONE]`; never raises for what the server did.

    Transport errors while reading and a missing `[DONE]` become `StreamCut`
    in `outcome.error`; an `error` event becomes `StreamErrorEvent` (the server
    gave up mid-stream); unparseable data becomes `StreamProtocolError`; a
    `TimeoutError` from the line source (the request's deadline, reached after
    the answer began) becomes `StreamStalled`. Each is its own error kind. The
    chunks read before any error are kept (TTFT of a cut stream).
    """
    out = StreamOutcome()
    try:
        for line in lines:
            now = clock()
            out.bytes_read += len(line)
            if not line.startswith(DATA_PREFIX):
                continue  # comments, event:/id: fields, blank separators
            payload = line[len(DATA_PREFIX):].strip()
            if payload == DONE_MARKER:
                out.done = True
                return out
            has_content, tokens, is_error = _content_and_usage(payload)
            if is_error:
                out.error = StreamErrorEvent(f"error event mid-stream: {payload[:120]!r}")
                return out
            if has_content:
                out.chunk_times.append(now)
            if tokens is not None:
                out.usage_tokens = tokens
    except (StreamProtocolError, StreamCut) as exc:  # StreamCut: raised by the line source
        out.error = exc
        return out
    except TimeoutError as exc:  # the request's deadline, after the answer began
        out.error = exc if isinstance(exc, StreamStalled) else StreamStalled(str(exc))
        return out
    except OSError as exc:  # reset / broken pipe while reading the body
        out.error = StreamCut(f"connection lost mid-stream: {exc!r}")
        return out
    out.error = StreamCut("stream ended without data: [DONE]")
    return out
