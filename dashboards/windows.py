"""Named time windows of a run (DESIGN.md §5): baseline, fault, recovery, ...

A window is half-open, ``[start, end)`` in unix seconds, and holds the rows
whose `ts_send` falls in it: a request belongs to the moment it was sent, so a
request sent just before a kill that fails after it counts before the fault.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboards.errors import UnknownWindowError
from records.meta import BASELINE, FAULT, RECOVERY

__all__ = [
    "BASELINE",
    "FAULT",
    "RECOVERY",
    "Window",
    "Windows",
    "get_window",
    "rows_span",
    "slice_window",
]

Windows = Mapping[str, tuple[float, float]]

# Name given to the span of all rows when a metric is asked with no window.
WHOLE_RUN = "run"


@dataclass(frozen=True)
class Window:
    """One named, half-open span of time."""

    name: str
    start: float
    end: float
    # Rows must also have finished before this instant: a request still in
    # flight when the first fault hit belongs to no baseline (it saw the fault).
    ends_by: float | None = None

    @property
    def duration_s(self) -> float:
        return max(self.end - self.start, 0.0)


def get_window(windows: Windows, name: str, hint: str = "") -> Window:
    """The window called `name`, or an error listing the run's windows."""
    if name not in windows:
        raise UnknownWindowError(name, windows.keys(), hint)
    start, end = windows[name]
    ends_by = float(end) if name == BASELINE and FAULT in windows else None
    return Window(name, float(start), float(end), ends_by)


def rows_span(rows: pd.DataFrame) -> Window:
    """The whole run as a window: first send to last send (inclusive)."""
    if rows.empty:
        return Window(WHOLE_RUN, 0.0, 0.0)
    sends = rows["ts_send"].to_numpy()
    # nextafter keeps the last row inside the half-open span.
    return Window(WHOLE_RUN, float(sends.min()), float(np.nextafter(sends.max(), np.inf)))


def slice_window(rows: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Rows sent in ``[start, end)`` (and finished before `ends_by` when set); rows
    must be sorted by `ts_send` (normalised rows are)."""
    sends = rows["ts_send"].to_numpy()
    lo, hi = np.searchsorted(sends, [window.start, window.end], side="left")
    sliced = rows.iloc[int(lo) : int(hi)]
    if window.ends_by is not None:
        sliced = sliced[sliced["ts_end"].to_numpy() < window.ends_by]
    return sliced

