"""A run's measurements as `Estimate`s: what the verdict engine decides on and what
the reports print (DESIGN.md §5), pooled over the run's trials.

A run repeats its fault schedule `trials` times; every trial has its own
baseline, fault and recovery windows. A window metric pools the rows of that
window over all trials (one sample, lengths added); a run-level metric adds up
its counts (requests lost) or takes the worst trial (time to fail over or to
recover: the claim is about every failover, so the slowest one speaks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from dashboards.intervals import Estimate, IntervalOptions, method_label, observed, proportion
from dashboards.metrics import WINDOW_ESTIMATORS, WINDOW_METRICS, window_samples
from dashboards.outcomes import prepare_rows
from dashboards.recovery import failover_estimate, lost_counts, recover_estimate
from dashboards.rows import Selector
from dashboards.sample_sizes import Measurement
from dashboards.samples import Sample
from dashboards.windows import Windows, get_window, rows_span
from records.capacity import CapacityRecord
from records.meta import FAULT, RECOVERY

# The windows whose requests a run-level metric rests on.
RUN_METRIC_WINDOWS: dict[str, tuple[str, ...]] = {
    "requests_lost": (FAULT, RECOVERY), "loss_rate": (FAULT, RECOVERY),
    "time_to_failover_s": (FAULT,), "time_to_recover_s": (RECOVERY,)}

__all__ = [
    "RUN_METRIC_WINDOWS",
    "RunData",
    "Trials",
    "as_trials",
    "loss_rate_estimate",
    "pooled_samples",
    "requests_lost_estimate",
    "time_to_failover_estimate",
    "time_to_recover_estimate",
    "window_estimate",
    "window_value",
]

Trials = Sequence[Windows]


def as_trials(windows: Windows | Trials) -> tuple[Windows, ...]:
    """One run's windows as a list of trials (a single mapping is one trial)."""
    if isinstance(windows, Mapping):
        return (windows,)
    return tuple(windows)


@dataclass(frozen=True)
class RunData:
    """What a run's metrics are measured on: its rows (prepared), the windows of each
    trial, its CPU samples (for metrics that read them; empty when absent) and, for
    a capacity sweep, its judged steps (capacity.json)."""

    rows: pd.DataFrame
    trials: tuple[Windows, ...]
    cpu: pd.DataFrame = field(default_factory=pd.DataFrame)
    capacity: CapacityRecord | None = None

    @classmethod
    def of(cls, rows: pd.DataFrame, windows: Windows | Trials,
           cpu: pd.DataFrame | None = None, capacity: CapacityRecord | None = None) -> RunData:
        trials = as_trials(windows) or ({},)
        return cls(prepare_rows(rows), trials, cpu if cpu is not None else pd.DataFrame(),
                   capacity)

    def trial(self, index: int) -> RunData:
        """The same run seen through one trial's windows only."""
        return RunData(self.rows, (self.trials[index],), self.cpu, self.capacity)


def pooled_samples(data: RunData, selector: Selector,
                   window: str | None) -> tuple[Sample, Sample]:
    """The selector's sample in `window`, pooled over the trials, and its base sample
    (what `ratio` divides by). No window: every row of the run, first to last send."""
    if window is None:
        return window_samples(data.rows, selector, rows_span(data.rows))
    pairs = [window_samples(data.rows, selector, get_window(trial, window))
             for trial in data.trials]
    if len(pairs) == 1:
        return pairs[0]
    return (Sample.concat([p[0] for p in pairs]), Sample.concat([p[1] for p in pairs]))


def window_value(data: RunData, metric: str, selector: Selector, window: str | None) -> float:
    sample, base = pooled_samples(data, selector, window)
    return WINDOW_METRICS[metric](sample, base)


def window_estimate(data: RunData, metric: str, selector: Selector, window: str | None,
                    options: IntervalOptions) -> Measurement:
    sample, base = pooled_samples(data, selector, window)
    return WINDOW_ESTIMATORS[metric](sample, base, options)


# -- run-level metrics -----------------------------------------------------------------------
def _lost(data: RunData, selector: Selector) -> tuple[int, int]:
    counts = [lost_counts(data.rows, trial, selector) for trial in data.trials]
    return sum(c[0] for c in counts), sum(c[1] for c in counts)


def requests_lost_estimate(data: RunData, selector: Selector,
                           options: IntervalOptions) -> Measurement:
    """The count (exact), with its n and the upper bound on the loss rate it shows."""
    lost, n = _lost(data, selector)
    rate = proportion(lost, n, options.confidence, options.proportion_method)
    note = (f"{lost} lost of {n:,} requests: loss rate <= {rate.high * 100:.4g} % "
            f"({method_label(rate)} upper bound)" if n else "no request in fault + recovery")
    return Measurement(observed(float(lost), n, options.confidence), note=note)


def loss_rate_estimate(data: RunData, selector: Selector,
                       options: IntervalOptions) -> Measurement:
    lost, n = _lost(data, selector)
    return Measurement(proportion(lost, n, options.confidence, options.proportion_method))


def _worst(estimates: Sequence[Estimate]) -> Estimate:
    """The interval of the largest of several durations, each within its own interval."""
    measured = [e for e in estimates if e.measured]
    if len(measured) < len(estimates) or not measured:
        return estimates[0] if len(estimates) == 1 else Estimate(
            float("nan"), float("nan"), float("nan"), sum(e.n for e in estimates),
            estimates[0].method, estimates[0].confidence)
    return Estimate(max(e.value for e in measured), max(e.low for e in measured),
                    max(e.high for e in measured), sum(e.n for e in measured),
                    measured[0].method, measured[0].confidence)


def time_to_failover_estimate(data: RunData, selector: Selector,
                              options: IntervalOptions) -> Measurement:
    return Measurement(_worst([failover_estimate(data.rows, trial, selector,
                                                 options.confidence)
                               for trial in data.trials]))


def time_to_recover_estimate(data: RunData, selector: Selector,
                             options: IntervalOptions) -> Measurement:
    return Measurement(_worst([recover_estimate(data.rows, trial, selector, options.confidence)
                               for trial in data.trials]))
