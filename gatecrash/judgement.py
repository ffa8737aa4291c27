"""How one hypothesis is decided on the interval of what it compares (DESIGN.md §5).

- One metric, possibly scaled by constants (``2 * p95_ms@fault + 50 <= 400``):
  the side holding it is that metric's `Estimate`, mapped through the
  constants (interval arithmetic with exact constants = `Estimate.scaled`),
  and compared with the other side's constant.
- Metrics on both sides, or any arithmetic between metrics: the quantity is
  ``left - right``, compared with 0. When every metric is a window metric its
  interval is a bootstrap that resamples the rows of each (architecture,
  window) sample independently, with a fixed seed. Otherwise (run-level
  metrics: durations, counts, window-less capacities) the intervals of the
  metrics are combined by interval arithmetic, each taken at a Bonferroni
  confidence so that together they keep the experiment's. Resource metrics
  (CPU per request, memory) compared with each other are bootstrapped the same
  way as rows, over their 1-s samples (`resampled_resources`).

The hypothesis *holds* when the whole interval satisfies the comparison,
*fails* when the whole interval violates it, and is *inconclusive* otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from dashboards.analysis import RunData, estimate
from dashboards.capacity_metrics import SAMPLED_SPECS, resampled_resources
from dashboards.intervals import (
    Decision,
    Estimate,
    IntervalOptions,
    RankComparison,
    combine,
    decide,
    rank_compare,
)
from dashboards.metrics import WINDOW_METRIC_SPECS
from dashboards.resampling import ResampledRef, resampled_estimate
from dashboards.sample_sizes import Measurement
from gatecrash.hypothesis import MIRRORED, Comparison, MetricRef

__all__ = ["Judgement", "judge_comparison"]

DIFFERENCE = "left - right"
Resampler = Callable[[Mapping[str, RunData], Sequence[ResampledRef],
                      Callable[[Mapping[ResampledRef, float]], float], IntervalOptions],
                     tuple[Estimate, dict[ResampledRef, int]]]


@dataclass(frozen=True)
class Judgement:
    """What one hypothesis came to, before it is worded as a `Verdict`."""

    decision: Decision
    quantity: str
    op: str
    bound: float
    estimate: Estimate
    left: float
    right: float
    samples: dict[str, int] = field(default_factory=dict)
    # The measurement of the one metric a single-metric hypothesis rests on, and
    # the comparison moved onto it (op, threshold): for "how many would decide".
    measurement: Measurement | None = None
    on_metric: tuple[str, float] | None = None
    rank: RankComparison | None = None
    trials: list[float] = field(default_factory=list)
    # The metric of a single-metric hypothesis.
    metric: str | None = None
    # What a bootstrap of the difference drew: rows, or 1-s resource samples.
    units: str = "rows"


def _ref_key(ref: MetricRef, default_arch: str) -> ResampledRef:
    return ResampledRef(ref.arch or default_arch, ref.name, ref.selector, ref.window)


def _measure(runs: Mapping[str, RunData], ref: MetricRef, default_arch: str,
             options: IntervalOptions) -> Measurement:
    data = runs[ref.arch or default_arch]
    return estimate(data, data.trials, ref.name, dict(ref.selector), ref.window, options)


def _point(runs: Mapping[str, RunData], comparison: Comparison, default_arch: str,
           options: IntervalOptions) -> tuple[float, float]:
    """The two sides' point values."""
    cache: dict[MetricRef, float] = {}

    def value(ref: MetricRef) -> float:
        if ref not in cache:
            cache[ref] = _measure(runs, ref, default_arch, options).estimate.value
        return cache[ref]

    return comparison.point(comparison.left, value), comparison.point(comparison.right, value)


def _single(runs: Mapping[str, RunData], comparison: Comparison, ref: MetricRef,
            default_arch: str, options: IntervalOptions) -> Judgement:
    measured = _measure(runs, ref, default_arch, options)
    side, op, other = comparison.side_of(ref)
    quantity = comparison.interval(side, lambda _r: measured.estimate)
    bound = comparison.point(other, lambda _r: math.nan)
    on_metric = None
    affine = comparison.affine(side, ref)
    if affine is not None:
        k, c = affine
        on_metric = (op if k > 0 else MIRRORED[op], (bound - c) / k)
    values = (quantity.value, bound) if side is comparison.left else (bound, quantity.value)
    return Judgement(decide(quantity, op, bound), str(side), op, bound, quantity, *values,
                     samples={str(ref): measured.estimate.n}, measurement=measured,
                     on_metric=on_metric, metric=ref.name)


def _is_latency(ref: MetricRef) -> bool:
    spec = WINDOW_METRIC_SPECS.get(ref.name)
    return spec is not None and spec.unit == "ms"


def _resampled(runs: Mapping[str, RunData], comparison: Comparison, refs: list[MetricRef],
               default_arch: str, options: IntervalOptions,
               resample: Resampler = resampled_estimate, units: str = "rows") -> Judgement:
    keys = {ref: _ref_key(ref, default_arch) for ref in refs}

    def difference(values: Mapping[ResampledRef, float]) -> float:
        def lookup(r: MetricRef) -> float:
            return values[keys[r]]

        return comparison.point(comparison.left, lookup) - \
            comparison.point(comparison.right, lookup)

    quantity, counts = resample(runs, list(dict.fromkeys(keys.values())), difference, options)
    # n: the rows the metrics rest on (the resampled windows hold other rows too).
    quantity = replace(quantity, n=sum(counts.values()))
    left, right = _point(runs, comparison, default_arch, options)
    rank = None
    distinct = list(dict.fromkeys(refs))
    if len(distinct) == 2 and all(_is_latency(r) for r in distinct):
        a, b = (_measure(runs, r, default_arch, options).values for r in distinct)
        if a is not None and b is not None:
            rank = rank_compare(a, b)
    return Judgement(decide(quantity, comparison.op, 0.0), DIFFERENCE, comparison.op, 0.0,
                     quantity, left, right, samples={str(r): counts[keys[r]] for r in distinct},
                     rank=rank, units=units)


def _combined(runs: Mapping[str, RunData], comparison: Comparison, refs: list[MetricRef],
              default_arch: str, options: IntervalOptions) -> Judgement:
    distinct = list(dict.fromkeys(refs))
    # Bonferroni: k intervals each at 1 - alpha/k cover together with >= 1 - alpha.
    each = IntervalOptions(1 - (1 - options.confidence) / len(distinct),
                           options.proportion_method)
    measured = {ref: _measure(runs, ref, default_arch, each) for ref in distinct}

    def lookup(ref: MetricRef) -> Estimate:
        return measured[ref].estimate

    left = comparison.interval(comparison.left, lookup)
    right = comparison.interval(comparison.right, lookup)
    quantity = replace(combine("-", left, right), confidence=options.confidence)
    return Judgement(decide(quantity, comparison.op, 0.0), DIFFERENCE, comparison.op, 0.0,
                     quantity, left.value, right.value,
                     samples={str(r): m.estimate.n for r, m in measured.items()})


def _trial_values(runs: Mapping[str, RunData], comparison: Comparison, judgement: Judgement,
                  default_arch: str, options: IntervalOptions) -> list[float]:
    """The judged quantity's point value in each trial (empty with one trial)."""
    count = max(len(d.trials) for d in runs.values())
    if count < 2 or any(len(d.trials) != count for d in runs.values()):
        return []
    values = []
    for i in range(count):
        trial = {arch: data.trial(i) for arch, data in runs.items()}
        left, right = _point(trial, comparison, default_arch, options)
        if judgement.quantity == DIFFERENCE:
            values.append(left - right)
        else:
            values.append(left if judgement.quantity == str(comparison.left) else right)
    return values


def judge_comparison(comparison: Comparison, runs: Mapping[str, RunData], default_arch: str,
                     options: IntervalOptions) -> Judgement:
    """Decide one comparison on the runs it names (`default_arch` for unnamed metrics).

    Raises `DashboardsError` when a metric cannot be measured (a window the run
    lacks, a selector on a column it does not have).
    """
    refs = comparison.metrics()
    if len(refs) == 1:
        judgement = _single(runs, comparison, refs[0], default_arch, options)
    elif refs and all(r.name in WINDOW_METRIC_SPECS for r in refs):  # rows: resampled
        judgement = _resampled(runs, comparison, refs, default_arch, options)
    elif refs and all(r.name in SAMPLED_SPECS for r in refs):  # 1-s samples: resampled
        judgement = _resampled(runs, comparison, refs, default_arch, options,
                               resampled_resources, "1-s samples")
    else:
        judgement = _combined(runs, comparison, refs, default_arch, options)
    trials = _trial_values(runs, comparison, judgement, default_arch, options)
    return replace(judgement, trials=trials) if trials else judgement
