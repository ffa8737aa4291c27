"""The per-request row, exactly as docs/contracts.md ("rows (Parquet)") pins it."""

from __future__ import annotations

import pyarrow as pa

__all__ = ["COLUMNS", "ERROR_KINDS", "ROW_SCHEMA", "STREAM_METRIC_COLUMNS"]

ERROR_KINDS = (
    "connect", "timeout", "reset", "http_4xx", "http_5xx", "stream_cut", "protocol", "other",
)

STREAM_METRIC_COLUMNS = ("ttft_ms", "tpot_ms", "itl_mean_ms", "itl_max_ms", "e2e_ms")

# Order matters: the recorder buffers rows as tuples in this order.
ROW_SCHEMA = pa.schema([
    pa.field("ts_send", pa.float64(), nullable=False),
    pa.field("ts_intended", pa.float64()),
    pa.field("ts_end", pa.float64(), nullable=False),
    pa.field("latency_ms", pa.float64(), nullable=False),
    pa.field("latency_corrected_ms", pa.float64()),
    pa.field("status", pa.int32(), nullable=False),
    pa.field("error_kind", pa.string()),
    pa.field("domain", pa.string(), nullable=False),
    pa.field("endpoint", pa.string(), nullable=False),
    pa.field("method", pa.string(), nullable=False),
    pa.field("route", pa.string()),
    pa.field("instance", pa.string()),
    pa.field("gateway", pa.string()),
    pa.field("stream", pa.bool_(), nullable=False),
    *(pa.field(name, pa.float64()) for name in STREAM_METRIC_COLUMNS),
    pa.field("tokens_out", pa.int32()),
    pa.field("response_bytes", pa.int64(), nullable=False),
    pa.field("worker", pa.string(), nullable=False),
])

COLUMNS: tuple[str, ...] = tuple(ROW_SCHEMA.names)
