"""Is the load's record complete, window by window?

A remote load worker lost mid-run took its unsent rows with it (and rows it
recorded after its last report are not even counted): every window it took
part in, from its join to its loss, lacks requests, and a verdict on such a
window would be silently wrong. Rows missing from a worker that finished
(its bounded outbox refused some) spoil every window it ran in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from records import LoadEvent, Span

__all__ = ["load_problems"]


def load_problems(note: LoadEvent | None, windows: Mapping[str, Span]) -> dict[str, list[str]]:
    """Window name -> why its measurements are incomplete (nothing: they are complete)."""
    out: dict[str, list[str]] = {}
    if note is None:
        return out
    for w in note.workers:
        if w.state == "lost":
            why = (f"load worker {w.worker} was lost mid-run ({w.lost_why}); at least "
                   f"{w.missing} of its rows never reached the run")
        elif w.missing:
            why = f"load worker {w.worker}: {w.missing} of its rows never reached the run"
        else:
            continue
        start = w.joined if w.joined is not None else -math.inf
        end = w.lost_at if w.lost_at is not None else math.inf
        for name, (a, b) in windows.items():
            if a < end and b > start:
                out.setdefault(name, []).append(why)
    return out
