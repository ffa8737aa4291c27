"""How each request ended, in the pinned vocabulary of DESIGN.md §5.

- *available*: a 2xx answer with no recorded error (primary, retry, cache-hit
  or a fallback). A 2xx whose stream was cut is not available.
- *degraded*: an available answer served by a fallback route.
- *rejected*: 429, a tenant over its quota. Neither available nor failed, and
  left out of the denominators of availability and failure rate: a quota doing
  its job says nothing about resilience.
- *failed*: everything else — 5xx, other 4xx, transport errors (status 0),
  `stream_cut`, protocol errors.
"""

import numpy as np
import pandas as pd

from dashboards.rows import normalize_rows
from records.rows import ERROR_KINDS, FALLBACK_ROUTES, ROUTES

__all__ = [
    "DERIVED_COLUMNS",
    "ERROR_KINDS",
    "FALLBACK_ROUTES",
    "ROUTES",
    "STATUS_REJECTED",
    "classify",
    "corrected_latency_ms",
    "failure_kind",
    "prepare_rows",
]

STATUS_REJECTED = 429
STATUS_SUCCESS_MIN = 200
STATUS_SUCCESS_END = 300
MS_PER_S = 1000.0

DERIVED_COLUMNS = ("available", "degraded", "rejected", "failed", "failure_kind", "corrected_ms")


def classify(rows: pd.DataFrame) -> pd.DataFrame:
    """Add the outcome flags, `failure_kind` and `corrected_ms` to normalised rows.

    Returns a new frame; the input is not modified.
    """
    status = rows["status"].to_numpy()
    no_error = rows["error_kind"].isna().to_numpy()
    success = (status >= STATUS_SUCCESS_MIN) & (status < STATUS_SUCCESS_END)
    available = success & no_error
    rejected = status == STATUS_REJECTED
    out = rows.copy()
    out["available"] = available
    out["degraded"] = available & rows["route"].isin(FALLBACK_ROUTES).to_numpy()
    out["rejected"] = rejected
    out["failed"] = ~available & ~rejected
    out["failure_kind"] = failure_kind(rows).where(out["failed"])
    out["corrected_ms"] = corrected_latency_ms(rows)
    return out


def prepare_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """Normalise and classify raw rows; rows already prepared pass through as they are."""
    if all(column in raw.columns for column in DERIVED_COLUMNS):
        return raw
    return classify(normalize_rows(raw))


def failure_kind(rows: pd.DataFrame) -> pd.Series:
    """The recorded `error_kind`, or one inferred from the status when it is empty."""
    status = rows["status"].to_numpy()
    inferred = np.select(
        [(status >= 400) & (status < 500), status >= 500],
        ["http_4xx", "http_5xx"],
        default="other",
    )
    return rows["error_kind"].fillna(pd.Series(inferred, index=rows.index, dtype="str"))


def corrected_latency_ms(rows: pd.DataFrame) -> pd.Series:
    """Latency from the intended send time: coordinated omission corrected.

    An open-loop generator that falls behind sends late; latency measured from
    the actual send hides that wait. The recorder writes `latency_corrected_ms`;
    where it did not but `ts_intended` is known, it is derived as
    `ts_end - ts_intended`. Null in closed loop (no intended time exists).
    """
    derived = (rows["ts_end"] - rows["ts_intended"]) * MS_PER_S
    return rows["latency_corrected_ms"].fillna(derived)
