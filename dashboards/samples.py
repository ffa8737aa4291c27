"""A window's or a bucket's rows as plain arrays, the unit every metric reads.

Windows and per-second buckets are cut from the same sorted arrays, so a
timeline point and a window metric are computed by the very same function.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Sample"]

_ARRAY_FIELDS = (
    "available",
    "degraded",
    "rejected",
    "failed",
    "latency_ms",
    "corrected_ms",
    "ttft_ms",
    "tpot_ms",
    "tokens_out",
)
_FLAG_FIELDS = frozenset({"available", "degraded", "rejected", "failed"})


@dataclass(frozen=True)
class Sample:
    """Classified rows of one span of time (columns as numpy arrays) and its length."""

    duration_s: float
    available: np.ndarray
    degraded: np.ndarray
    rejected: np.ndarray
    failed: np.ndarray
    latency_ms: np.ndarray
    corrected_ms: np.ndarray
    ttft_ms: np.ndarray
    tpot_ms: np.ndarray
    tokens_out: np.ndarray

    @classmethod
    def from_rows(
        cls, rows: pd.DataFrame, duration_s: float, mask: np.ndarray | None = None
    ) -> "Sample":
        """Build from prepared rows (`dashboards.outcomes.prepare_rows`), optionally masked.

        Masking the column arrays instead of the frame avoids copying every
        column of a large window for the nine a metric reads.
        """
        arrays = {}
        for name in _ARRAY_FIELDS:
            column = rows[name]
            if name in _FLAG_FIELDS:
                values = column.to_numpy(dtype=bool)
            else:
                values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            arrays[name] = values if mask is None else values[mask]
        return cls(duration_s=float(duration_s), **arrays)

    def cut(self, lo: int, hi: int, duration_s: float) -> "Sample":
        """Rows ``lo:hi`` (views, no copy) as a sample lasting `duration_s`."""
        arrays = {name: getattr(self, name)[lo:hi] for name in _ARRAY_FIELDS}
        return Sample(duration_s=float(duration_s), **arrays)

    def take(self, index: np.ndarray) -> "Sample":
        """The rows at these positions (repeats allowed: a bootstrap resample)."""
        arrays = {name: getattr(self, name)[index] for name in _ARRAY_FIELDS}
        return Sample(duration_s=self.duration_s, **arrays)

    @classmethod
    def concat(cls, samples: "Sequence[Sample]") -> "Sample":
        """Several spans as one sample (the same window of several trials), lengths added."""
        arrays = {name: np.concatenate([getattr(s, name) for s in samples])
                  for name in _ARRAY_FIELDS}
        return cls(duration_s=sum(s.duration_s for s in samples), **arrays)

    @property
    def size(self) -> int:
        return int(self.available.shape[0])

    @property
    def considered(self) -> int:
        """Rows that count in availability denominators: all but the rejected."""
        return self.size - int(self.rejected.sum())
