"""Sample planning (`gatecrash plan`): before anything is deployed, how many samples
each window, selector and architecture will get, and the strongest form of each
hypothesis those samples can decide.

Expected requests of a selector in a window:
- open loop: the arrivals the rate schedule puts in the window (its integral),
  times the selector's share of the mix;
- closed loop: users / (mean think time + service time), times the share and
  the window's length. The service time is not known before a run: it is an
  assumption (`ASSUMED_SERVICE_MS`) stated in the plan, or measured from a
  previous run's rows (`RequestRates.from_run`), which is better.
Selectors on how a request was served (route, status, ...) cannot be known in
advance; their request side is counted, an upper bound ("at most").

The strongest decidable forms come from the same interval methods as the
verdicts: with 0 failures in n the Wilson bound is the best any run of that
size can show, and a percentile has no upper bound below a sample size.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from dashboards.analysis import RunData, evaluate
from dashboards.capacity_metrics import SAMPLED_SPECS
from dashboards.errors import DashboardsError
from dashboards.estimates import RUN_METRIC_WINDOWS as READ_WINDOWS
from dashboards.intervals import (
    ORDER_STATISTIC,
    Decision,
    IntervalOptions,
    decide,
    method_label,
    proportion,
)
from dashboards.metrics import WINDOW_METRIC_SPECS
from dashboards.rows import REQUEST_COLUMNS, RESPONSE_COLUMNS
from dashboards.sample_sizes import proportion_samples_needed, quantile_bound_min_samples
from gatecrash.capacities import Capacities
from gatecrash.errors import InputError
from gatecrash.experiment import Experiment, HypothesisSpec
from gatecrash.hypothesis import MetricRef
from gatecrash.reasons import number
from loadtests.plans import MixPicker
from loadtests.shapes import ArrivalSchedule, Ramp
from loadtests.spec import Mix
from records.meta import BASELINE, FAULT, RECOVERY

__all__ = ["ASSUMED_SERVICE_MS", "HypothesisPlan", "RequestRates", "SamplePlan",
           "WindowSamples", "plan_samples"]

# Closed loop without a previous run: the time one request takes, think time aside.
# About what the built-in stack answers in on a quiet 2-core machine (p50 10-30 ms).
ASSUMED_SERVICE_MS = 20.0
PROPORTIONS = frozenset({"availability", "failure_rate", "degraded_ratio", "ratio", "loss_rate",
                         "rejected_ratio"})
QUANTILE = re.compile(r"(?:^|_)p(\d\d)_")
# A percentile from here up is, on a few dozen samples, in effect their maximum.
HIGH_PERCENTILE = 0.9
# The window whose requests a run-level metric rests on, by its name in a plan.
RUN_METRIC_WINDOWS = {metric: "+".join(names) for metric, names in READ_WINDOWS.items()}
LOST = RUN_METRIC_WINDOWS["requests_lost"]


@dataclass(frozen=True)
class RequestRates:
    """Requests per second of any request-side selector, for one architecture."""

    source: str
    measured: RunData | None = None
    # The capacity (req/s) a load's shares ("rate: 50%") are taken of, when known.
    capacity_rps: float | None = None

    @classmethod
    def from_run(cls, data: RunData, label: str) -> RequestRates:
        return cls(f"measured in {label}", data)

    def rate(self, experiment: Experiment, selector: Mapping[str, str]) -> float | None:
        """Measured rate of the selector, or None to plan from the load spec."""
        if self.measured is None:
            return None
        data = self.measured
        window = BASELINE if data.trials and BASELINE in data.trials[0] else None
        try:
            return evaluate(data, data.trials, "rate_rps", dict(selector), window)
        except DashboardsError:
            return None


def _share(experiment: Experiment, selector: Mapping[str, str], mix: Mix | None = None) -> float:
    """The share of requests matching the request side of `selector` (mix x endpoints;
    `mix`: a stage's own, else the load's)."""
    load = experiment.load
    picker = MixPicker((mix or load.mix).weights())
    cumulative = [0.0, *picker.cum_weights]
    share = 0.0
    for i, ep in enumerate(picker.endpoints):
        chat = ep.domain == "chat"
        endpoint = ("chat.stream" if load.chat.stream else "chat.complete") if chat else ep.name
        facts = {"domain": ep.domain, "endpoint": endpoint, "method": ep.method,
                 "stream": str(chat and load.chat.stream).lower()}
        wanted = {k: {a.strip().lower() for a in v.split("|")} for k, v in selector.items()
                  if k in facts}
        if all(facts[k].lower() in allowed for k, allowed in wanted.items()):
            share += (cumulative[i + 1] - cumulative[i]) / cumulative[-1]
    return share


def _spans(experiment: Experiment) -> dict[str | None, list[tuple[float, float]]]:
    """Offsets from a trial's start of each window (a list: fault+recovery for losses)."""
    windows = experiment.windows(0.0).spans()
    spans: dict[str | None, list[tuple[float, float]]] = {
        name: [span] for name, span in windows.items()}
    spans[None] = [(0.0, float(experiment.load.duration_s))]
    if FAULT in windows and RECOVERY in windows:
        spans[LOST] = [windows[FAULT], windows[RECOVERY]]
    return spans


def _closed_rate(experiment: Experiment) -> float:
    load = experiment.load
    think = (load.wait_min_s + load.wait_max_s) / 2
    return (load.users or 1) / (think + ASSUMED_SERVICE_MS / 1000)


def expected_requests(experiment: Experiment, selector: Mapping[str, str],
                      window: str | None, rates: RequestRates) -> float:
    """Requests of the request side of `selector` sent in `window`, all trials pooled."""
    request_side = {k: v for k, v in selector.items() if k in REQUEST_COLUMNS}
    spans = _spans(experiment).get(window, [])
    seconds = sum(b - a for a, b in spans)
    # A measured rate is one window's; stages with mixes of their own change it.
    own_mixes = any(stage.mix is not None for stage in experiment.load.stages or ())
    measured = None if own_mixes else rates.rate(experiment, request_side)
    if measured is not None:
        return measured * seconds * experiment.trials
    share = _share(experiment, request_side)
    if experiment.load.mode == "closed":
        return _closed_rate(experiment) * share * seconds * experiment.trials
    load = experiment.load
    if load.relative:
        if rates.capacity_rps is None:
            raise InputError(f"{experiment.name}: its rates are shares of a capacity not "
                             "known on this machine (not measured yet, or below the sweep's "
                             "first step); run `gatecrash capacity` first (same mix)")
        load = load.resolved(rates.capacity_rps)
    ramps = [Ramp(s.duration_s, *s.rates()) for s in load.rate_stages()]
    schedule = ArrivalSchedule(ramps, experiment.load.max_lag_s)
    # Stage by stage: a stage may draw from its own mix.
    arrivals, start = 0.0, 0.0
    for ramp, mix in zip(ramps, load.stage_mixes(), strict=True):
        end = start + ramp.duration_s
        within = sum(schedule.accrued(min(b, end)) - schedule.accrued(max(a, start))
                     for a, b in spans if min(b, end) > max(a, start))
        arrivals += within * _share(experiment, request_side, mix)
        start = end
    return arrivals * experiment.trials


@dataclass(frozen=True)
class HypothesisPlan:
    """One hypothesis against the planned sample sizes."""

    arch: str
    hypothesis: str
    samples: dict[str, float]
    verdict: str
    # False: it cannot hold at this size whatever is measured (run warns).
    decidable: bool = True
    # The planned samples of its one metric, and what deciding it would need (None:
    # enough already, or no size suffices, or not a one-metric bound).
    n: float | None = None
    needed: int | None = None


@dataclass(frozen=True)
class WindowSamples:
    """Expected samples of one selector in one window of one architecture's run."""

    arch: str
    window: str
    selector: str
    n: float
    # The selector names how requests are served (route, ...): n counts its request
    # side, so the sample will be at most that.
    at_most: bool = False

    @property
    def shown(self) -> str:
        return ("<=" if self.at_most else "~") + f"{self.n:,.0f}"


@dataclass
class SamplePlan:
    experiment: str
    assumption: str
    trials: int
    windows: list[WindowSamples] = field(default_factory=list)
    hypotheses: list[HypothesisPlan] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return [f"[{h.arch}] {h.hypothesis}: {h.verdict}" for h in self.hypotheses
                if not h.decidable]


def _ref_window(ref: MetricRef) -> str | None:
    return RUN_METRIC_WINDOWS.get(ref.name, ref.window)


def _quantile_level(metric: str) -> float | None:
    match = QUANTILE.search(metric)
    return int(match.group(1)) / 100 if match else None


def _at_most(ref: MetricRef) -> bool:
    return ref.name != "ratio" and any(k in RESPONSE_COLUMNS for k, _ in ref.selector)


def _ref_n(experiment: Experiment, ref: MetricRef, rates: RequestRates) -> float:
    return expected_requests(experiment, dict(ref.selector), _ref_window(ref), rates)


def _proportion_form(metric: str, n: float, op: str, threshold: float,
                     options: IntervalOptions) -> tuple[str, bool, int | None]:
    """What the best outcome of ~n samples would show, whether the bound can hold, and
    the samples it needs when it cannot (None: none suffices)."""
    whole = max(int(n), 0)
    high = op in (">=", ">")
    best_rate = 1.0 if high else 0.0
    best = proportion(round(best_rate * whole), whole, options.confidence,
                      options.proportion_method)
    shown = f">= {number(best.low)}" if high else f"<= {number(best.high)}"
    failures = {("availability", True), ("failure_rate", False), ("loss_rate", False)}
    if (metric, high) in failures:
        evidence = f"with 0 failures in ~{whole:,}"
    else:
        evidence = f"with {'all' if high else 'none'} of ~{whole:,} matching"
    text = (f"{evidence}, {metric} {shown} is the strongest form decidable "
            f"({method_label(best)})")
    if decide(best, op, threshold) is Decision.HOLDS:
        return f"{text}; {op} {number(threshold)} can hold", True, None
    needed = proportion_samples_needed(best_rate, op, threshold, options.confidence,
                                       options.proportion_method)
    more = f"needs >= {needed:,} samples" if needed else "no sample size suffices"
    return (f"{text}; {op} {number(threshold)} cannot hold at this size ({more})", False,
            needed or None)


def _quantile_form(level: float, n: float, op: str, options: IntervalOptions) -> \
        tuple[str, bool, int | None]:
    upper = op in ("<=", "<")
    least = quantile_bound_min_samples(level, upper, options.confidence) or 0
    side = "upper" if upper else "lower"
    if n >= least:
        return (f"~{int(n):,} samples: enough for a finite {side} bound on it (>= {least:,}); "
                "whether it decides depends on the latencies", True, None)
    return (f"~{int(n):,} samples: a p{level * 100:g} has no {side} bound below {least:,} "
            f"samples ({ORDER_STATISTIC} {options.confidence * 100:g} %): it cannot hold at "
            "this size", False, least)


def _plan_one(experiment: Experiment, arch: str, spec: HypothesisSpec,
              rates: Mapping[str, RequestRates]) -> HypothesisPlan:
    comparison = spec.comparison
    options = experiment.interval_options
    refs = comparison.metrics()
    samples = {str(r): _ref_n(experiment, r, rates[r.arch or arch]) for r in refs}
    label = " vs ".join(spec.across) if spec.across else arch
    text = spec.name or spec.expr
    if len(refs) > 1:
        thin = [str(r) for r in refs if (_quantile_level(r.name) or 0) >= HIGH_PERCENTILE
                and samples[str(r)] < (quantile_bound_min_samples(
                    _quantile_level(r.name) or 0.5, True, options.confidence) or 0)]
        resampled = (all(r.name in WINDOW_METRIC_SPECS for r in refs)
                     or all(r.name in SAMPLED_SPECS for r in refs))
        kind = "bootstrap of the difference" if resampled else "interval arithmetic"
        note = f"judged on left - right by {kind}"
        if thin:
            note += (f"; {', '.join(thin)} rests on so few samples that a high percentile "
                     "is in effect their maximum")
        return HypothesisPlan(label, text, samples, note)
    ref = refs[0]
    n = samples[str(ref)]
    bound = comparison.bound()
    if bound is None:
        return HypothesisPlan(label, text, samples, "decided on the metric's interval")
    _, op, threshold = bound
    needed: int | None = None
    if ref.name in PROPORTIONS:
        verdict, ok, needed = _proportion_form(ref.name, n, op, threshold, options)
        if _at_most(ref):
            verdict += " (n is at most its request side's)"
    elif _quantile_level(ref.name) is not None:
        verdict, ok, needed = _quantile_form(_quantile_level(ref.name) or 0.5, n, op, options)
    elif ref.name.startswith("time_to_"):
        seconds = sum(b - a for a, b in _spans(experiment).get(_ref_window(ref), []))
        spacing = seconds * experiment.trials / n if n else math.inf
        verdict, ok = (f"resolution about {number(spacing)} s (the spacing of ~{int(n):,} "
                       "requests); decides it unless the time is that close to the bound", True)
    elif ref.name == "requests_lost":
        zero = proportion(0, max(int(n), 0), options.confidence, options.proportion_method)
        verdict, ok = (f"an exact count, always decidable; 0 lost of ~{int(n):,} would show a "
                       f"loss rate <= {number(zero.high)} ({method_label(zero)}): state a "
                       "loss_rate bound to claim more than this run", True)
    else:
        verdict, ok = "an exact count or rate of the run: always decidable", True
    return HypothesisPlan(label, text, samples, verdict, ok, n, needed)


def plan_samples(experiment: Experiment, archs: list[str],
                 rates: Mapping[str, RequestRates] | None = None) -> SamplePlan:
    """The plan of one experiment on `archs` (rates per arch: default from the load spec)."""
    rates = dict(rates or {})
    known = Capacities(measure=False)
    for arch in ("single", "dual"):
        rates.setdefault(arch, RequestRates(
            "the load spec", capacity_rps=known.known(experiment, experiment.capacity_of or arch)))
    load = experiment.load
    if load.mode == "closed":
        assumption = (f"closed loop: {load.users} users, think {load.wait_min_s:g}-"
                      f"{load.wait_max_s:g} s, an assumed {ASSUMED_SERVICE_MS:g} ms per "
                      f"request -> ~{_closed_rate(experiment):.0f} req/s")
    else:
        assumption = "open loop: the rate schedule x window x mix share"
    measured = sorted({r.source for r in rates.values() if r.measured is not None})
    if measured:
        assumption = "rates " + ", ".join(measured)
    plan = SamplePlan(experiment.name, assumption, experiment.trials)
    seen: set[tuple[str, str, str]] = set()
    for spec in experiment.hypotheses:
        targets = [a for a in archs if spec.applies_to(a)]  # type: ignore[arg-type]
        if spec.across:
            targets = [spec.across[0]] if all(a in archs for a in spec.across) else []
        for arch in targets:
            for ref in spec.comparison.metrics():
                ref_arch = ref.arch or arch
                window = _ref_window(ref) or "run"
                selector = ",".join(f"{k}={v}" for k, v in ref.selector) or "all"
                key = (ref_arch, window, selector)
                if key not in seen:
                    seen.add(key)
                    plan.windows.append(WindowSamples(
                        *key, _ref_n(experiment, ref, rates[ref_arch]), _at_most(ref)))
            plan.hypotheses.append(_plan_one(experiment, arch, spec, rates))
    order = [BASELINE, FAULT, RECOVERY, LOST, "run"]
    plan.windows.sort(key=lambda w: (w.arch != "single", order.index(w.window)
                                     if w.window in order else len(order), w.selector))
    return plan

