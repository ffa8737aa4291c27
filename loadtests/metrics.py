"""Pure per-request computations (DESIGN.md §5): stream metrics, CO correction, error kind."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from loadtests.streaming import StreamCut, StreamErrorEvent, StreamProtocolError, StreamStalled

__all__ = [
    "StreamMetrics",
    "classify_error",
    "corrected_latency_ms",
    "error_chain",
    "stream_metrics",
]

MS = 1000.0
# Exceptions of gevent/geventhttpclient are matched by class name so that this
# module (imported by tests and the conductor) never imports gevent.
_TIMEOUT_NAMES = frozenset({"Timeout"})
_RESET_NAMES = frozenset({"HTTPConnectionClosed"})
_PROTOCOL_NAMES = frozenset({"HTTPParseError"})
# geventhttpclient wraps the real error (RetriesExceeded(original=...)); look through.
_MAX_UNWRAP = 5


@dataclass(frozen=True, slots=True)
class StreamMetrics:
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    itl_mean_ms: float | None = None
    itl_max_ms: float | None = None
    e2e_ms: float | None = None


def stream_metrics(
    t_send: float, chunk_times: Sequence[float], tokens: int | None = None
) -> StreamMetrics:
    """TTFT = first chunk - send; ITL = gaps between chunks; TPOT = (last - first)/(tokens - 1);
    E2E = last chunk - send. Times in seconds (any one clock), results in ms."""
    if not chunk_times:
        return StreamMetrics()
    first, last = chunk_times[0], chunk_times[-1]
    gaps = [b - a for a, b in pairwise(chunk_times)]
    n_tokens = len(chunk_times) if tokens is None else tokens
    return StreamMetrics(
        ttft_ms=(first - t_send) * MS,
        tpot_ms=(last - first) / (n_tokens - 1) * MS if n_tokens > 1 else None,
        itl_mean_ms=sum(gaps) / len(gaps) * MS if gaps else None,
        itl_max_ms=max(gaps) * MS if gaps else None,
        e2e_ms=(last - t_send) * MS,
    )


def corrected_latency_ms(ts_end: float, ts_intended: float | None) -> float | None:
    """Latency from the intended send (coordinated-omission corrected); None in closed loop."""
    return None if ts_intended is None else (ts_end - ts_intended) * MS


def error_chain(exc: BaseException) -> list[BaseException]:
    """The error and what it wraps (geventhttpclient's `original`, `__cause__`)."""
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < _MAX_UNWRAP:
        chain.append(cur)
        original = getattr(cur, "original", None)
        cur = original if isinstance(original, BaseException) else cur.__cause__
    return chain


def _kind_of(exc: BaseException) -> str | None:
    name = type(exc).__name__
    if isinstance(exc, StreamErrorEvent):
        return "stream_error_event"
    if isinstance(exc, StreamCut):
        return "stream_cut"
    if isinstance(exc, StreamStalled):
        return "stream_stall"
    if isinstance(exc, StreamProtocolError):
        return "malformed"
    if name in _PROTOCOL_NAMES:
        return "protocol"
    if isinstance(exc, TimeoutError) or name in _TIMEOUT_NAMES:
        return "timeout"
    if isinstance(exc, ConnectionRefusedError | socket.gaierror):
        return "connect"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError) or (
        name in _RESET_NAMES
    ):
        return "reset"
    return None


def classify_error(status: int, exc: BaseException | None) -> str | None:
    """The row's `error_kind`: None for a 1xx-3xx answer without error, else one of
    `records.rows.ERROR_KINDS`.

    A stream that failed after a 200 (cut, error event, stall, malformed event)
    is that failure (not a success); otherwise the HTTP status wins over the
    exception Locust attaches to a 4xx/5xx.
    """
    if exc is not None:
        for cause in error_chain(exc):
            if isinstance(cause, StreamCut | StreamProtocolError | StreamStalled):
                return _kind_of(cause)
    if status >= 500:
        return "http_5xx"
    if status >= 400:
        return "http_4xx"
    if exc is None:
        return None if status > 0 else "other"
    for cause in error_chain(exc):
        kind = _kind_of(cause)
        if kind is not None:
            return kind
    return "other"
