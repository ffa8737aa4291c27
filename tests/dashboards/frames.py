"""Hand-made rows for the dashboards tests (schema of docs/contracts.md)."""

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DEFAULTS", "frame", "traffic"]

DEFAULTS: dict[str, Any] = {
    "ts_intended": None,
    "latency_ms": 10.0,
    "latency_corrected_ms": None,
    "status": 200,
    "error_kind": None,
    "domain": "identity",
    "endpoint": "identity.profile",
    "method": "GET",
    "route": "primary",
    "instance": "auth-1",
    "gateway": "gateway-1",
    "entry": None,
    "failover": False,
    "stream": False,
    "ttft_ms": None,
    "tpot_ms": None,
    "tokens_out": None,
    "response_bytes": 100,
    "worker": "w1",
}


def frame(*rows: dict[str, Any]) -> pd.DataFrame:
    """Rows from dicts; `ts_send` defaults to the row's position, the rest to a healthy 200."""
    records = []
    for i, row in enumerate(rows):
        record = {**DEFAULTS, "ts_send": float(i), **row}
        record.setdefault("ts_end", record["ts_send"] + record["latency_ms"] / 1000.0)
        records.append(record)
    columns = ["ts_send", "ts_end", *DEFAULTS]
    return pd.DataFrame.from_records(records, columns=columns)


def traffic(start: float, end: float, rps: float, **fields: Any) -> pd.DataFrame:
    """Evenly spaced requests in ``[start, end)``, all with the same fields."""
    # Counting first avoids np.arange's float drift adding a stray last request.
    sends = start + np.arange(round((end - start) * rps)) / rps
    return frame(*({"ts_send": float(t), **fields} for t in sends))
