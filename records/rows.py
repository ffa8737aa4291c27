"""rows/*.parquet: one row per request, exactly as docs/contracts.md ("rows") pins it.

Only pyarrow here: the load processes write rows through this module and must
not pay for pandas on import.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "COLUMNS",
    "ERROR_KINDS",
    "FALLBACK_ROUTES",
    "ROUTES",
    "ROW_SCHEMA",
    "STREAM_METRIC_COLUMNS",
    "UNKNOWN_ROUTE",
    "rows_table",
    "write_rows_part",
]

# A stream that began and then failed is never a success; how it failed is its own
# kind: cut (EOF, reset, no `[DONE]`), an in-band error event, stalled past the
# request's deadline, or an event that is not JSON (`malformed`). `protocol`: the
# HTTP itself could not be parsed.
ERROR_KINDS = (
    "connect", "timeout", "reset", "http_4xx", "http_5xx", "stream_cut", "stream_error_event",
    "stream_stall", "malformed", "protocol", "other",
)

# The values of `route` (the X-Gatecrash-Route header); the fallbacks are *degraded*.
# `unknown`: a real gateway product could not say how it served the request
# (docs/gateways.md); reports count these rows, never guess their route.
ROUTES = ("primary", "retry", "cache-hit", "fallback-cache", "fallback-degraded", "unknown")
UNKNOWN_ROUTE = "unknown"
FALLBACK_ROUTES = ("fallback-cache", "fallback-degraded")

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
    pa.field("entry", pa.string()),
    pa.field("failover", pa.bool_(), nullable=False),
    pa.field("stream", pa.bool_(), nullable=False),
    *(pa.field(name, pa.float64()) for name in STREAM_METRIC_COLUMNS),
    pa.field("tokens_out", pa.int32()),
    pa.field("response_bytes", pa.int64(), nullable=False),
    pa.field("worker", pa.string(), nullable=False),
])

COLUMNS: tuple[str, ...] = tuple(ROW_SCHEMA.names)

Row = tuple[Any, ...]


def rows_table(rows: Sequence[Row]) -> pa.Table:
    """A table of rows given as tuples in `COLUMNS` order."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(ROW_SCHEMA)
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, ROW_SCHEMA, strict=True)]
    return pa.Table.from_arrays(arrays, schema=ROW_SCHEMA)


def write_rows_part(path: Path, table: pa.Table) -> None:
    """Write one part via a unique temp name + rename: a reader (or an aborted run)
    never sees a half-written part, and two writers of the same part never clash."""
    table = table.select(list(COLUMNS)).cast(ROW_SCHEMA)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
