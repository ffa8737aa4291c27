"""The bootstrap of an expression over several window metrics (DESIGN.md §5).

A hypothesis with metrics on both sides — fault against baseline, dual against
single, any arithmetic — is judged on one number, e.g. ``left - right``. Its
interval comes from resampling: the rows of each (architecture, window) sample
are drawn again, with replacement and independently of the other samples, every
metric is computed again on the drawn rows, and the expression with them. The
percentiles of those values bound it. The seed is fixed: the same rows always
give the same interval, so the same run always gets the same verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboards.estimates import RunData
from dashboards.intervals import Estimate, IntervalOptions, bootstrap_estimate
from dashboards.metrics import WINDOW_METRICS
from dashboards.rows import base_selector, selector_mask
from dashboards.samples import Sample
from dashboards.windows import get_window, rows_span, slice_window

__all__ = ["ResampledRef", "resampled_estimate"]


@dataclass(frozen=True)
class ResampledRef:
    """One window metric of one run: ``metric{selector}@window`` on `arch`'s run."""

    arch: str
    metric: str
    selector: tuple[tuple[str, str], ...]
    window: str | None


@dataclass(frozen=True)
class _Group:
    """The pooled rows of one (arch, window) sample, as a whole-window sample."""

    sample: Sample
    rows: pd.DataFrame


def _group(data: RunData, window: str | None) -> _Group:
    if window is None:
        spans = [rows_span(data.rows)]
    else:
        spans = [get_window(trial, window) for trial in data.trials]
    parts = [slice_window(data.rows, span) for span in spans]
    rows = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    return _Group(Sample.from_rows(rows, sum(s.duration_s for s in spans)), rows)


def resampled_estimate(
    runs: Mapping[str, RunData],
    refs: Sequence[ResampledRef],
    expression: Callable[[Mapping[ResampledRef, float]], float],
    options: IntervalOptions,
) -> tuple[Estimate, dict[ResampledRef, int]]:
    """`expression(values of refs)` with its bootstrap interval, and each ref's n
    (the non-rejected rows its selector picks in its sample).

    Raises `UnknownWindowError` / `SelectorError` like `estimate`.
    """
    keys = sorted({(r.arch, r.window) for r in refs}, key=lambda k: (k[0], k[1] or ""))
    groups = [_group(runs[arch], window) for arch, window in keys]
    where = {key: i for i, key in enumerate(keys)}
    masks = {}
    for ref in refs:
        rows = groups[where[(ref.arch, ref.window)]].rows
        selector = dict(ref.selector)
        masks[ref] = (selector_mask(rows, selector), selector_mask(rows, base_selector(selector)))
    counts = {}
    for ref in refs:
        sample = groups[where[(ref.arch, ref.window)]].sample
        counts[ref] = int((masks[ref][0] & ~sample.rejected).sum())

    def statistic(*indices: np.ndarray) -> float:
        values = {}
        for ref in refs:
            g = where[(ref.arch, ref.window)]
            idx = indices[g]
            chosen, base = masks[ref]
            sample = groups[g].sample
            values[ref] = WINDOW_METRICS[ref.metric](sample.take(idx[chosen[idx]]),
                                                     sample.take(idx[base[idx]]))
        return float(expression(values))

    samples = [np.arange(group.sample.size) for group in groups]
    return bootstrap_estimate(samples, statistic, options.confidence), counts
