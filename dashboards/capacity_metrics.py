"""The metrics a run's rows alone cannot give, as the verdict engine asks for them:
`capacity_rps` (a sweep's knee, from capacity.json and the rows) and the resource
metrics `cpu_ms_per_request` and `rss_mb` (from the CPU sampler's samples, over a
window of each trial).

    capacity_rps[dual] >= capacity_rps[single]
    cpu_ms_per_request{component=gateway-business}@baseline[dual] <=
        cpu_ms_per_request{component=gateway}@baseline[single]
    rss_mb{component=router|gateway-identity|gateway-business}@baseline[dual] >= ...

They are registered in `dashboards.analysis`, so they parse in hypotheses,
validate in experiment files and are judged like the rest. A comparison of
resource metrics only (dual's cost against single's) is judged by a bootstrap
of its difference (`resampled_resources`): the 1-s samples of each
(architecture, window) are drawn again independently of the other's, and the
components of one run share their draws (the same seconds), as rows do in
`dashboards.resampling`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from dashboards.errors import DashboardsError, SelectorError
from dashboards.estimates import RunData
from dashboards.intervals import Estimate, IntervalOptions, bootstrap_estimate
from dashboards.metrics import MetricSpec
from dashboards.resampling import ResampledRef
from dashboards.resources import COMPONENT_KEY, ResourceSeconds, cpu_ms_per_request, rss_mb
from dashboards.rows import Selector
from dashboards.sample_sizes import Measurement
from dashboards.sweep import capacity_estimate
from dashboards.windows import get_window, rows_span

__all__ = [
    "CAPACITY_RPS",
    "SAMPLED_ESTIMATORS",
    "SAMPLED_SPECS",
    "SampledEstimator",
    "capacity_rps_estimate",
    "resampled_resources",
]

SampledEstimator = Callable[[RunData, Selector, "str | None", IntervalOptions], Measurement]

# A sweep's bootstrap covers the noise within it, not the spread between sweeps,
# and a knee judged in a hypothesis stands for the stack, not for one sweep of it.
# On a shared 2-core host, sweeps of one stack minutes apart found knees up to two
# steps apart (single 360-480, dual 300-420 req/s in four quick suites; the load
# generator, doing the same work on both, used up to 1.47 times the CPU per
# request during one sweep as during the other: the host's speed drifts). Each
# knee's interval is widened by this many steps on both sides for that spread,
# which one sweep cannot measure; without it, one sweep each decided "dual's knee >=
# single's" three ways (fails, inconclusive, holds) on the same commit.
BETWEEN_SWEEPS_STEPS = 1

CAPACITY_RPS = MetricSpec(
    "capacity_rps",
    "the knee of a capacity sweep (load mode: sweep): the highest step rate whose p95 "
    "(corrected) and availability met the SLO before two failing steps; interval: a "
    "bootstrap of each step's requests with the knee rule re-applied, plus one step, "
    "widened by one step on both sides for the spread between sweeps",
    "req/s",
    "run",
)
SAMPLED_SPECS = {
    "cpu_ms_per_request": MetricSpec(
        "cpu_ms_per_request",
        "CPU time (ms) of {component=...} (services, toxiproxy, generator; several with |; "
        "none: the architecture's own instances) per answered request sent in the window; "
        "interval: a bootstrap over the 1-s CPU samples",
        "ms",
        "window",
    ),
    "rss_mb": MetricSpec(
        "rss_mb",
        "mean resident memory (MiB) of {component=...} in the window (as "
        "cpu_ms_per_request); interval: a bootstrap over the 1-s samples",
        "MiB",
        "window",
    ),
}


def capacity_rps_estimate(data: RunData, selector: Selector,
                          options: IntervalOptions) -> Measurement:
    if selector:
        raise SelectorError("capacity_rps takes no selector: it is the whole sweep's knee")
    if data.capacity is None:
        raise DashboardsError("capacity_rps: this run is not a capacity sweep (give the "
                              "experiment load: {mode: sweep, sweep: {...}})")
    within = capacity_estimate(data.rows, data.capacity, options.confidence)
    allowance = BETWEEN_SWEEPS_STEPS * data.capacity.step_rps
    estimate = replace(within, low=max(within.low - allowance, 0.0),
                       high=within.high + allowance)
    return Measurement(estimate, note=(
        f"knee {data.capacity.knee_rps} req/s, [{within.low:g}, {within.high:g}] within its "
        f"sweep, ± {allowance:g} req/s for the spread between sweeps; {data.capacity.ended}"))


def _component(metric: str, selector: Selector) -> str | None:
    extra = [k for k in selector if k != COMPONENT_KEY]
    if extra:
        raise SelectorError(f"{metric} takes {{{COMPONENT_KEY}=...}} only, not {extra[0]!r}")
    return selector.get(COMPONENT_KEY)


def _spans(data: RunData, window: str | None) -> list[tuple[float, float]]:
    if window is None:
        whole = rows_span(data.rows)
        return [(whole.start, whole.end)]
    return [(w.start, w.end) for w in (get_window(trial, window) for trial in data.trials)]


def _cpu_ms(data: RunData, selector: Selector, window: str | None,
            options: IntervalOptions) -> Measurement:
    estimate: Estimate = cpu_ms_per_request(
        data.cpu, data.rows, _spans(data, window), _component("cpu_ms_per_request", selector),
        options.confidence)
    return Measurement(estimate)


def _rss(data: RunData, selector: Selector, window: str | None,
         options: IntervalOptions) -> Measurement:
    return Measurement(rss_mb(data.cpu, _spans(data, window), _component("rss_mb", selector),
                              options.confidence))


SAMPLED_ESTIMATORS: dict[str, SampledEstimator] = {"cpu_ms_per_request": _cpu_ms,
                                                   "rss_mb": _rss}


def resampled_resources(
    runs: Mapping[str, RunData],
    refs: Sequence[ResampledRef],
    expression: Callable[[Mapping[ResampledRef, float]], float],
    options: IntervalOptions,
) -> tuple[Estimate, dict[ResampledRef, int]]:
    """`expression(values of refs)` for resource metrics only, with its bootstrap
    interval, and each ref's n (its 1-s samples); as `resampled_estimate` for rows."""
    keys = sorted({(r.arch, r.window) for r in refs}, key=lambda k: (k[0], k[1] or ""))
    where = {key: i for i, key in enumerate(keys)}
    seconds = {}
    for ref in refs:
        data = runs[ref.arch]
        selector = dict(ref.selector)
        seconds[ref] = ResourceSeconds.of(data.cpu, data.rows, _spans(data, ref.window),
                                          _component(ref.metric, selector))
    # Every component of one run and window has the same samples (the same seconds).
    sizes = [next(seconds[r].seconds for r in refs if (r.arch, r.window) == key)
             for key in keys]

    def statistic(*indices: np.ndarray) -> float:
        values = {}
        for ref in refs:
            index = indices[where[(ref.arch, ref.window)]]
            got = seconds[ref]
            values[ref] = (got.per_request(index) if ref.metric == "cpu_ms_per_request"
                           else got.mean_rss(index))
        return float(expression(values))

    estimate = bootstrap_estimate([np.arange(n) for n in sizes], statistic, options.confidence)
    return estimate, {ref: seconds[ref].seconds for ref in refs}
