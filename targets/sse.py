"""Relaying an SSE answer without ever ending it as a silent success.

Once a stream's first byte has gone to the client it cannot be retried; what a
careful gateway can still do is say that it failed. `guarded` passes the
upstream's chunks on as they come, and when the upstream fails mid-stream (a
cut, a reset, a read timeout: a stall) or ends without `data: [DONE]`, it ends
the stream with an explicit OpenAI-style error event instead of a clean end.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from targets.connection import HopError

__all__ = ["DONE_TAIL", "error_event", "guarded"]

DONE_TAIL = b"[DONE]"
# Enough of the stream's end to find `data: [DONE]` followed by its blank line(s).
_TAIL_BYTES = 32


def error_event(message: str, code: int = 502) -> bytes:
    """An in-band error, as OpenAI-compatible servers send one mid-stream."""
    body = {"error": {"message": message, "type": "upstream_error", "code": code}}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


async def guarded(chunks: AsyncIterator[bytes], source: str) -> AsyncIterator[bytes]:
    """`chunks`, then an error event if they broke off or ended without `[DONE]`."""
    tail = b""
    try:
        async for chunk in chunks:
            tail = (tail + chunk)[-_TAIL_BYTES:]
            yield chunk
    except HopError as exc:
        yield error_event(f"{source} failed mid-stream: {type(exc).__name__}")
        return
    if DONE_TAIL not in tail:
        yield error_event(f"{source} ended the stream without [DONE]")
