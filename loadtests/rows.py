"""Read a run's per-request rows back (no Locust import; used by the conductor and analysis)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loadtests.layout import PART_GLOB, RunPaths
from loadtests.schema import ROW_SCHEMA

__all__ = ["read_rows", "read_rows_table", "row_files"]

SINGLE_FILE = "rows.parquet"
# Integer columns that may hold nulls keep a nullable dtype instead of turning into floats.
_NULLABLE_INTS = {pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype()}


def row_files(run_dir: Path) -> list[Path]:
    """rows.parquet if present, then every finished part (temp files are ignored)."""
    paths = RunPaths(run_dir)
    single = paths.run_dir / SINGLE_FILE
    parts = sorted(paths.rows_dir.glob(PART_GLOB)) if paths.rows_dir.is_dir() else []
    return ([single] if single.is_file() else []) + parts


def read_rows_table(run_dir: Path) -> pa.Table:
    tables = [pq.read_table(p, schema=ROW_SCHEMA) for p in row_files(run_dir)]
    if not tables:
        return ROW_SCHEMA.empty_table()
    return pa.concat_tables(tables)


def read_rows(run_dir: Path) -> pd.DataFrame:
    """All rows of a run, sorted by `ts_send`, with the contract's column types.

    float64 columns hold NaN for nulls; `status` is int32, `response_bytes` int64,
    `tokens_out` a nullable Int32; `stream` bool; text columns pandas strings.
    """
    table = read_rows_table(run_dir)
    frame = table.to_pandas(types_mapper=lambda t: _NULLABLE_INTS.get(t))
    frame["status"] = frame["status"].astype("int32")
    frame["response_bytes"] = frame["response_bytes"].astype("int64")
    return frame.sort_values("ts_send", kind="stable", ignore_index=True)
