"""SSE events as the fault layer sees them: where one ends, and whether it carries
content (what a client counts as a chunk)."""

from __future__ import annotations

import json

__all__ = ["event_end", "has_content"]


def event_end(buffer: bytes) -> int:
    """Where the first complete SSE event of `buffer` ends (-1: none yet)."""
    lf = buffer.find(b"\n\n")
    crlf = buffer.find(b"\r\n\r\n")
    if lf < 0 and crlf < 0:
        return -1
    if crlf < 0 or (0 <= lf < crlf):
        return lf + 2
    return crlf + 4


def has_content(event: bytes) -> bool:
    """A `data:` event carrying content: what a client counts as a chunk."""
    for line in event.splitlines():
        if not line.startswith(b"data:"):
            continue
        try:
            data = json.loads(line[5:])
        except ValueError:
            return False
        if not isinstance(data, dict):
            return False
        for choice in data.get("choices") or ():
            if isinstance(choice, dict) and (choice.get("delta") or {}).get("content"):
                return True
    return False
