"""Per-request rows (schema: `records.rows`): their normalisation, and selectors.

A *selector* is a mapping of column to value, e.g. ``{"domain": "identity"}``;
a row matches when every listed column equals the value. A value may list
alternatives separated by ``|`` (``{"route": "fallback-cache|fallback-degraded"}``).
Request-side columns say what was asked, response-side columns how it was served;
`ratio` divides the second by the first (see `dashboards.metrics`).
"""

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from dashboards.errors import RowsSchemaError, SelectorError
from records.rows import ROW_SCHEMA

__all__ = [
    "BOOL_COLUMNS",
    "FLOAT_COLUMNS",
    "REQUEST_COLUMNS",
    "RESPONSE_COLUMNS",
    "STRING_COLUMNS",
    "Selector",
    "base_selector",
    "normalize_rows",
    "select",
    "selector_mask",
]

Selector = Mapping[str, str]

# The analysis's dtype of each contract column, derived from the row schema. Status
# is the one integer a selector matches exactly; every other number is a float here,
# so that NaN can stand for null (tokens_out may be null).
INT_COLUMNS = ("status",)
FLOAT_COLUMNS = tuple(
    f.name
    for f in ROW_SCHEMA
    if (pa.types.is_floating(f.type) or pa.types.is_integer(f.type)) and f.name not in INT_COLUMNS
)
STRING_COLUMNS = tuple(f.name for f in ROW_SCHEMA if pa.types.is_string(f.type))
BOOL_COLUMNS = tuple(f.name for f in ROW_SCHEMA if pa.types.is_boolean(f.type))
# Without these nothing can be placed in time or classified.
REQUIRED_COLUMNS = ("ts_send", "status")

REQUEST_COLUMNS = frozenset({"domain", "endpoint", "method", "stream", "worker"})
# failure_kind is derived by `dashboards.outcomes.classify` (error_kind, or one
# inferred from the status when the recorder left it empty). `entry` and `failover`
# are the client's side of the answer: where it came from, after a failover or not.
RESPONSE_COLUMNS = frozenset(
    {"route", "instance", "gateway", "entry", "failover", "status", "error_kind",
     "failure_kind"}
)
ALTERNATIVE_SEPARATOR = "|"
TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})


def normalize_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with every contract column present, typed, and sorted by `ts_send`.

    Missing optional columns become all-null; `latency_ms` is derived from
    `ts_end - ts_send` when absent. Sorting lets windows and buckets be cut by
    binary search instead of a scan per window.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise RowsSchemaError(
            f"rows lack required column(s) {missing}; "
            f"expected the schema of docs/contracts.md (got {sorted(raw.columns)})"
        )
    rows = pd.DataFrame(index=pd.RangeIndex(len(raw)))
    for column in FLOAT_COLUMNS:
        rows[column] = _floats(raw, column)
    if "latency_ms" not in raw.columns:
        rows["latency_ms"] = (rows["ts_end"] - rows["ts_send"]) * 1000.0
    # status is never null by contract; a null could only be a transport error.
    rows["status"] = pd.to_numeric(raw["status"], errors="coerce").fillna(0).astype(np.int64).values
    for column in STRING_COLUMNS:
        if column in raw.columns:
            # An empty string is a null written by a lenient recorder, not a value.
            present = raw[column].notna() & (raw[column].astype("str") != "")
            rows[column] = raw[column].astype("str").where(present).values
        else:
            rows[column] = pd.Series([None] * len(raw), dtype="str").values
    for column in BOOL_COLUMNS:
        if column in raw.columns:
            rows[column] = raw[column].fillna(False).astype(bool).values
        else:
            rows[column] = np.zeros(len(raw), dtype=bool)
    extra = [c for c in raw.columns if c not in rows.columns]
    for column in extra:
        rows[column] = raw[column].values
    rows = rows.sort_values("ts_send", kind="stable", ignore_index=True)
    return rows


def _floats(raw: pd.DataFrame, column: str) -> np.ndarray:
    if column not in raw.columns:
        return np.full(len(raw), np.nan)
    values = pd.to_numeric(raw[column], errors="coerce")
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def base_selector(selector: Selector) -> dict[str, str]:
    """The request side of a selector: what `ratio` divides by.

    A selector that constrains only the request side (``{"domain": "chat"}``)
    has the whole window as its base, so ``ratio{domain=chat}`` is chat's share.
    """
    if not any(key in RESPONSE_COLUMNS for key in selector):
        return {}
    return {k: v for k, v in selector.items() if k in REQUEST_COLUMNS}


def selector_mask(rows: pd.DataFrame, selector: Selector) -> np.ndarray:
    """Boolean array: which rows match every key of the selector."""
    mask = np.ones(len(rows), dtype=bool)
    for column, value in selector.items():
        if column not in REQUEST_COLUMNS | RESPONSE_COLUMNS:
            raise SelectorError(
                f"cannot select on {column!r}; selectable columns: "
                f"{', '.join(sorted(REQUEST_COLUMNS | RESPONSE_COLUMNS))}"
            )
        if column not in rows.columns:
            raise SelectorError(
                f"rows have no {column!r} column; classify them first "
                "(dashboards.outcomes.classify) to select on derived columns"
            )
        mask &= _column_matches(rows[column], column, str(value))
    return mask


def select(rows: pd.DataFrame, selector: Selector) -> pd.DataFrame:
    """The rows that match the selector (all rows for an empty one)."""
    if not selector:
        return rows
    return rows[selector_mask(rows, selector)]


def _column_matches(series: pd.Series, column: str, value: str) -> np.ndarray:
    alternatives = [a.strip() for a in value.split(ALTERNATIVE_SEPARATOR)]
    if column in BOOL_COLUMNS:
        wanted = {_parse_bool(column, a) for a in alternatives}
        return series.isin(list(wanted)).to_numpy(dtype=bool)
    if column in INT_COLUMNS:
        numbers = []
        for alternative in alternatives:
            try:
                numbers.append(int(alternative))
            except ValueError:
                raise SelectorError(
                    f"{column}={value!r}: expected an integer such as 200 or 429"
                ) from None
        return series.isin(numbers).to_numpy(dtype=bool)
    return series.isin(alternatives).to_numpy(dtype=bool, na_value=False)


def _parse_bool(column: str, word: str) -> bool:
    lowered = word.lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise SelectorError(f"{column}={word!r}: expected true or false")
